"""The secret store: a non-secret profile index plus a secret backend.

Backend choice, in order:

1. ``backend=`` given to :meth:`Store.open` (``"system"`` or ``"file"``);
2. ``$ALPACA_TUI_KEYRING`` (``system`` | ``file``);
3. the backend this home already keeps its secrets in (recorded in the index), so a
   home never ends up split across two backends;
4. auto: the OS keyring when :func:`probe_system_keyring` says it is viable (a real
   round trip, 3 s max), else the encrypted file — noted in ``selection_notes``.

Forcing a backend that is unavailable, or one different from where this home's
secrets already are, raises :class:`BackendUnavailableError` with the reason and a fix.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile, SecretBundle, validate_name
from alpaca_tui.core.errors import BackendUnavailableError, NotFoundError, StoreError, UsageError
from alpaca_tui.core.store.filecrypt import FileBackend
from alpaca_tui.core.store.fsutil import HomeLock, ensure_private_dir, remove_stale_temps
from alpaca_tui.core.store.index import IndexDoc, read_index, write_index
from alpaca_tui.core.store.reconcile import Repair, index_repairs
from alpaca_tui.core.store.system import KeyringProbe, SystemBackend, probe_keyring_detail

HOME_ENV = "ALPACA_TUI_HOME"
BACKEND_ENV = "ALPACA_TUI_KEYRING"
INDEX_NAME = "index.json"
SECRETS_NAME = "secrets.enc"
BACKEND_KINDS = ("system", "file")
BACKEND_LABELS = {"system": "OS keyring", "file": "encrypted file"}

KEYRING_FIX = ("run inside a D-Bus session with an unlocked keyring: dbus-run-session -- sh -c "
               "'printf \"\\n\" | gnome-keyring-daemon --unlock --components=secrets; alpaca-tui ...'")
FILE_FIX = "or use the encrypted file: export ALPACA_TUI_KEYRING=file"

_PROFILE_FIELDS = frozenset(f.name for f in dataclasses.fields(Profile))


def default_home() -> Path:
    """``$ALPACA_TUI_HOME``, else the platform's user data dir (``~/.local/share/alpaca-tui``)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("alpaca-tui", appauthor=False))


def requested_backend(backend: str | None = None) -> tuple[str | None, str]:
    """(kind or None for auto, where the request came from)."""
    if backend is not None:
        value, source = backend, "backend argument"
    else:
        value, source = os.environ.get(BACKEND_ENV, ""), BACKEND_ENV
    v = value.strip().lower()
    if v in ("", "auto"):
        return None, "auto"
    aliases = {"keyring": "system", "os": "system", "encrypted-file": "file", "encrypted": "file"}
    v = aliases.get(v, v)
    if v not in BACKEND_KINDS:
        raise UsageError(f"{source}: unknown secret backend {value!r} (use system or file)")
    return v, source


def bundle_payload(bundle: SecretBundle) -> str:
    """How a secret bundle is stored in the backend (compact JSON)."""
    return json.dumps(bundle.to_dict(), separators=(",", ":"))


def token_key(name: str) -> str:
    return f"{name}#token"


class SecretLostError(StoreError):
    """A profile's secret is missing from its backend, or cannot be parsed."""


class Store:
    """Profiles (index) + secrets (OS keyring or encrypted file). All methods are synchronous."""

    home: Path
    index_path: Path
    secrets_path: Path
    backend_kind: str
    backend_label: str
    selection_notes: list[str]
    keyring_probe: KeyringProbe | None
    repair_notes: list[str]                       # index entries repaired from their bundles
    on_repair: Callable[[str], None] | None       # told each repair note once (the CLI warns)

    def __init__(self, home: Path, backend: SystemBackend | FileBackend, lock: HomeLock, *,
                 notes: list[str], clock: Clock, keyring_probe: KeyringProbe | None) -> None:
        self.home = home
        self.index_path = home / INDEX_NAME
        self.secrets_path = home / SECRETS_NAME
        self._backend = backend
        self._lock = lock
        self.backend_kind = backend.kind
        self.backend_label = backend.label
        self.selection_notes = notes
        self.clock = clock
        self.keyring_probe = keyring_probe
        self.repair_notes = []
        self.on_repair = None

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, home: Path | None = None, *, backend: str | None = None,
             passphrase: str | None = None,
             passphrase_provider: Callable[[bool], str] | None = None,
             clock: Clock = SYSTEM_CLOCK,
             keyring_probe: KeyringProbe | None = None) -> Store:
        """Pick the backend (see the module doc). Creates nothing on disk; needs no passphrase.

        ``keyring_probe`` reuses a result of :func:`probe_keyring_detail` (doctor) instead of
        probing again.
        """
        home = (home or default_home()).expanduser().absolute()
        lock = HomeLock(home)
        secrets_path = home / SECRETS_NAME
        want, source = requested_backend(backend)
        index = read_index(home / INDEX_NAME)
        recorded = index.backend if index.profiles else None
        notes: list[str] = []
        probe: KeyringProbe | None = None

        def file_backend() -> FileBackend:
            return FileBackend(secrets_path, lock, passphrase=passphrase,
                               passphrase_provider=passphrase_provider)

        n = len(index.profiles)
        if want is not None and recorded is not None and want != recorded:
            raise BackendUnavailableError(
                f"this home ({home}) keeps the secrets of its {n} profile(s) in the "
                f"{BACKEND_LABELS[recorded]}, but {source} asks for {want}; "
                f"unset {BACKEND_ENV} or use another {HOME_ENV}")
        chosen: SystemBackend | FileBackend
        if want == "file" or (want is None and recorded == "file"):
            chosen = file_backend()
            why = f"chosen by {source}" if want else f"this home's {n} profile(s) are stored there"
            notes.append(f"using encrypted file {secrets_path} ({why})")
        elif want == "system" or recorded == "system":
            probe = keyring_probe or probe_keyring_detail(roundtrip=recorded != "system")
            if not probe.viable:
                why = f"requested by {source}" if want else f"this home's {n} profile(s) are stored there"
                raise BackendUnavailableError(
                    f"OS keyring unavailable ({probe.reason}) but it is {why}; fix: {KEYRING_FIX}"
                    + ("" if recorded == "system" else f"; {FILE_FIX}"))
            chosen = SystemBackend(home, probe.keyring)
            why = f"chosen by {source}" if want else f"this home's {n} profile(s) are stored there"
            notes.append(f"using OS keyring {probe.backend} ({why})")
        else:
            probe = keyring_probe or probe_keyring_detail()
            if probe.viable:
                chosen = SystemBackend(home, probe.keyring)
                notes.append(f"using OS keyring {probe.backend} (auto: {probe.reason})")
            else:
                chosen = file_backend()
                notes.append(f"OS keyring unavailable ({probe.reason}); using encrypted file {secrets_path}")
        return cls(home, chosen, lock, notes=notes, clock=clock, keyring_probe=probe)

    # -- helpers -----------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[IndexDoc]:
        ensure_private_dir(self.home)
        with self._lock.hold():
            remove_stale_temps(self.home)
            doc = read_index(self.index_path)
            if doc.profiles and doc.backend and doc.backend != self.backend_kind:
                raise BackendUnavailableError(
                    f"this home's profiles keep their secrets in the {BACKEND_LABELS[doc.backend]}, "
                    f"not the {BACKEND_LABELS[self.backend_kind]} this process opened")
            yield doc

    def _write_index(self, doc: IndexDoc) -> None:
        doc.backend = self.backend_kind if doc.profiles else None
        write_index(self.index_path, doc)

    def _prepare(self) -> None:
        if isinstance(self._backend, FileBackend):
            self._backend.prepare()

    def _set(self, sets: dict[str, str], deletes: tuple[str, ...] = ()) -> None:
        b = self._backend
        if isinstance(b, FileBackend):
            b.update(sets, deletes)
            return
        for k, v in sets.items():
            b.set(k, v)
        for k in deletes:
            b.delete(k)

    @staticmethod
    def _not_found(name: str) -> NotFoundError:
        return NotFoundError(f"no profile named {name!r} (see: alpaca-tui profiles list)")

    # -- index (never reads a secret) ---------------------------------------------------------
    def list_profiles(self) -> list[Profile]:
        doc = read_index(self.index_path)
        return [doc.profiles[k] for k in sorted(doc.profiles)]

    def get_profile(self, name: str) -> Profile:
        doc = read_index(self.index_path)
        if name not in doc.profiles:
            raise self._not_found(name)
        return doc.profiles[name]

    def has_profile(self, name: str) -> bool:
        return name in read_index(self.index_path).profiles

    @staticmethod
    def _check_changes(name: str, changes: dict[str, Any]) -> None:
        unknown = set(changes) - _PROFILE_FIELDS
        if unknown:
            raise UsageError(f"unknown profile field(s): {', '.join(sorted(unknown))}")
        if "name" in changes and changes["name"] != name:
            raise UsageError("renaming a profile is not supported "
                             "(add it under the new name, then remove it)")

    def update_profile(self, name: str, **changes: Any) -> Profile:
        self._check_changes(name, changes)
        with self._locked() as doc:
            if name not in doc.profiles:
                raise self._not_found(name)
            updated = doc.profiles[name].with_changes(**changes)
            doc.profiles[name] = updated
            self._write_index(doc)
        return updated

    # -- profiles with secrets ----------------------------------------------------------------
    def add_profile(self, profile: Profile, bundle: SecretBundle) -> None:
        validate_name(profile.name)
        payload = bundle_payload(bundle)
        self._prepare()
        with self._locked() as doc:
            if profile.name in doc.profiles:
                raise UsageError(f"profile {profile.name!r} already exists")
            self._set({profile.name: payload}, (token_key(profile.name),))
            doc.profiles[profile.name] = profile
            try:
                self._write_index(doc)
            except BaseException:
                try:
                    self._set({}, (profile.name,))
                except StoreError:
                    pass
                raise

    def remove_profile(self, name: str) -> None:
        self._prepare()
        with self._locked() as doc:
            if name not in doc.profiles:
                raise self._not_found(name)
            # Index first: an interruption leaves at worst a secret without a profile (doctor lists
            # it; adding the name again replaces it), never a listed profile whose secret is gone.
            # An unreachable or locked OS keyring fails here, before anything changes (the
            # encrypted file was already opened by _prepare).
            if isinstance(self._backend, SystemBackend):
                self._backend.get(name)
            del doc.profiles[name]
            self._write_index(doc)
            try:
                self._set({}, (name, token_key(name)))
            except StoreError as exc:
                raise StoreError(f"removed profile {name!r}, but its secret could not be deleted from the "
                                 f"{self.backend_label} ({exc.message}); add and remove the profile again "
                                 "once the store is reachable to delete it") from None

    def _read_bundle(self, name: str) -> SecretBundle:
        raw = self._backend.get(name)
        if raw is None:
            raise SecretLostError(f"the secret of profile {name!r} is missing from the {self.backend_label}; "
                                  "remove the profile and add it again")
        try:
            return SecretBundle.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            raise SecretLostError(
                f"the secret of profile {name!r} in the {self.backend_label} is malformed") from None

    def load(self, name: str) -> tuple[Profile, SecretBundle]:
        """The profile and its secret bundle, in agreement.

        When the index entry disagrees with the bundle (a process was killed between the two
        writes of a rotation), the entry is repaired from the bundle under the home lock and a
        note is recorded in ``repair_notes`` and passed to ``on_repair`` (see :mod:`.reconcile`).
        """
        profile = self.get_profile(name)
        bundle = self._read_bundle(name)
        repair = index_repairs(profile, bundle)
        if not repair:
            return profile, bundle
        try:
            return self._repair(name)
        except NotFoundError:
            raise
        except StoreError as exc:  # e.g. a read-only home: use the repaired view, say it was not saved
            self._note_repair(repair, f"; could not save the repair: {exc.message}")
            return profile.with_changes(**repair.changes), bundle

    def _repair(self, name: str) -> tuple[Profile, SecretBundle]:
        self._prepare()
        with self._locked() as doc:  # writers change bundle + index under this lock: re-read both
            if name not in doc.profiles:
                raise self._not_found(name)
            profile = doc.profiles[name]
            bundle = self._read_bundle(name)
            repair = index_repairs(profile, bundle)
            if repair:
                profile = profile.with_changes(**repair.changes)
                doc.profiles[name] = profile
                self._write_index(doc)
        if repair:
            self._note_repair(repair)
        return profile, bundle

    def _note_repair(self, repair: Repair, suffix: str = "") -> None:
        note = repair.message() + suffix
        self.repair_notes.append(note)
        if self.on_repair is not None:
            self.on_repair(note)

    def reconcile(self, names: list[str] | None = None, *, rotating_only: bool = False) -> list[str]:
        """Check every profile (or ``names``) against its bundle and repair disagreeing index
        entries (see :meth:`load`). Reads secrets. Returns the repair notes made by this call.

        ``rotating_only``: only profiles whose index says a rotation is pending or the old key
        is kept. Those are the ones whose index can show the wrong *active* key after a kill
        (a kill before the first index write of a rotation leaves the right active key shown;
        that entry is repaired when the profile is next used). Cheap enough for a startup.
        """
        before = len(self.repair_notes)
        profiles = self.list_profiles()
        if names is not None:
            profiles = [p for p in profiles if p.name in names]
        for p in profiles:
            if rotating_only and p.rotation_state is None:
                continue
            try:
                self.load(p.name)
            except NotFoundError:
                continue  # removed meanwhile
        return self.repair_notes[before:]

    def secret_names(self) -> list[str] | None:
        """Names that have a secret in the encrypted file (token caches excluded); None for the OS
        keyring, which cannot list them. Reads secrets. Lets doctor find a secret whose profile
        was never written (an add killed between its two writes)."""
        if not isinstance(self._backend, FileBackend):
            return None
        return sorted(k for k in self._backend.read_all() if "#" not in k)

    def load_bundle(self, name: str) -> SecretBundle:
        """The profile's secret bundle (the index entry is repaired first if it disagrees)."""
        return self.load(name)[1]

    def save_bundle(self, name: str, bundle: SecretBundle) -> None:
        payload = bundle_payload(bundle)
        self._prepare()
        with self._locked() as doc:
            if name not in doc.profiles:
                raise self._not_found(name)
            self._set({name: payload})

    def commit(self, name: str, bundle: SecretBundle, **changes: Any) -> Profile:
        """Save ``bundle`` and then apply ``changes`` to the profile, both under one hold of the
        home lock, so no other alpaca-tui process sees one without the other. The two writes
        still go to two places: a process killed between them leaves the index behind the
        bundle, and the next :meth:`load` repairs it from the bundle."""
        self._check_changes(name, changes)
        payload = bundle_payload(bundle)
        self._prepare()
        with self._locked() as doc:
            if name not in doc.profiles:
                raise self._not_found(name)
            updated = doc.profiles[name].with_changes(**changes)
            self._set({name: payload})
            doc.profiles[name] = updated
            self._write_index(doc)
        return updated

    # -- access-token cache -------------------------------------------------------------------
    def load_token(self, name: str) -> dict[str, Any] | None:
        raw = self._backend.get(token_key(name))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def save_token(self, name: str, data: dict[str, Any]) -> None:
        payload = json.dumps(data, separators=(",", ":"))
        self._prepare()
        with self._lock.hold():
            self._set({token_key(name): payload})

    def clear_token(self, name: str) -> None:
        self._prepare()
        with self._lock.hold():
            self._set({}, (token_key(name),))

    # -- unlocking (encrypted file) -----------------------------------------------------------
    def needs_unlock(self) -> bool:
        """True when secrets cannot be read without asking the user for a passphrase first."""
        return self._backend.needs_unlock()

    def unlock(self, passphrase: str) -> None:
        """Derive the file key from ``passphrase`` (no-op for the OS keyring). WrongPassphraseError."""
        if isinstance(self._backend, FileBackend):
            self._backend.unlock(passphrase)

    def creating_new_store(self) -> bool:
        """True when the encrypted file does not exist yet: ask for the passphrase twice."""
        return isinstance(self._backend, FileBackend) and not self._backend.exists()
