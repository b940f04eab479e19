"""Request tester against the real emulator: send, preflight warning, live-write confirmation,
history and cURL export with secrets redacted."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, Select, TextArea

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
from alpaca_tui.tui.screens.tester import TesterScreen
from tests.tui.conftest import screen_text, wait_for


async def open_tester(pilot: Any, name: str) -> TesterScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
    app.open_tester(name)
    await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="tester")
    return app.screen


def history(app: AlpacaTuiApp) -> list[Any]:
    return list(app.request_history)


async def test_get_account_returns_200_with_rate_limit_headers(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    secret = store.load_bundle("paper").active.secret
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "paper")
        assert tester.query_one("#cred", Select).value == "paper"
        assert tester.query_one("#path", Input).value == "/v2/account"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="response")
        rec = history(app)[0]
        assert rec.status == 200 and rec.error is None
        assert rec.json["account_number"]
        text = screen_text(app)
        assert "✓ 200 OK" in text and " ms" in text
        assert "rate limit" in text
        assert '"account_number"' in text  # pretty JSON body
        assert secret not in text
        assert emu.requests("trading-paper") >= 1
        # headers tab: rate-limit headers highlighted
        headers = tester.query_one("#resp-headers", DataTable)
        names = [str(headers.get_row_at(i)[0]) for i in range(headers.row_count)]
        assert any(n.lower() == "x-ratelimit-remaining" for n in names)
        hot = [headers.get_row_at(i)[0] for i in range(headers.row_count)
               if str(headers.get_row_at(i)[0]).lower().startswith("x-ratelimit")]
        assert all("yellow" in str(cell.style) for cell in hot)
        # the path input suggests common endpoints
        path = tester.query_one("#path", Input)
        path.value = ""
        path.focus()
        await pilot.press(*"/v2/cl")
        await pilot.pause()
        assert path._suggestion == "/v2/clock"
        await pilot.press("right")  # accept the suggestion
        assert path.value == "/v2/clock"
        # copy as cURL: secrets are placeholders
        await pilot.press("ctrl+o")
        curl = app.clipboard
        assert curl.startswith("curl ") and "/v2/clock" in curl
        assert "$APCA_API_SECRET_KEY" in curl and secret not in curl  # what `alpaca-tui exec` sets
        assert "APCA-API-KEY-ID: $APCA_API_KEY_ID" in curl
        # with the real secret only after an explicit confirmation
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="secret copy confirmation")
        await pilot.press("n")
        assert app.clipboard == curl
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="secret copy confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: secret in app.clipboard, what="copied with the secret")
        assert secret not in screen_text(app)  # the status line shows it redacted


async def test_preflight_warns_when_scopes_forbid_the_path(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "sandbox-readonly-custom")
        tester.query_one("#method", Select).value = "GET"
        tester.query_one("#path", Input).value = "/v1/journals"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="scope warning")
        text = screen_text(app)
        assert "Outside this credential's access" in text and "Journaling" in text
        before = emu.requests("broker-sandbox")
        await pilot.press("n")
        assert isinstance(app.screen, TesterScreen)
        await pilot.pause()
        assert history(app) == [] and emu.requests("broker-sandbox") == before
        assert "not sent" in screen_text(app)
        # send anyway: the emulator enforces the matrix too
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="scope warning again")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="response")
        assert history(app)[0].status == 403
        # an allowed path goes straight through
        tester.query_one("#path", Input).value = "/v1/accounts"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 2, what="second response")
        assert history(app)[1].status == 200


async def test_write_to_live_needs_confirmation(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "live")
        tester.query_one("#method", Select).value = "POST"
        tester.query_one("#path", Input).value = "/v2/orders"
        tester.query_one("#body", TextArea).text = (
            '{"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}')
        before = emu.requests("trading-live")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="live confirmation")
        assert "REAL MONEY" in screen_text(app)
        assert app.screen.query_one("#no").has_focus  # the safe answer is the default
        await pilot.press("enter")
        await pilot.pause()
        assert history(app) == [] and emu.requests("trading-live") == before
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="live confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(history(app)) == 1, what="order response")
        rec = history(app)[0]
        assert rec.method == "POST" and rec.status in (200, 201)
        assert emu.requests("trading-live") == before + 1
        # a GET to live needs no confirmation
        tester.query_one("#method", Select).value = "GET"
        tester.query_one("#path", Input).value = "/v2/account"
        tester.query_one("#body", TextArea).text = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(history(app)) == 2, what="get response")
        # history keeps both; selecting an entry restores it
        await pilot.press("ctrl+l")
        table = tester.query_one("#history", DataTable)
        assert table.row_count == 2 and table.has_focus
        await pilot.press("up", "enter")
        assert tester.query_one("#method", Select).value == "POST"
        assert tester.query_one("#path", Input).value == "/v2/orders"


async def test_invalid_json_body_is_not_sent(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        tester = await open_tester(pilot, "paper")
        tester.query_one("#method", Select).value = "POST"
        tester.query_one("#path", Input).value = "/v2/orders"
        tester.query_one("#body", TextArea).text = "{not json"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not valid JSON" in screen_text(app)
        assert history(app) == []


def test_curl_with_secrets_survives_the_shell() -> None:
    """Secrets with shell metacharacters reach curl byte for byte (the real shell parses the
    line, with curl swapped for printf); placeholders are still expanded by the shell."""
    import subprocess

    from alpaca_tui.core.credentials import Flow, Profile
    from alpaca_tui.core.environments import Api, Env
    from alpaca_tui.tui.screens.tester import curl_command

    nasty = "s3c\"r$(touch /tmp/pwned)`id`'e\\t $HOME"
    cases = [
        (Profile("p", Env.PAPER, Flow.LEGACY, "PK…0001"), Api.TRADING,
         {"key_id": "PKX0000000000000001", "secret": nasty},
         ["APCA-API-KEY-ID: PKX0000000000000001", f"APCA-API-SECRET-KEY: {nasty}"]),
        (Profile("b", Env.BROKER_SANDBOX, Flow.LEGACY, "CK…0001"), Api.BROKER,
         {"key_id": "CKX0000000000000001", "secret": nasty}, [f"CKX0000000000000001:{nasty}"]),
        (Profile("o", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK…0001"), Api.BROKER,
         {"token": nasty}, [f"Authorization: Bearer {nasty}"]),
        (Profile("q", Env.PAPER, Flow.LEGACY, "PK…0001"), Api.TRADING, {},
         ["APCA-API-KEY-ID: kid-from-env", "APCA-API-SECRET-KEY: secret-from-env"]),
    ]
    for profile, api, secrets, expected in cases:
        line = curl_command(profile, api, "POST", "/v2/orders", {"a": "b c"}, {"q": "it's"}, **secrets)
        assert line.startswith("curl ")
        env = {"APCA_API_KEY_ID": "kid-from-env", "APCA_API_SECRET_KEY": "secret-from-env",
               "PATH": "/usr/bin:/bin"}
        out = subprocess.run(["bash", "-c", "printf '%s\\n'" + line[len("curl"):]], capture_output=True,
                             text=True, env=env, check=True).stdout.splitlines()
        for want in expected:
            assert want in out, (want, out)
        assert '{"q": "it\'s"}' in out
