"""The secret store: one :class:`~.protocols.IndexBackend` + one :class:`~.protocols.SecretBackend`.

:class:`Store` holds the rules that do not depend on where things live: the profile contract
(names, fields, duplicates), a home pinned to its first backend, the order of the two writes
(bundle, then index, in one index transaction: what :mod:`.reconcile` relies on), the repair
of an index entry from its bundle, the token cache's JSON. Where things live is the two
backends it composes, opened by name from :mod:`.registry` (built-ins: :mod:`.builtin`).

Backend choice (named by ``backend=`` or ``$ALPACA_TUI_KEYRING``, else the one this home's
index records, else auto: the OS keyring when a real round trip works, else the encrypted
file) is :func:`.registry.select_backend`; why is kept in ``selection_notes``. Forcing a
backend that is unavailable, or one different from where this home's secrets already are,
raises :class:`BackendUnavailableError` with the reason and a fix.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile, SecretBundle, validate_name
from alpaca_tui.core.errors import BackendUnavailableError, NotFoundError, StoreError, UsageError
from alpaca_tui.core.store.access import StoreAccess
from alpaca_tui.core.store.builtin import SECRETS_NAME
from alpaca_tui.core.store.fileindex import INDEX_NAME
from alpaca_tui.core.store.fsutil import HomeLock
from alpaca_tui.core.store.index import IndexDoc
from alpaca_tui.core.store.pin import recorded_backend
from alpaca_tui.core.store.protocols import Edit, IndexBackend, SecretBackend
from alpaca_tui.core.store.reconcile import Repair, index_repairs
from alpaca_tui.core.store.registry import (
    BACKEND_ENV,
    HOME_ENV,
    OpenContext,
    Opened,
    backend_label,
    backend_names,
    default_home,
    requested_backend,
    select_backend,
)
from alpaca_tui.core.store.safefile import check_home
from alpaca_tui.core.store.tokencache import TokenEntries

if TYPE_CHECKING:
    from alpaca_tui.core.store.system import KeyringProbe  # the OS keyring's module: only when it is opened

BACKEND_KINDS = backend_names()  # the built-ins, in auto order: ("system", "file")

_PROFILE_FIELDS = frozenset(f.name for f in dataclasses.fields(Profile))
T = TypeVar("T")


def bundle_payload(bundle: SecretBundle) -> str:
    """How a secret bundle is stored in the backend (compact JSON)."""
    return json.dumps(bundle.to_dict(), separators=(",", ":"))


class SecretLostError(StoreError):
    """A profile's secret is missing from its backend, or cannot be parsed."""


class Store(TokenEntries, StoreAccess):
    """Profiles (an IndexBackend) + secrets (a SecretBackend). All methods are synchronous.

    The access-token cache and its refresh claims (``load_token``, ``save_token``,
    ``clear_token``, ``claim_token``, ``release_token_claim``) are :class:`.tokencache.TokenEntries`;
    roles and versions (``refusal``, ``require``, ``is_viewer``, ``bundle_version``) are
    :class:`.access.StoreAccess`.
    """

    home: Path
    index_path: Path
    secrets_path: Path
    backend_kind: str
    backend_label: str
    selection_notes: list[str]
    keyring_probe: KeyringProbe | None
    index_backend: IndexBackend
    secret_backend: SecretBackend
    repair_notes: list[str]                       # index entries repaired from their bundles
    on_repair: Callable[[str], None] | None       # told each repair note once (the CLI warns)

    def __init__(self, home: Path, opened: Opened, lock: HomeLock, *, notes: list[str], clock: Clock,
                 keyring_probe: KeyringProbe | None) -> None:
        self.home = home
        self.index_path = home / INDEX_NAME
        self.secrets_path = home / SECRETS_NAME
        self.index_backend = opened.index
        self.secret_backend = opened.secrets
        self._lock = lock  # the home lock the local backends share
        self.backend_kind = opened.secrets.kind
        self.backend_label = opened.secrets.label
        self.selection_notes = notes
        self.clock = clock
        self.keyring_probe = keyring_probe
        self.repair_notes = []
        self.on_repair = None

    @property
    def _backend(self) -> SecretBackend:  # the name older code and tests use
        return self.secret_backend

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
        check_home(home)  # ours, and nobody else can change it or a directory above it
        lock = HomeLock(home)
        want, source = requested_backend(backend)
        # the home's record of its backend: store.json (a remote index), else index.json
        recorded, count, pin = recorded_backend(home)
        ctx = OpenContext(home, lock, passphrase, passphrase_provider, given_probe=keyring_probe, pin=pin)
        opened, note = select_backend(ctx, want, source, recorded, count)
        return cls(home, opened, lock, notes=[note], clock=clock, keyring_probe=ctx.probe)

    # -- helpers -----------------------------------------------------------------------------
    def _transact(self, step: Callable[[IndexDoc], Edit[T]]) -> T:
        """One index transaction (see :meth:`IndexBackend.update`) with this store's rules: a home
        pinned to another backend is refused; a written index records this backend."""
        def guarded(doc: IndexDoc) -> Edit[T]:
            if doc.profiles and doc.backend and doc.backend != self.backend_kind:
                raise BackendUnavailableError(
                    f"this home's profiles keep their secrets in the {backend_label(doc.backend)}, "
                    f"not the {backend_label(self.backend_kind)} this process opened")
            edit = step(doc)
            if edit.write:
                doc.backend = self.backend_kind if doc.profiles else None
            return edit

        return self.index_backend.update(guarded)

    def _prepare(self) -> None:
        """Slow unlocking work (scrypt) before an index transaction, so the lock is held briefly."""
        self.secret_backend.prepare()

    @staticmethod
    def _not_found(name: str) -> NotFoundError:
        return NotFoundError(f"no profile named {name!r} (see: alpaca-tui profiles list)")

    def _existing(self, doc: IndexDoc, name: str) -> Profile:
        if name not in doc.profiles:
            raise self._not_found(name)
        return doc.profiles[name]

    def index_stamp(self) -> Hashable:
        """Changes whenever the index does (one ``stat`` for the local file); see ``IndexBackend.stamp``."""
        return self.index_backend.stamp()

    # -- index (never reads a secret) ---------------------------------------------------------
    def list_profiles(self) -> list[Profile]:
        doc = self.index_backend.read()
        return [doc.profiles[k] for k in sorted(doc.profiles)]

    def get_profile(self, name: str) -> Profile:
        return self._existing(self.index_backend.read(), name)

    def has_profile(self, name: str) -> bool:
        return name in self.index_backend.read().profiles

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

        def step(doc: IndexDoc) -> Edit[Profile]:
            updated = self._existing(doc, name).with_changes(**changes)
            doc.profiles[name] = updated
            return Edit(updated)

        return self._transact(step)

    # -- profiles with secrets ----------------------------------------------------------------
    def add_profile(self, profile: Profile, bundle: SecretBundle) -> None:
        validate_name(profile.name)
        payload = bundle_payload(bundle)
        secrets = self.secret_backend
        self._prepare()

        def undo() -> None:  # the index write failed: take the new secret out again
            try:
                secrets.delete_bundle(profile.name)
            except StoreError:
                pass

        def step(doc: IndexDoc) -> Edit[None]:
            if profile.name in doc.profiles:
                raise UsageError(f"profile {profile.name!r} already exists")
            secrets.put_bundle(profile.name, payload, new=True)
            doc.profiles[profile.name] = profile
            return Edit(None, rollback=undo)

        self._transact(step)

    def remove_profile(self, name: str) -> None:
        secrets = self.secret_backend
        self._prepare()

        def purge() -> None:
            try:
                secrets.purge(name)
            except StoreError as exc:
                raise StoreError(f"removed profile {name!r}, but its secret could not be deleted from the "
                                 f"{self.backend_label} ({exc.message}); add and remove the profile again "
                                 "once the store is reachable to delete it") from None

        def step(doc: IndexDoc) -> Edit[None]:
            # Index first: an interruption leaves at worst a secret without a profile (doctor lists
            # it; adding the name again replaces it), never a listed profile whose secret is gone.
            # An unreachable or locked OS keyring fails here, before anything changes (the
            # encrypted file was already opened by prepare).
            self._existing(doc, name)
            secrets.ensure_reachable(name)
            del doc.profiles[name]
            return Edit(None, after=purge)

        self._transact(step)

    def _read_bundle(self, name: str) -> SecretBundle:
        raw = self.secret_backend.get_bundle(name)
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

        def step(doc: IndexDoc) -> Edit[tuple[Profile, SecretBundle, Repair]]:
            # writers change bundle + index in one transaction: re-read both
            profile = self._existing(doc, name)
            bundle = self._read_bundle(name)
            repair = index_repairs(profile, bundle)
            if repair:
                profile = profile.with_changes(**repair.changes)
                doc.profiles[name] = profile
            return Edit((profile, bundle, repair), write=bool(repair))

        profile, bundle, repair = self._transact(step)
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
        return self.secret_backend.bundle_names()

    def load_bundle(self, name: str) -> SecretBundle:
        """The profile's secret bundle (the index entry is repaired first if it disagrees)."""
        return self.load(name)[1]

    def save_bundle(self, name: str, bundle: SecretBundle) -> None:
        payload = bundle_payload(bundle)
        self._prepare()

        def step(doc: IndexDoc) -> Edit[None]:
            self._existing(doc, name)
            self.secret_backend.put_bundle(name, payload)
            return Edit(None, write=False)

        self._transact(step)

    def commit(self, name: str, bundle: SecretBundle, **changes: Any) -> Profile:
        """Save ``bundle`` and then apply ``changes`` to the profile, both in one index transaction
        (one hold of the home lock), so no other alpaca-tui process sees one without the other.
        The two writes still go to two places: a process killed between them leaves the index
        behind the bundle, and the next :meth:`load` repairs it from the bundle."""
        self._check_changes(name, changes)
        payload = bundle_payload(bundle)
        self._prepare()

        def step(doc: IndexDoc) -> Edit[Profile]:
            updated = self._existing(doc, name).with_changes(**changes)
            self.secret_backend.put_bundle(name, payload)  # the bundle first: it is the truth
            doc.profiles[name] = updated
            return Edit(updated)

        return self._transact(step)

    # -- unlocking (encrypted file) -----------------------------------------------------------
    def needs_unlock(self) -> bool:
        """True when secrets cannot be read without asking the user for a passphrase first."""
        return self.secret_backend.needs_unlock()

    def unlock(self, passphrase: str) -> None:
        """Derive the file key from ``passphrase`` (no-op for the OS keyring). WrongPassphraseError."""
        self.secret_backend.unlock(passphrase)

    def creating_new_store(self) -> bool:
        """True when the encrypted file does not exist yet: ask for the passphrase twice."""
        return self.secret_backend.creating_new_store()


__all__ = [
    "BACKEND_ENV",
    "BACKEND_KINDS",
    "HOME_ENV",
    "INDEX_NAME",
    "SECRETS_NAME",
    "SecretLostError",
    "Store",
    "bundle_payload",
    "default_home",
    "requested_backend",
]
