"""Each wizard step widget on its own, in a small app: given a draft ("attributes down"), it
validates what is typed or picked and posts its done-message only for a valid answer
("messages up"), showing the reason for a bad one. The wizard screen is not involved."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static, TextArea

import alpaca_tui.tui
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.tui.dialogs.wizard import Draft
from alpaca_tui.tui.dialogs.wizard.access import AccessStep
from alpaca_tui.tui.dialogs.wizard.choice_steps import EnvStep, FlowStep
from alpaca_tui.tui.dialogs.wizard.expiry import ExpiryStep
from alpaca_tui.tui.dialogs.wizard.identifiers import IdentifiersStep
from alpaca_tui.tui.dialogs.wizard.review import ReviewStep
from alpaca_tui.tui.session import Session
from alpaca_tui.tui.typeahead import FIELD_BINDINGS, TypeAheadFields
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix
from tests.tui.conftest import screen_text, wait_for

KEY_ID = "PKSTEPTEST0000000001"
SECRET = "step-secret-value-0123456789abcdefghijkl"
DONE = (EnvStep.Chosen, FlowStep.Chosen, IdentifiersStep.Entered, ExpiryStep.Chosen, AccessStep.Chosen,
        ReviewStep.Confirmed)


class StepScreen(TypeAheadFields, Screen[None]):
    """Just the step, with the typed-ahead field bindings the wizard screen gives it."""

    BINDINGS: ClassVar[list[BindingType]] = [*FIELD_BINDINGS]
    FIELD_IDS = IdentifiersStep.FIELD_IDS

    def __init__(self, step: Widget) -> None:
        super().__init__()
        self.step = step

    def compose(self) -> ComposeResult:
        yield self.step

    def on_field_enter(self, field: Input) -> None:
        assert isinstance(self.step, IdentifiersStep)
        self.step.field_enter(field)


class StepApp(App[None]):
    """Mounts one step and records every done-message that bubbles up to it."""

    CSS_PATH = str(Path(alpaca_tui.tui.__file__).parent / "app.tcss")

    def __init__(self, step: Widget) -> None:
        super().__init__()
        self.step = step
        self.posted: list[Message] = []

    def get_default_screen(self) -> Screen[Any]:
        return StepScreen(self.step)

    @on(EnvStep.Chosen)
    @on(FlowStep.Chosen)
    @on(IdentifiersStep.Entered)
    @on(ExpiryStep.Chosen)
    @on(AccessStep.Chosen)
    @on(ReviewStep.Confirmed)
    def _record(self, message: Message) -> None:
        assert isinstance(message, DONE)
        self.posted.append(message)


def session(clock: FakeClock, *names: str, demo: Any = None) -> Session:
    profiles = [Profile(n, Env.PAPER, Flow.LEGACY, "PKxx…0001") for n in names]
    return Session(clock=clock, demo=demo, profiles=profiles, profiles_loaded=True)


def burst(app: App[Any], keys: list[str]) -> None:
    """Queue every key at once, without letting the app run in between (unlike pilot.press)."""
    for key in keys:
        event = events.Key(key, "\r" if key == "enter" else key)
        event.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(event)


def label(step: Widget, selector: str) -> str:
    return str(step.query_one(selector, Label).render())


async def test_env_step_posts_the_environment_picked(clock: FakeClock) -> None:
    step = EnvStep(id="step-env")
    app = StepApp(step)
    async with app.run_test(size=(80, 24)) as pilot:
        step.highlight(Env.BROKER_SANDBOX)
        step.enter(Draft())
        await pilot.pause()
        assert step.query_one("#env-list", OptionList).has_focus
        await pilot.press("up", "up")  # moving through the list is no answer yet
        assert app.posted == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Chosen")
        assert isinstance(app.posted[0], EnvStep.Chosen) and app.posted[0].env is Env.PAPER
        step.submit()  # ctrl+n / Next: the highlighted one
        await wait_for(pilot, lambda: len(app.posted) == 2, what="second Chosen")
        assert isinstance(app.posted[1], EnvStep.Chosen) and app.posted[1].env is Env.PAPER


async def test_flow_step_offers_only_what_the_environment_allows(clock: FakeClock) -> None:
    step = FlowStep(id="step-flow")
    app = StepApp(step)
    async with app.run_test(size=(80, 24)) as pilot:
        step.enter(Draft(env=Env.PAPER))
        await pilot.pause()
        flows = step.query_one("#flow-list", OptionList)
        assert flows.option_count == 1 and "broker-only" in screen_text(app)
        await pilot.press("down", "enter")  # nothing below key + secret: still key + secret
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Chosen")
        assert isinstance(app.posted[0], FlowStep.Chosen) and app.posted[0].flow is Flow.LEGACY
        step.enter(Draft(env=Env.BROKER_SANDBOX, flow=Flow.PRIVATE_KEY_JWT))  # back here later
        await pilot.pause()
        assert flows.option_count == 3 and flows.highlighted == 2  # the draft's flow is kept
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: len(app.posted) == 2, what="second Chosen")
        assert isinstance(app.posted[1], FlowStep.Chosen) and app.posted[1].flow is Flow.CLIENT_SECRET


async def test_identifiers_step_validates_then_posts_typed_ahead_values(clock: FakeClock) -> None:
    step = IdentifiersStep(session(clock, "paper-key", "taken"), id="step-ids")
    app = StepApp(step)
    async with app.run_test(size=(80, 24)) as pilot:
        step.enter(Draft(env=Env.PAPER, flow=Flow.LEGACY))
        await pilot.pause()
        name = step.query_one("#name", Input)
        assert name.has_focus and name.value == "paper-key-2"  # suggested, not taken
        for value, error in [("bad name!", "invalid profile name"), ("taken", "already exists")]:
            name.value = value
            step.submit()
            await pilot.pause()
            assert error in label(step, "#ids-error")
        name.value = "new"
        step.submit()
        await pilot.pause()
        assert "key ID is empty" in label(step, "#ids-error")
        assert app.posted == []
        # one burst (one read: a paste, a fast typist over SSH): each value lands in its own field
        name.value = ""
        burst(app, [*"bot", "enter", *KEY_ID, "enter", *SECRET, "enter"])
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Entered")
        done = app.posted[0]
        assert isinstance(done, IdentifiersStep.Entered)
        assert (done.name, done.key_id, done.secret) == ("bot", KEY_ID, SECRET)
        assert SECRET not in repr(done) and label(step, "#ids-error") == ""
        assert step.query_one("#key-id", Input).value == KEY_ID
        assert SECRET not in screen_text(app)  # masked


async def test_identifiers_step_private_key_jwt_needs_a_key_pair(clock: FakeClock) -> None:
    step = IdentifiersStep(session(clock), id="step-ids")
    app = StepApp(step)
    async with app.run_test(size=(100, 30)) as pilot:
        step.enter(Draft(env=Env.BROKER_SANDBOX, flow=Flow.PRIVATE_KEY_JWT))
        await pilot.pause()
        assert not step.query_one("#secret-box").display and step.query_one("#keypair-box").display
        step.query_one("#key-id", Input).value = "CKJWTSTEP00000000000001"
        step.submit()
        await pilot.pause()
        assert "generate a key pair first" in label(step, "#ids-error") and app.posted == []
        step.generate()
        await wait_for(pilot, lambda: step.keypair is not None, what="key pair")
        assert step.query_one("#public-key", TextArea).text.startswith("-----BEGIN PUBLIC KEY-----")
        step.submit()
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Entered")
        done = app.posted[0]
        assert isinstance(done, IdentifiersStep.Entered)
        assert done.key_id == "CKJWTSTEP00000000000001" and done.secret is None


async def test_identifiers_step_in_demo_mode_asks_only_for_the_name(clock: FakeClock, emulator: Any) -> None:
    step = IdentifiersStep(session(clock, demo=emulator), id="step-ids")
    app = StepApp(step)
    async with app.run_test(size=(80, 24)) as pilot:
        step.enter(Draft(env=Env.PAPER, flow=Flow.LEGACY))
        await pilot.pause()
        assert not step.query_one("#ids-manual").display
        assert "emulator issues" in str(step.query_one("#ids-demo", Static).render())
        await pilot.press("enter")  # the suggested name, and nothing secret to type
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Entered")
        done = app.posted[0]
        assert isinstance(done, IdentifiersStep.Entered)
        assert (done.name, done.key_id, done.secret) == ("paper-key", None, None)


async def test_expiry_step_rejects_bad_dates_and_posts_a_good_one(clock: FakeClock) -> None:
    step = ExpiryStep(session(clock), id="step-expiry")
    app = StepApp(step)
    async with app.run_test(size=(80, 24)) as pilot:
        step.enter(Draft())
        await pilot.pause()
        date = step.query_one("#expiry-date", Input)
        assert not date.display
        step.pick("custom")
        await pilot.pause()
        assert date.display and date.has_focus and app.posted == []
        for typed, error in [("", "enter a date as YYYY-MM-DD"), ("2027-02-30", "no such day"),
                             ("2020-01-01", "in the past")]:
            date.value = ""
            await pilot.press(*typed, "enter")
            assert error in label(step, "#expiry-error"), typed
        assert app.posted == []
        assert step.back() and not date.display and label(step, "#expiry-error") == ""
        assert not step.back()  # nothing left to close: the wizard goes back a step
        step.pick("custom")
        await pilot.press(*"2027-06-30", "enter")
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Chosen")
        done = app.posted[0]
        assert isinstance(done, ExpiryStep.Chosen) and done.spec == "2027-06-30"
        assert done.expires_at is not None and done.expires_at.date().isoformat() == "2027-06-30"
        step.back()
        await pilot.press("down", "enter")  # 1 week from the (fake) clock
        await wait_for(pilot, lambda: len(app.posted) == 2, what="preset")
        done = app.posted[1]
        assert isinstance(done, ExpiryStep.Chosen) and done.spec == "1w"
        assert done.expires_at == clock.now() + timedelta(days=7)


async def test_access_step_posts_the_matrix_only_when_chosen(clock: FakeClock) -> None:
    step = AccessStep(id="step-access")
    app = StepApp(step)
    async with app.run_test(size=(100, 30)) as pilot:
        step.enter(Draft(env=Env.BROKER_SANDBOX))
        await pilot.pause()
        presets = step.query_one("#access-list", OptionList)
        assert presets.has_focus and presets.highlighted == 0  # read only to start with
        await pilot.press("down", "down", "enter")  # Custom: edit the matrix, no answer yet
        matrix = step.query_one("#matrix", ScopeMatrix)
        assert matrix.has_focus and app.posted == []
        await pilot.press("down", "left", "space")  # Funding: read-write
        assert matrix.access.level(Scope.FUNDING) is Level.RW and app.posted == []
        assert "write access to Funding" in screen_text(app)
        step.submit()
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Chosen")
        done = app.posted[0]
        assert isinstance(done, AccessStep.Chosen) and done.access.level(Scope.FUNDING) is Level.RW
        step.enter(Draft(env=Env.BROKER_SANDBOX))  # back again: the edits are kept
        await pilot.pause()
        assert presets.highlighted == 2 and matrix.access.level(Scope.FUNDING) is Level.RW
        step.reset()  # another environment was picked meanwhile
        step.enter(Draft(env=Env.BROKER_LIVE))
        await pilot.pause()
        assert matrix.access == AccessMatrix.read_only() and presets.highlighted == 0
        await pilot.press("down", "enter")  # Full access
        await wait_for(pilot, lambda: len(app.posted) == 2, what="preset")
        done = app.posted[1]
        assert isinstance(done, AccessStep.Chosen) and done.access == AccessMatrix.full()


async def test_review_step_shows_the_draft_masked_and_confirms(clock: FakeClock) -> None:
    step = ReviewStep(session(clock), id="step-review")
    app = StepApp(step)
    draft = Draft(env=Env.BROKER_SANDBOX, flow=Flow.CLIENT_SECRET, name="sandbox-new", key_id=KEY_ID,
                  secret=SECRET, access=AccessMatrix.read_only().with_level(Scope.JOURNALING, Level.RW))
    async with app.run_test(size=(100, 30)) as pilot:
        step.enter(draft)
        await pilot.pause()
        text = screen_text(app)
        assert "sandbox-new" in text and "PKST…0001" in text
        assert SECRET not in text and KEY_ID not in text and SECRET not in repr(draft)
        assert "write access to Journaling" in text  # the warning, in red
        assert "Secret store" in text and "secret store: opening" in text  # no store in this session
        assert app.posted == []
        step.submit()
        await wait_for(pilot, lambda: len(app.posted) == 1, what="Confirmed")
        assert isinstance(app.posted[0], ReviewStep.Confirmed)
        step.set_status("saving…")
        await pilot.pause()
        assert "saving…" in screen_text(app)
