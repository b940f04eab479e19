"""The TUI against a hostile server on 127.0.0.1 (``tests/hostile.py``), with Pilot.

What a server says (bodies, headers, request IDs, error messages, token errors) and what the
index holds are shown as data: no raw control character in any rendered line or in the
screenshot, markup shown literally (never a link), an endless body shown truncated, every
notification plain (issue 12, items 1 and 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.sanitize import UNSAFE
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.safe import VIEW_LIMIT
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.screens.tester import TesterScreen
from tests.hostile import HostileServer
from tests.tui.conftest import screen_text, wait_for

SECRET = "Hostile-Secret-0123456789abcdefghijklmn"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as h:
        yield h


def add(store: Any, h: HostileServer, name: str, *, oauth: bool = False, **fields: Any) -> None:
    mode = name.split("-", 1)[1]
    if oauth:
        profile = Profile(name, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKHO…0001",
                          endpoints={Api.AUTH: h.url(mode), Api.BROKER: h.url("ok"), Api.DATA: h.url("ok")},
                          **fields)
        store.add_profile(profile, SecretBundle(Secret("CKHOSTILE000000000000001", SECRET)))
    else:
        profile = Profile(name, Env.PAPER, Flow.LEGACY, "PKHO…0001",
                          endpoints={Api.TRADING: h.url(mode), Api.DATA: h.url(mode)}, **fields)
        store.add_profile(profile, SecretBundle(Secret("PKHOSTILE00000000001", SECRET)))


def raw(text: str) -> list[str]:
    return [repr(c) for c in text if ord(c) in UNSAFE]


def assert_inert(app: AlpacaTuiApp) -> str:
    """The screen as rendered, and the screenshot exported from it: nothing a terminal obeys."""
    text = screen_text(app)
    assert not raw(text), raw(text)[:10]
    svg = app.export_screenshot()
    assert not raw(svg), raw(svg)[:10]
    assert 'href="https://evil.example' not in svg               # no markup became a link
    assert SECRET not in text and SECRET not in svg
    return text


async def send(pilot: Any, app: AlpacaTuiApp, name: str, path: str) -> TesterScreen:
    await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
    app.open_tester(name)
    await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="tester")
    tester = app.screen
    assert isinstance(tester, TesterScreen)
    tester.query_one("#path", Input).value = path
    before = len(app.request_history)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: len(app.request_history) > before, what="answer", timeout=20)
    return tester


async def test_tester_shows_escapes_and_markup_as_text(store: Any, clock: FakeClock,
                                                       hostile: HostileServer) -> None:
    add(store, hostile, "p-escape-ok")
    app = AlpacaTuiApp(store=store, clock=clock, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        tester = await send(pilot, app, "p-escape-ok", "/text")
        rec = app.request_history[-1]
        assert rec.status == 200 and "\x1b" in rec.text        # the data is kept as it came...
        text = assert_inert(app)                               # ...and shown inert
        assert "\\x1b]52;c;Y3Vy" in text and "\\u202eevil" in text
        assert "[link=https://evil.example]click[/link]" in text   # markup shown, not applied
        headers = tester.query_one("#resp-headers", DataTable)
        cells = [str(headers.get_row_at(i)[1]) for i in range(headers.row_count)]
        assert any("\\x9b31m" in c for c in cells) and not any(raw(c) for c in cells)
        assert "\\x9b31m" in str(tester.query_one("#resp-status", Static).render())  # request ID
        # a JSON answer: pretty-printed with the unsafe characters JSON-escaped
        await send(pilot, app, "p-escape-ok", "/v2/account")
        text = assert_inert(app)
        assert "\\u001b]52;c;" in text and "\\u009b31m" in text


def body_text(app: AlpacaTuiApp) -> str:
    return str(app.screen.query_one("#resp-body", Static).render())


async def test_an_endless_answer_is_a_truncated_view(store: Any, clock: FakeClock,
                                                     hostile: HostileServer) -> None:
    add(store, hostile, "p-endless")
    app = AlpacaTuiApp(store=store, clock=clock, offer_demo=False, engine_options={"max_body": 512 * 1024})
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, app, "p-endless", "/v2/account")
        rec = app.request_history[-1]
        assert rec.status == 200 and rec.truncated and len(rec.text) <= VIEW_LIMIT + 1
        text = assert_inert(app)
        assert "⚠ 200 OK · truncated: larger than the body cap" in text
        assert "larger than 512 KiB" in str(app.screen.query_one("#resp-status", Static).render())
        assert "truncated: the answer is larger than the body cap" in body_text(app)


async def test_a_long_answer_shows_its_start(store: Any, clock: FakeClock, hostile: HostileServer) -> None:
    """Under the cap (4 MiB of [{},...]) but long: the view shows its start; the history keeps
    neither the whole text nor a parsed copy."""
    add(store, hostile, "p-jsonbomb")
    app = AlpacaTuiApp(store=store, clock=clock, offer_demo=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, app, "p-jsonbomb", "/v2/account")
        rec = app.request_history[-1]
        assert rec.status == 200 and not rec.truncated and rec.json is None
        assert len(rec.text) <= VIEW_LIMIT + 1 and "more characters not shown" in body_text(app)
        assert_inert(app)


async def test_a_hostile_check_is_shown_inert_in_notices_details_and_home(
        store: Any, clock: FakeClock, hostile: HostileServer) -> None:
    add(store, hostile, "p-escape")
    add(store, hostile, "b-escape", oauth=True)
    app = AlpacaTuiApp(store=store, clock=clock, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
        for name in ("p-escape", "b-escape"):
            app.run_check(name)
            await wait_for(pilot, lambda n=name: n in app.session.check_results, what=f"check {name}",
                           timeout=20)
        await wait_for(pilot, lambda: all(p.last_check_error for p in app.profiles), what="recorded")
        notes = list(app._notifications)
        assert notes and all(not n.markup and not raw(n.message) and not raw(n.title) for n in notes)
        assert any("\\x1b]52;c;" in n.message for n in notes)
        assert_inert(app)                                            # home: the summary line
        app.open_details("b-escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        await pilot.pause(0.2)
        text = assert_inert(app)
        assert "\\x1b]52;c;" in text                                # the stored error, escaped


async def test_index_fields_with_markup_and_escapes(store: Any, clock: FakeClock,
                                                    hostile: HostileServer) -> None:
    """Fields of the index are data too: a key ID or note with markup or escapes (a hand-edited
    or older file) is shown literally everywhere, and never breaks a screen."""
    add(store, hostile, "p-ok", note="[/] \x1b]0;pwned\x07 [link=https://evil.example]x[/link]")
    store.update_profile("p-ok", key_id_masked="[b]PK[/b]\x9b…", last_check_ok=False,
                         last_check_error="trading: [/] \x1b[2J", last_verified_at=clock.now())
    app = AlpacaTuiApp(store=store, clock=clock, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.profiles_loaded and app.engine is not None, what="profiles")
        await pilot.pause(0.2)
        text = assert_inert(app)
        assert "[b]PK[/b]" in text, text                   # the list cell: literal, not bold PK
        app.open_details("p-ok")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        await pilot.pause(0.2)
        text = assert_inert(app)
        assert "[link=https://evil.example]x[/link]" in text and "\\x1b]0;pwned\\x07" in text
        app.request_delete("p-ok")                                 # the confirmation quotes the key ID
        await pilot.pause(0.3)
        assert "[b]PK[/b]\\x9b" in assert_inert(app)
