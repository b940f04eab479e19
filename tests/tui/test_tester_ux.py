"""The request tester as a Posting user expects it (issue 15): history restores the request it
recorded, cURL placeholders are the variables ``alpaca-tui exec`` sets (the copied line runs
as it is), the response can take the whole screen, notices never overwrite the status line,
and a key jumps between the form and the response."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from textual.widgets import Input, Select, Static, TabbedContent

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.messages import RequestRecord
from tests.conftest import subprocess_env
from tests.tui.conftest import wait_for
from tests.tui.test_tester import open_tester


def record(profile: str, path: str, status: int = 200) -> RequestRecord:
    return RequestRecord(profile=profile, api="trading", method="GET", path=path, params={"limit": "2"},
                         status=status, latency_ms=3.0, headers={"x-request-id": "rid-1"}, json={"ok": True},
                         request_id="rid-1", sent_at=0.0)


async def test_history_entry_of_another_credential_restores_its_path(seeded: Any, clock: FakeClock) -> None:
    store, _emu, _ = seeded
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        app.request_history.append(record("live", "/v2/positions"))
        tester = await open_tester(pilot, "paper")
        assert tester.query_one("#path", Input).value == "/v2/account"
        await pilot.press("ctrl+l")  # history tab, focused
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert tester.query_one("#cred", Select).value == "live"
        assert tester.query_one("#path", Input).value == "/v2/positions"
        assert tester.query_one("#query", Input).value == "limit=2"
        assert tester.query_one("#resp-tabs", TabbedContent).active == "tab-body"


async def test_copied_curl_runs_under_exec_as_it_is(seeded: Any, clock: FakeClock) -> None:
    """The placeholders are the names ``alpaca-tui exec NAME`` sets: the copied line, run by a
    shell under exec, gets 200 from the emulator (key + secret and OAuth alike)."""
    store, _emu, _ = seeded
    app = AlpacaTuiApp(store=store, clock=clock)
    lines: dict[str, str] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        for name in ("paper", "broker-sandbox-key", "broker-sandbox-oauth"):
            tester = await open_tester(pilot, name)
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: app.clipboard.startswith("curl "), what="copied")
            lines[name] = app.clipboard
            app.copy_to_clipboard("")
            # the status line keeps what it said; the notice is a toast
            assert "copied" not in str(tester.query_one("#resp-status", Static).render())
            assert "copied cURL" in str(tester.query_one("#tester-notice", Static).render())
            await pilot.press("escape")
    for name, line in lines.items():
        assert "$ALPACA_KEY_ID" not in line and "$ALPACA_SECRET" not in line, line
        res = subprocess.run([sys.executable, "-m", "alpaca_tui", "exec", name, "--", "sh", "-c",
                              line + " -o /dev/null -w '%{http_code}'"],
                             capture_output=True, text=True, env=subprocess_env(), timeout=60)
        assert res.returncode == 0 and res.stdout.strip() == "200", (name, line, res.stdout, res.stderr)


async def test_response_maximizes_and_panes_are_one_key_apart(seeded: Any, clock: FakeClock) -> None:
    store, _emu, _ = seeded
    app = AlpacaTuiApp(store=store, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        tester = await open_tester(pilot, "paper")
        tester.show_record(record("paper", "/v2/account"))
        body = tester.query_one("#resp-tabs", TabbedContent)
        before = body.size.height
        await pilot.press("ctrl+f")  # the response takes the screen
        await pilot.pause()
        assert body.size.height >= before + 8, (before, body.size.height)
        assert not any(row.display for row in tester.query(".tester-field"))  # the form is hidden
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert body.size.height == before and all(row.display for row in tester.query(".tester-field"))
        # F6 / shift+F6: form → body → response → form
        assert tester.query_one("#path", Input).has_focus
        await pilot.press("f6")
        assert tester.focused is not None and tester.focused.id == "body"
        await pilot.press("f6")
        assert tester.focused is not None and body in tester.focused.ancestors_with_self
        await pilot.press("f6")
        assert tester.focused is not None and tester.focused.id == "cred"
        await pilot.press("shift+f6")
        assert tester.focused is not None and body in tester.focused.ancestors_with_self

