"""The session: the services and state every screen of one ``alpaca-tui`` run shares.

One :class:`Session` per app. The app (``tui/app.py``) creates it, fills in the services as
its workers bring them up (the store after the first frame, then the engine) and records
results in it (the profile list, checks, the tester's history). Screens and widgets receive
the same object in their constructor and read it; they never reach into the app for a
service. The object is mutated in place (never replaced), so a screen pushed before the
engine was loaded sees it as soon as it is there.

No Textual here; the store and engine types are imported for typing only (the engine pulls
in httpx, which must not slow the first frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import AlpacaTuiError, StoreError
from alpaca_tui.core.scopes import AccessMatrix

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine
    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.messages import CheckFinished, RequestRecord


class Issued(Protocol):
    """A credential the demo issuer created (``emulator.state.IssuedCredential``)."""

    @property
    def key_id(self) -> str: ...

    @property
    def secret(self) -> str | None: ...


class DemoIssuer(Protocol):
    """Where demo mode gets real credentials: the in-process ``Emulator`` or the HTTP
    ``AdminClient`` (``emulator/client.py``); both have these two methods."""

    def create_credential(self, env: Env, flow: Flow, *, access: AccessMatrix | None = None,
                          expires_at: datetime | None = None,
                          public_key: str | None = None) -> Issued: ...

    def endpoints_for(self, env: Env) -> dict[Api, str]: ...


# What a viewer is never offered (footer, palette, keys): every action that needs a secret.
VIEWER_HIDES = frozenset({"new", "check", "tester", "rotate", "delete", "reveal", "refresh_token", "exec",
                          "proxy"})


@dataclass(eq=False)
class Session:
    """Services (store, engine, demo issuer, clock) and what the screens show from them.

    ``store`` is None until the store worker opened it (``store_error`` says why when it
    failed); ``engine`` is None until its heavy imports finished (``engine_error`` says why
    when they failed); ``demo`` is set in demo
    mode only. ``viewer`` is set (to the one line saying why) once the store turned out to
    be a shared one whose token may only look (an OpenBao / Vault viewer): screens then leave
    the actions that need a secret out of their footer and the palette (:meth:`allows`).
    ``profiles`` is the app's last read of the index (``profiles_loaded`` once
    it read it at all); the app replaces the list, screens never edit it.
    """

    clock: Clock = SYSTEM_CLOCK
    store: Store | None = None
    engine: Engine | None = None
    demo: DemoIssuer | None = None
    refresh_ahead: float = 60.0   # the token panel asks for a new token this long before expiry
    tick_seconds: float = 1.0     # the screens' tick (countdowns, polling the index)
    store_error: str | None = None
    engine_error: str | None = None  # the auth engine could not be loaded (checks, tokens are off)
    store_locked: bool = False    # the passphrase prompt was cancelled: unlock (u) can try again
    viewer: str | None = None     # why this store's token may only look (a Vault viewer), else None
    profiles: list[Profile] = field(default_factory=list)
    profiles_loaded: bool = False
    check_results: dict[str, CheckFinished] = field(default_factory=dict)
    request_history: list[RequestRecord] = field(default_factory=list)
    # the credential the home list moves its cursor to once it is listed (set by the app when
    # the wizard saved one; the home screen clears it when it got there)
    focus_profile: str | None = None
    local_time: bool = False      # times in the machine's zone, not UTC (config.toml ui.time)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys (config.toml [keys])

    @property
    def backend_label(self) -> str:
        """Where the secrets live, for status lines ("OS keyring (Secret Service)", ...)."""
        if self.store is None:
            return "secret store: opening…" if self.store_error is None else "secret store: unavailable"
        return self.store.backend_label

    def allows(self, action: str) -> bool:
        """Whether the screens offer ``action`` (a name in :data:`VIEWER_HIDES`) to this session."""
        return self.viewer is None or action not in VIEWER_HIDES

    def require_store(self) -> Store:
        if self.store is None:
            raise StoreError(self.store_error or "the secret store is not open yet")
        return self.store

    def require_engine(self) -> Engine:
        if self.engine is None:
            raise AlpacaTuiError("the auth engine is still loading")
        return self.engine

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def profile_names(self) -> set[str]:
        return {p.name for p in self.profiles}


__all__ = ["VIEWER_HIDES", "DemoIssuer", "Issued", "Session"]
