"""Secret-store backends by name, and how :meth:`Store.open` picks one.

A backend is a :class:`BackendSpec` registered under the name users type
(``$ALPACA_TUI_KEYRING``, ``Store.open(backend=)``) and the index records (``"backend"``).
Its ``open`` builds the pair the store composes: an :class:`~.protocols.IndexBackend` and a
:class:`~.protocols.SecretBackend`. The built-in ``system`` and ``file`` are registered by
:mod:`.builtin`; adding a backend is one more ``register_backend`` call, nothing else.

Choice, in order (:func:`select_backend`):

1. the name asked for (``backend=``, else ``$ALPACA_TUI_KEYRING``; ``auto`` or empty: none);
2. the backend this home already keeps its secrets in (recorded in its index), so a home
   never ends up split across two — asking for another one is an error;
3. auto: each registered backend with a ``try_auto``, in registration order; the first that
   qualifies wins, the reasons of those that did not go into the selection note.

This module imports no backend: it only holds the table (no cycles with the index parser).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alpaca_tui.core.errors import BackendUnavailableError, UsageError

if TYPE_CHECKING:
    from alpaca_tui.core.store.fsutil import HomeLock
    from alpaca_tui.core.store.pin import Pin
    from alpaca_tui.core.store.protocols import IndexBackend, SecretBackend
    from alpaca_tui.core.store.system import KeyringProbe

HOME_ENV = "ALPACA_TUI_HOME"
BACKEND_ENV = "ALPACA_TUI_KEYRING"


def default_home() -> Path:
    """``$ALPACA_TUI_HOME``, else the platform's user data dir (``~/.local/share/alpaca-tui``)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("alpaca-tui", appauthor=False))


@dataclass
class OpenContext:
    """What a backend may need to open a home. Opening creates nothing on disk."""

    home: Path
    lock: HomeLock                       # the home's one lock object (re-entrant per object)
    passphrase: str | None = None
    passphrase_provider: Callable[[bool], str] | None = None
    given_probe: KeyringProbe | None = None  # a probe result to reuse instead of probing (doctor)
    probe: KeyringProbe | None = None        # set by the OS keyring backend when it consulted one
    pin: Pin | None = None                   # the home's store.json (a backend whose index is remote)


@dataclass(frozen=True)
class Reason:
    """Why a named backend is being opened: asked for by ``source``, or pinned by the home."""

    source: str | None  # "backend argument" / "$ALPACA_TUI_KEYRING"; None: the home's record
    profiles: int       # how many profiles the home has
    pinned: bool        # the home already records this backend
    pin: str | None = None  # the home's store.json, described, when that is what pins it

    def chosen(self) -> str:
        return f"chosen by {self.source}" if self.source else self._home()

    def required(self) -> str:
        return f"requested by {self.source}" if self.source else self._home()

    def _home(self) -> str:
        if self.pin is not None:
            return f"this home is pinned to {self.pin} by its store.json"
        return f"this home's {self.profiles} profile(s) are stored there"


@dataclass
class Opened:
    """An opened backend: the pair the store composes, and how to describe the choice."""

    index: IndexBackend
    secrets: SecretBackend
    where: str     # "OS keyring keyring.backends.SecretService.Keyring", "encrypted file /path"
    why: str = ""  # auto: why it qualified


@dataclass(frozen=True)
class BackendSpec:
    name: str
    label: str  # short, in messages about a home's record: "OS keyring", "encrypted file"
    # Open when named or pinned; BackendUnavailableError (reason + fix) when it cannot be used.
    open: Callable[[OpenContext, Reason], Opened]
    # Auto selection: the opened backend, or one line saying why not. None: only by name.
    try_auto: Callable[[OpenContext], Opened | str] | None = None
    aliases: tuple[str, ...] = ()


BACKENDS: dict[str, BackendSpec] = {}  # registration order is the auto order
_BUILTIN = "alpaca_tui.core.store.builtin"


def _specs() -> dict[str, BackendSpec]:
    """The table, with the built-in backends in it: :mod:`.builtin` registers them when it is
    first imported, which every lookup here makes sure of (reading an index needs the names,
    not the backends' own modules, which :mod:`.builtin` imports only to open one)."""
    # always import_module (a dict lookup once loaded): a thread that finds the module still being
    # imported by another one waits for it instead of reading a half-filled table
    importlib.import_module(_BUILTIN)
    return BACKENDS


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add ``spec`` (its name and aliases must be new; after the built-in ones)."""
    taken = {alias for s in _specs().values() for alias in (s.name, *s.aliases)}
    clash = {spec.name, *spec.aliases} & taken
    if clash:
        raise ValueError(f"secret backend name(s) already registered: {', '.join(sorted(clash))}")
    BACKENDS[spec.name] = spec
    return spec


def backend_names() -> tuple[str, ...]:
    return tuple(_specs())


def is_backend(name: str) -> bool:
    """Whether ``name`` is a registered backend's name (as an index records it)."""
    return name in _specs()


def backend_spec(name: str) -> BackendSpec:
    try:
        return _specs()[name]
    except KeyError:
        raise UsageError(f"unknown secret backend {name!r} (use {_choices()})") from None


def backend_label(name: str) -> str:
    spec = _specs().get(name)
    return spec.label if spec is not None else name


def _choices() -> str:
    names = list(_specs())
    return " or ".join(names) if len(names) <= 2 else f"{', '.join(names[:-1])} or {names[-1]}"


def requested_backend(backend: str | None = None) -> tuple[str | None, str]:
    """(name or None for auto, where the request came from)."""
    if backend is not None:
        value, source = backend, "backend argument"
    else:
        value, source = os.environ.get(BACKEND_ENV, ""), BACKEND_ENV
    v = value.strip().lower()
    if v in ("", "auto"):
        return None, "auto"
    for spec in _specs().values():
        if v == spec.name or v in spec.aliases:
            return spec.name, source
    raise UsageError(f"{source}: unknown secret backend {value!r} (use {_choices()})")


def select_backend(ctx: OpenContext, want: str | None, source: str, recorded: str | None,
                   profiles: int) -> tuple[Opened, str]:
    """The opened backend and the selection note (see the module doc)."""
    if want is not None and recorded is not None and want != recorded:
        what = f"the secrets of its {profiles} profile(s)" if ctx.pin is None else "its profiles"
        raise BackendUnavailableError(
            f"this home ({ctx.home}) keeps {what} in the {backend_label(recorded)}, but {source} asks "
            f"for {want}; unset {BACKEND_ENV}, use another {HOME_ENV}, or move them: "
            f"alpaca-tui store migrate --to {want}")
    target = want or recorded
    if target is not None:
        reason = Reason(source if want else None, profiles, pinned=recorded == target,
                        pin=ctx.pin.describe() if ctx.pin is not None and recorded == target else None)
        opened = backend_spec(target).open(ctx, reason)
        return opened, f"using {opened.where} ({reason.chosen()})"
    rejected: list[str] = []
    for spec in _specs().values():
        if spec.try_auto is None:
            continue
        got = spec.try_auto(ctx)
        if isinstance(got, str):
            rejected.append(got)
            continue
        if rejected:
            return got, f"{'; '.join(rejected)}; using {got.where}"
        return got, f"using {got.where} (auto: {got.why})"
    why = "; ".join(rejected) or "none is registered for auto selection"
    raise BackendUnavailableError(f"no secret backend is available ({why})")


__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "HOME_ENV",
    "BackendSpec",
    "OpenContext",
    "Opened",
    "Reason",
    "backend_label",
    "backend_names",
    "backend_spec",
    "register_backend",
    "requested_backend",
    "select_backend",
]
