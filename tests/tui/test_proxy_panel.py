"""The details screen shows the credential's running auth proxies (ports, requests served,
token state) and its recent audit lines: a real proxy in the app's event loop, against the
emulator, publishing its status file and audit log in the store's home."""

from __future__ import annotations

from typing import Any

import httpx

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.environments import Api
from alpaca_tui.core.proxy import ProxyServer
from alpaca_tui.tui.app import AlpacaTuiApp
from alpaca_tui.tui.screens.details import DetailsScreen
from alpaca_tui.tui.widgets.proxy_panel import ProxyPanel
from tests.tui.conftest import screen_text, wait_for


async def test_details_lists_the_running_proxy_and_its_audit_lines(seeded: Any, clock: FakeClock) -> None:
    store, emu, _ = seeded
    app = AlpacaTuiApp(store=store, demo=emu, clock=clock)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
        app.screen.select("paper")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        await wait_for(pilot, lambda: "none running" in screen_text(app), what="no proxy yet")
        server = await ProxyServer(app.engine, "paper", home=store.home).start()
        try:
            ph = server.placeholder
            assert ph is not None
            async with httpx.AsyncClient() as c:
                for path in ("/v2/account", "/v2/clock"):
                    await c.get(server.urls[Api.TRADING] + path,
                                headers={"APCA-API-KEY-ID": ph.key_id, "APCA-API-SECRET-KEY": ph.secret})
                await c.get(server.urls[Api.TRADING] + "/v2/positions")          # no placeholder: 401
            port = server.urls[Api.TRADING].rsplit(":", 1)[1]
            await wait_for(pilot, lambda: f"trading {port}" in screen_text(app), what="the proxy listed",
                           timeout=15)
            await wait_for(pilot, lambda: "/v2/positions" in screen_text(app), what="audit lines", timeout=15)
            await wait_for(pilot, lambda: "3 requests (1 refused)" in screen_text(app), what="counters",
                           timeout=15)   # the status file is rewritten every 2 s
            text = screen_text(app)
            assert "key pair (no token)" in text
            assert "/v2/account" in text and "unauthorized" in text
            assert ph.secret not in text
        finally:
            await server.aclose()
        panel = app.screen.query_one(ProxyPanel)
        panel.poll()
        await wait_for(pilot, lambda: "none running" in screen_text(app), what="gone after it stopped")
