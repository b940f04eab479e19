"""Steps 1 and 2: the environment, then the flow it allows (each a pick from a list)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.tui.dialogs.wizard.draft import Draft
from alpaca_tui.tui.format import ENV_ORDER
from alpaca_tui.tui.widgets import focus_now
from alpaca_tui.tui.widgets.lists import NavOptionList

# What Alpaca recommends for Broker API credentials: OAuth2 client credentials with a client secret.
RECOMMENDED_FLOW = Flow.CLIENT_SECRET


class EnvStep(Vertical):
    """Which environment: live ones are marked (real money). enter or ctrl+n picks."""

    @dataclass(eq=False)
    class Chosen(Message):
        env: Env

    def compose(self) -> ComposeResult:
        yield Static("Which environment does this credential belong to? Live and paper "
                     "credentials never cross.", classes="hint")
        yield NavOptionList(*[Option(Text(e.label + ("  ⚠ real money" if e.is_live else ""),
                                       style="bold orange1" if e.is_live else ""), id=e.value)
                           for e in ENV_ORDER], id="env-list")

    def highlight(self, env: Env) -> None:
        """Preselect ``env`` (the wizard was opened from that environment's rows)."""
        self.query_one("#env-list", OptionList).highlighted = ENV_ORDER.index(env)

    def enter(self, draft: Draft) -> None:
        focus_now(self.query_one("#env-list", OptionList))

    def submit(self) -> None:
        highlighted = self.query_one("#env-list", OptionList).highlighted
        if highlighted is not None:
            self.post_message(self.Chosen(ENV_ORDER[highlighted]))

    def back(self) -> bool:
        return False

    @on(OptionList.OptionSelected, "#env-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(Env(event.option.id or "paper")))


class FlowStep(Vertical):
    """How it authenticates: broker environments offer OAuth; trading ones key + secret only."""

    @dataclass(eq=False)
    class Chosen(Message):
        flow: Flow

    def compose(self) -> ComposeResult:
        yield Static("", id="flow-hint", classes="hint")
        yield NavOptionList(id="flow-list")

    def enter(self, draft: Draft) -> None:
        env = draft.env
        assert env is not None
        flows = [Flow.LEGACY, Flow.CLIENT_SECRET, Flow.PRIVATE_KEY_JWT] if env.is_broker else [Flow.LEGACY]
        hint = ("Broker credentials: OAuth client secret (recommended by Alpaca, preselected), "
                "private key JWT, or legacy key + secret." if env.is_broker else
                f"{env.label} uses a key ID + secret (OAuth client credentials are broker-only).")
        self.query_one("#flow-hint", Static).update(hint)
        fl = self.query_one("#flow-list", OptionList)
        fl.clear_options()
        fl.add_options([Option(f.label, id=f.value) for f in flows])
        if draft.flow in flows:
            fl.highlighted = flows.index(draft.flow)
        else:
            fl.highlighted = flows.index(RECOMMENDED_FLOW if env.is_broker else Flow.LEGACY)
        focus_now(fl)

    def submit(self) -> None:
        fl = self.query_one("#flow-list", OptionList)
        if fl.highlighted is not None:
            option = fl.get_option_at_index(fl.highlighted)
            self.post_message(self.Chosen(Flow(option.id or "legacy")))

    def back(self) -> bool:
        return False

    @on(OptionList.OptionSelected, "#flow-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(Flow(event.option.id or "legacy")))


__all__ = ["EnvStep", "FlowStep"]
