"""Command palette (ctrl+p) provider: "env:", "credential:", "token:" and "request:" commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from alpaca_tui.core.environments import Api, Env
from alpaca_tui.tui.format import ENV_ORDER

if TYPE_CHECKING:
    from alpaca_tui.tui.app import AlpacaTuiApp

Command = tuple[str, str, Callable[[], object]]


def default_request(env: Env) -> tuple[Api, str]:
    """The cheapest authenticated GET for an environment."""
    if env.is_broker:
        return Api.BROKER, "/v1/accounts"
    return Api.TRADING, "/v2/account"


class AlpacaCommands(Provider):
    """Every action reachable from the keyboard, searchable by prefix and name."""

    @property
    def tui(self) -> AlpacaTuiApp:
        return self.app  # type: ignore[return-value]

    def commands(self) -> Iterator[Command]:
        app = self.tui
        yield ("credential: new…", "Open the creation wizard", partial(app.open_wizard, None))
        for env in ENV_ORDER:
            yield (f"env: new credential in {env.label}", f"Wizard with {env.label} preselected",
                   partial(app.open_wizard, env))
            yield (f"env: show only {env.label}", "Filter the home list to this environment",
                   partial(self._filter, env.label))
        yield ("env: show all environments", "Clear the home filter", partial(self._filter, ""))
        yield ("request: open the request tester", "Send test requests", partial(app.open_tester, None))
        for p in app.session.profiles:
            yield (f"credential: {p.name} — details", f"{p.env.label}, {p.flow.label}",
                   partial(app.open_details, p.name))
            yield (f"credential: {p.name} — check", "Connectivity check on every API it reaches",
                   partial(app.run_check, p.name))
            yield (f"credential: {p.name} — rotate", "New secret or key pair, verify, promote, rollback",
                   partial(app.open_rotation, p.name))
            yield (f"credential: {p.name} — delete", "Remove it from this machine (asks first)",
                   partial(app.request_delete, p.name))
            if p.flow.is_oauth:
                yield (f"token: {p.name} — countdown", "Show the live access-token countdown",
                       partial(app.open_details, p.name))
                yield (f"token: {p.name} — refresh now", "Fetch a new access token",
                       partial(app.refresh_token, p.name))
            api, path = default_request(p.env)
            yield (f"request: GET {path} as {p.name}", f"Open the tester on the {api.value} API",
                   partial(app.open_tester, p.name, method="GET", path=path))

    def _filter(self, text: str) -> None:
        from alpaca_tui.tui.screens.home import HomeScreen

        app = self.tui
        while len(app.screen_stack) > 2 and not isinstance(app.screen, HomeScreen):
            app.pop_screen()
        if isinstance(app.screen, HomeScreen):
            app.screen.set_filter(text)

    async def discover(self) -> Hits:
        for text, help_text, cb in self.commands():
            if text.startswith(("credential:", "request:")) and " as " not in text and "—" in text \
                    and not text.endswith("details"):
                continue
            yield DiscoveryHit(text, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, cb in self.commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), cb, text=text, help=help_text)
