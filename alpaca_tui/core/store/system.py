"""The OS keyring secret backend (via ``keyring``), and its viability probe.

Every keyring call runs in a daemon thread bounded by a timeout (3 s, or
``$ALPACA_TUI_KEYRING_TIMEOUT`` seconds), so a stuck D-Bus or a Secret Service waiting on
an unlock prompt never hangs the CLI or the TUI (the lesson from gh and stripe-cli;
keyring#531, #735). A locked keyring (no prompt can be shown, e.g. over SSH) is reported
as such, in one line.
Plaintext backends (keyrings.alt's PlaintextKeyring and friends) are refused outright —
never a silent plaintext fallback (gh#7757, keyring#370).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.kvsecrets import KeyValueSecrets
from alpaca_tui.core.threads import helper_thread

if TYPE_CHECKING:
    from alpaca_tui.core.store.fsutil import HomeLock

KEYRING_TIMEOUT = 3.0
TIMEOUT_ENV = "ALPACA_TUI_KEYRING_TIMEOUT"
PROBE_SERVICE = "alpaca-tui-probe"
T = TypeVar("T")


def keyring_timeout() -> float:
    """Seconds a keyring call may take: ``$ALPACA_TUI_KEYRING_TIMEOUT`` (0.1-120), else 3."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return KEYRING_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        return KEYRING_TIMEOUT
    return min(max(value, 0.1), 120.0) if value == value else KEYRING_TIMEOUT


def service_name(home: Path) -> str:
    """Per-home keyring service, so separate ALPACA_TUI_HOMEs never collide."""
    digest = hashlib.sha256(str(home.resolve()).encode("utf-8")).hexdigest()[:12]
    return f"alpaca-tui/{digest}"


class KeyringTimeout(StoreError):
    pass


def call_with_timeout(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; StoreError if it does not return within ``timeout``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = helper_thread(target, f"alpaca-tui keyring: {what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise KeyringTimeout(
            f"OS keyring did not answer within {timeout:g} s ({what}); the Secret Service may be locked "
            "or stuck — run 'alpaca-tui doctor', or use ALPACA_TUI_KEYRING=file")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def backend_name(obj: object) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def insecure_reason(kr: object) -> str | None:
    """Why this keyring backend is not acceptable for secrets (None when it is)."""
    cls = type(kr)
    module, name = cls.__module__, cls.__name__
    if module.startswith("keyring.backends.fail"):
        return "no OS keyring backend is available (keyring fell back to fail.Keyring)"
    if module.startswith("keyring.backends.null"):
        return "keyring is disabled (null backend)"
    if "plaintext" in name.lower():
        return f"{backend_name(kr)} stores secrets in plaintext; refusing it"
    if module.startswith("keyrings.alt"):
        # keyrings.alt is "alternate, less secure" storage: plaintext or weakly encrypted files
        # that prompt in every process (keyring#148, #370). Our own encrypted file replaces it.
        return f"{backend_name(kr)} (keyrings.alt) is not secure storage; refusing it"
    return None


def _candidate_rejection(name: str) -> str | None:
    if "plaintext" in name.lower():
        return "plaintext storage; refused"
    if name.startswith("keyrings.alt"):
        return "keyrings.alt (not secure storage); refused"
    return None


@dataclass
class Candidate:
    name: str
    viable: bool
    reason: str
    priority: float | None = None


@dataclass
class KeyringProbe:
    viable: bool
    reason: str
    backend: str | None = None          # keyring backend class in use (after unwrapping a chainer)
    candidates: list[Candidate] = field(default_factory=list)
    keyring: Any = None                 # the backend object to use when viable
    stuck: bool = False                 # it waited out its timeout (D-Bus or the service did not answer)

    def as_dict(self) -> dict[str, Any]:
        return {
            "viable": self.viable,
            "reason": self.reason,
            "keyring_backend": self.backend,
            "candidates": [{"name": c.name, "viable": c.viable, "priority": c.priority, "reason": c.reason}
                           for c in self.candidates],
        }


def _candidates() -> list[Candidate]:
    """Every keyring backend class known to ``keyring``, with why each one is (not) viable."""
    import keyring.backend

    try:
        keyring.backend._load_plugins()
    except Exception:  # noqa: S110 - plugins are optional; the core backends are still listed
        pass
    out: list[Candidate] = []
    classes: set[type[Any]] = getattr(keyring.backend.KeyringBackend, "_classes", set())
    for cls in sorted(classes, key=backend_name):
        name = backend_name(cls)
        if name.startswith("keyring.backends.chainer"):
            continue
        try:
            prio = float(cls.priority)
        except Exception as exc:
            out.append(Candidate(name, False, " ".join(str(exc).split()) or type(exc).__name__))
            continue
        if name.startswith("keyring.backends.fail"):
            out.append(Candidate(name, False, "fallback that refuses every call", prio))
            continue
        bad = _candidate_rejection(name)
        out.append(Candidate(name, bad is None, bad or f"available (priority {prio:g})", prio))
    return out


def _choose(kr: Any) -> tuple[Any, str | None]:
    """Unwrap a chainer to its best acceptable member; return (backend, rejection reason)."""
    cls = type(kr)
    if cls.__module__.startswith("keyring.backends.chainer"):
        members = list(getattr(kr, "backends", []) or [])
        good = [m for m in members if insecure_reason(m) is None]
        if not good:
            names = ", ".join(backend_name(m) for m in members) or "nothing"
            return None, f"the keyring chainer only offers unacceptable backends ({names})"
        return good[0], None
    reason = insecure_reason(kr)
    return (None, reason) if reason else (kr, None)


def _probe_body(roundtrip: bool = True) -> KeyringProbe:
    import keyring

    candidates = _candidates() if roundtrip else []
    try:
        kr = keyring.get_keyring()
    except Exception as exc:
        return KeyringProbe(False, f"keyring could not load a backend: {exc}", None, candidates)
    chosen, bad = _choose(kr)
    if chosen is None:
        rejected = [f"{c.name.rsplit('.', 2)[-2]}: {c.reason}" for c in candidates if not c.viable]
        detail = f" [{'; '.join(rejected)}]" if rejected and "fail" in (bad or "") else ""
        return KeyringProbe(False, f"{bad}{detail}", backend_name(kr), candidates)
    name = backend_name(chosen)
    chosen = _direct(chosen, name)
    if not roundtrip:
        # Light probe for a home already pinned to the OS keyring: the first real call (also
        # bounded by a timeout) reports a dead keyring, so skip the test write/read/delete.
        return KeyringProbe(True, f"{name} selected (home already uses it)", name, candidates, chosen)
    user = "probe-" + secrets.token_hex(6)
    value = secrets.token_urlsafe(12)

    def read_back() -> str | None:
        got = chosen.get_password(PROBE_SERVICE, user)
        if got is None:  # just written, so "no such entry" is a passing answer: search again
            raise _NotYetThere
        return got  # type: ignore[no-any-return]

    try:  # each step tried again after a passing answer (see is_passing_answer)
        retrying(lambda: chosen.set_password(PROBE_SERVICE, user, value))
        try:
            got = retrying(read_back)
        except _NotYetThere:
            got = None
        retrying(lambda: delete_quietly(chosen, PROBE_SERVICE, user))
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return KeyringProbe(False, f"{name} failed a test write/read: {text}", name, candidates)
    if got != value:
        return KeyringProbe(False, f"{name} did not return what was stored in a test round trip", name,
                            candidates)
    return KeyringProbe(True, f"{name} passed a write/read/delete round trip", name, candidates, chosen)


def _direct(chosen: Any, name: str) -> Any:
    """keyring's Secret Service backend, its calls made the race-free way (secretservice.py),
    unless keyring is told which collection to use (KEYRING_PROPERTY_PREFERRED_COLLECTION)."""
    from alpaca_tui.core.store.secretservice import SECRET_SERVICE, DirectSecretService

    if name != SECRET_SERVICE or hasattr(chosen, "preferred_collection"):
        return chosen
    return DirectSecretService(chosen)


def delete_quietly(kr: Any, service: str, key: str) -> None:
    """Delete an entry; one already gone (or deleted by a retried call's first try) is no error."""
    from keyring.errors import PasswordDeleteError

    try:
        kr.delete_password(service, key)
    except PasswordDeleteError:
        pass


_probe_lock = threading.Lock()
_stuck_probe: threading.Thread | None = None


def probe_keyring_detail(timeout: float | None = None, *, roundtrip: bool = True) -> KeyringProbe:
    """Full probe: the backend keyring would use, its viability (with a real round trip),
    and every candidate backend with the reason it was rejected. Never hangs.

    ``roundtrip=False`` only selects the backend (no candidates, no test entry): used when
    the home already keeps its secrets in the OS keyring."""
    global _stuck_probe
    if timeout is None:
        timeout = keyring_timeout()
    if (sys.platform.startswith("linux") and not os.environ.get("DBUS_SESSION_BUS_ADDRESS")
            and not os.environ.get("PYTHON_KEYRING_BACKEND")):
        return KeyringProbe(False, "DBUS_SESSION_BUS_ADDRESS is not set: no D-Bus session, so no Secret "
                                   "Service (typical over SSH or in containers)")
    with _probe_lock:
        if _stuck_probe is not None and _stuck_probe.is_alive():
            return KeyringProbe(False, "an earlier OS keyring probe is still stuck waiting for D-Bus",
                                stuck=True)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["probe"] = _probe_body(roundtrip)
            except BaseException as exc:
                box["error"] = exc

        thread = helper_thread(target, "alpaca-tui keyring probe")
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            _stuck_probe = thread
            return KeyringProbe(False, f"OS keyring did not answer within {timeout:g} s "
                                       "(D-Bus or the Secret Service is stuck or waiting on a prompt)",
                                stuck=True)
    if "error" in box:
        exc = box["error"]
        return KeyringProbe(False, f"keyring probe failed: {type(exc).__name__}: {exc}")
    probe: KeyringProbe = box["probe"]
    return probe


def probe_system_keyring(timeout: float = KEYRING_TIMEOUT) -> tuple[bool, str]:
    """(viable, reason) for the OS keyring — never hangs longer than ``timeout``."""
    p = probe_keyring_detail(timeout)
    return p.viable, p.reason


# gnome-keyring, under many clients at once (our suite's last minutes, four test workers), now
# and then answers a new client that an object it has does not exist: its alias path and its
# first answers to a new client race (secretservice.READY_PAUSES). Our Secret Service client
# keeps off the alias path and waits for the new client to be set up; what is left (keyring's
# own backend where a prompt needs it, a service racing elsewhere) is handled here. Two such
# answers are passing states, and the call is tried again, a few times (SystemBackend._call,
# and the probe's round trip):
# * the default collection "missing": keyring then asks the service to create one, which needs
#   a prompt, and with no display the prompter cannot start and the prompt is "dismissed" at
#   once (headless, that dismissal is nobody's answer);
# * an object "not there" (secretstorage's ItemNotFoundException: the service answered
#   UnknownMethod / NoSuchObject / UnknownObject): the collection keyring had just opened, or
#   the item its search had just found. Every call starts afresh (a new connection, the default
#   collection, a new search), so a second try gives the real answer: an item deleted meanwhile
#   is then simply not found (a read's None, a delete's "already gone").
# And one more, from any Secret Service: the daemon gone while it had our message ("Message
# recipient disconnected from message bus without replying": killed, crashed, replaced). D-Bus
# starts a new one for the next call, which gets that one's real answer (often "locked").
NO_COLLECTION = "Failed to create the collection"  # keyring's InitError, by its text
TRANSIENT_RETRIES = (0.1, 0.3, 0.6)  # seconds before each further try
_RECIPIENT_GONE = "recipient disconnected from message bus without replying"  # D-Bus's NoReply text


def _is_headless_dismissal(exc: BaseException) -> bool:
    """keyring found no default collection and the prompt to create one could not be shown (no
    display): the service's passing state, not the user's choice (see above)."""
    return (NO_COLLECTION in str(exc) and "dismissed" in str(exc).lower()
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))


class _NotYetThere(Exception):
    """The probe's entry, just written, not found: the second passing answer, seen by a search."""


def is_passing_answer(exc: BaseException) -> bool:
    """One of the passing answers above (ItemNotFoundException by name: secretstorage is
    optional). Our own StoreError is a verdict already (e.g. secretservice: no default collection)."""
    if isinstance(exc, StoreError):
        return False
    return (_is_headless_dismissal(exc) or isinstance(exc, _NotYetThere)
            or any(c.__name__ == "ItemNotFoundException" for c in type(exc).__mro__)
            or _RECIPIENT_GONE in str(exc))


def retrying(fn: Callable[[], T], attempt: Callable[[Callable[[], T]], T] | None = None) -> T:
    """``fn`` (through ``attempt``, e.g. a timeout), tried again after a passing answer (above)."""
    for pause in (*TRANSIENT_RETRIES, None):
        try:
            return attempt(fn) if attempt is not None else fn()
        except Exception as exc:
            if pause is None or not is_passing_answer(exc):
                raise
        time.sleep(pause)
    raise AssertionError("unreachable")  # the last try returns or raises


def _is_locked_error(exc: BaseException) -> bool:
    """keyring's KeyringLocked, or secretstorage's LockedException (by name: both optional)."""
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"KeyringLocked", "LockedException"})


class SystemBackend(KeyValueSecrets):
    """Entries in the OS keyring under one service per home; each call bounded by a timeout.

    A :class:`~.protocols.SecretBackend`. Writes hold the home ``lock`` when given (the one
    the index uses), so they never interleave with another process's index transaction.
    """

    kind = "system"
    label = "OS keyring (Secret Service)"

    def __init__(self, home: Path, keyring_backend: Any, *, timeout: float | None = None,
                 lock: HomeLock | None = None) -> None:
        self.service = service_name(home)
        self._kr = keyring_backend
        self._lock = lock
        self.timeout = keyring_timeout() if timeout is None else timeout
        name = backend_name(keyring_backend)
        if "SecretService" not in name and "libsecret" not in name:
            self.label = f"OS keyring ({type(keyring_backend).__module__.rsplit('.', 1)[-1]})"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:  # each try within the timeout; again after a passing answer (above)
            return retrying(fn, lambda f: call_with_timeout(f, self.timeout, what))
        except StoreError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split()) or "no details"
            if _is_locked_error(exc):
                raise StoreError(
                    f"OS keyring is locked ({what} refused: {text}); unlock it (log in to the desktop "
                    "session, or run gnome-keyring-daemon --unlock) and try again") from None
            raise StoreError(f"OS keyring error during {what}: {type(exc).__name__}: {text}") from None

    # -- session (nothing to unlock: the desktop session unlocks the keyring) ---------------------
    def prepare(self) -> None:
        pass

    def needs_unlock(self) -> bool:
        return False

    def unlock(self, passphrase: str) -> None:
        pass

    def creating_new_store(self) -> bool:
        return False

    def ensure_reachable(self, name: str) -> None:
        self.get(name)  # a locked, dead or frozen keyring fails here

    def bundle_names(self) -> list[str] | None:
        return None  # the Secret Service API cannot list one service's entries portably

    # -- entries -------------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[object]:
        return self._lock.hold() if self._lock is not None else nullcontext()

    def update(self, sets: Mapping[str, str] | None = None, deletes: Iterable[str] = ()) -> None:
        with self._lock.hold() if self._lock is not None else nullcontext():
            for k, v in (sets or {}).items():
                self.set(k, v)
            for k in deletes:
                self.delete(k)

    def get(self, key: str) -> str | None:
        value = self._call("read", lambda: self._kr.get_password(self.service, key))
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        self._call("write", lambda: self._kr.set_password(self.service, key, value))

    def delete(self, key: str) -> None:
        self._call("delete", lambda: delete_quietly(self._kr, self.service, key))
