"""Messages that carry the results of background work (workers) back to the UI thread.

Workers never touch widgets: a thread worker (store, keyring) or an async worker (engine,
HTTP) posts one of these to the screen or app that started it, and the handler updates
the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from alpaca_tui.core.credentials import Profile, SecretBundle

if TYPE_CHECKING:  # the engine pulls in httpx: never imported on the way to the first frame
    from alpaca_tui.core.engine import CheckResult, Engine, RotationResult
    from alpaca_tui.core.explain import Explanation
    from alpaca_tui.core.http import RateLimit
    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.services import KeyPair
    from alpaca_tui.tui.session import DemoIssuer


class RoleKnown(Message):
    """What the store's credentials may do: ``viewer`` is why they may only look, or None."""

    def __init__(self, viewer: str | None) -> None:
        super().__init__()
        self.viewer = viewer


class StoreReady(Message):
    """The secret store is open (and unlocked)."""

    def __init__(self, store: Store, demo: DemoIssuer | None = None) -> None:
        super().__init__()
        self.store = store
        self.demo = demo


class StoreFailed(Message):
    def __init__(self, error: str, *, locked: bool = False) -> None:
        super().__init__()
        self.error = error
        self.locked = locked  # the passphrase prompt was cancelled: the store can still be unlocked


class StoreRepaired(Message):
    """An index entry was repaired from its secret bundle (e.g. after a killed rotation)."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.note = note


class EngineReady(Message):
    def __init__(self, engine_cls: type[Engine]) -> None:
        super().__init__()
        self.engine_cls = engine_cls


class ProfilesLoaded(Message):
    def __init__(self, profiles: list[Profile]) -> None:
        super().__init__()
        self.profiles = profiles


class ProfilesChanged(Message):
    """Broadcast to every screen after the app's profile list changed. ``rows=False``: the list
    is the one already shown, only what is said around it changed (the store opened or failed,
    the engine arrived); the home screen then repaints its status line and token cells, not its
    whole table."""

    def __init__(self, rows: bool = True) -> None:
        super().__init__()
        self.rows = rows


class OperationFailed(Message):
    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class CheckFinished(Message):
    def __init__(self, name: str, results: list[CheckResult], error: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.results = results
        self.error = error

    @property
    def ok(self) -> bool:
        results = self.results
        return self.error is None and bool(results) and all(r.ok for r in results)


class ProfileDeleted(Message):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class ProfileSaved(Message):
    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile


class BundleLoaded(Message):
    """Secret material read for an explicit reveal (never logged, never screenshotted)."""

    def __init__(self, name: str, bundle: SecretBundle) -> None:
        super().__init__()
        self.name = name
        self.bundle = bundle


class TokenUpdated(Message):
    def __init__(self, name: str, error: str | None = None, explanation: Explanation | None = None) -> None:
        super().__init__()
        self.name = name
        self.error = error
        self.explanation = explanation  # cause + fix of the error (core/explain.py)


@dataclass
class RequestRecord:
    """One request sent from the tester (kept for the session's history)."""

    profile: str
    api: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    status: int | None = None
    latency_ms: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    json: Any = None
    error: str | None = None
    request_id: str | None = None
    rate_limit: RateLimit | None = None
    sent_at: float = 0.0
    cause: str | None = None        # the error's explanation (core/explain.py), when it has one
    fix: str | None = None
    warning: str | None = None      # the scope guard's warning (an unknown read), or --force
    truncated: bool = False         # the answer was longer than the engine's body cap


class RequestFinished(Message):
    def __init__(self, record: RequestRecord) -> None:
        super().__init__()
        self.record = record


class RotationFinished(Message):
    def __init__(self, name: str, result: RotationResult | None = None, error: str | None = None,
                 rolled_back: bool = False) -> None:
        super().__init__()
        self.name = name
        self.result = result
        self.error = error
        self.rolled_back = rolled_back


class Progress(Message):
    """A step of a longer operation (wizard save, rotation) for a status line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class KeyPairReady(Message):
    """A freshly generated private_key_jwt key pair (the private half goes to the store only)."""

    def __init__(self, pair: KeyPair) -> None:
        super().__init__()
        self.pair = pair
