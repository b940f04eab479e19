"""Command palette (ctrl+p) provider: "env:", "credential:", "token:", "request:" and "app:"
commands first, then Textual's own system commands (theme, keys, screenshot, quit).

This is the app's only provider (``AlpacaTuiApp.COMMANDS``), so the order is ours: discovery
lists our commands before the system ones, and a search ranks every match of ours above every
system match (the fuzzy matcher's scores are unbounded: ours are lifted above every system score
by :data:`OURS_FIRST`)."""

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
OURS_FIRST = 1e6  # added to our hits' scores: the palette sorts by score only


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
        if app.session.store_locked:
            yield ("app: unlock the secret store", "Ask for the passphrase again", app.retry_store)
        if app.session.demo is None:
            yield ("app: start demo mode", "A local Alpaca emulator and a throwaway store", app.start_demo)
        for env in ENV_ORDER:
            yield (f"env: new credential in {env.label}", f"Wizard with {env.label} preselected",
                   partial(app.open_wizard, env))
            yield (f"env: show only {env.label}", "Only this environment's credentials on the home list",
                   partial(self._filter, env))
        yield ("env: show all environments", "Clear the home filters", partial(self._filter, None))
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

    def _filter(self, env: Env | None) -> None:
        from alpaca_tui.tui.screens.home import HomeScreen

        app = self.tui
        while len(app.screen_stack) > 2 and not isinstance(app.screen, HomeScreen):
            app.pop_screen()
        if isinstance(app.screen, HomeScreen):
            app.screen.set_env_filter(env)

    def system_commands(self) -> Iterator[Command]:
        """Textual's own commands for this screen (theme, keys, screenshot, quit…)."""
        for cmd in self.app.get_system_commands(self.screen):
            yield (cmd.title, cmd.help, cmd.callback)

    async def discover(self) -> Hits:
        for text, help_text, cb in self.commands():
            if text.startswith(("credential:", "request:")) and " as " not in text and "—" in text \
                    and not text.endswith("details"):
                continue
            yield DiscoveryHit(text, cb, help=help_text)
        for text, help_text, cb in sorted(self.system_commands(), key=lambda c: c[0]):
            yield DiscoveryHit(text, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for ours, commands in ((True, self.commands()), (False, self.system_commands())):
            for text, help_text, cb in commands:
                score = matcher.match(text)
                if score > 0:
                    ranked = OURS_FIRST + score if ours else min(score, OURS_FIRST - 1)
                    yield Hit(ranked, matcher.highlight(text), cb, text=text, help=help_text)
