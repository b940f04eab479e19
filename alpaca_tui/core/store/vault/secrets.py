"""Secret bundles and cached tokens as KV v2 entries: ``<prefix>/secrets/<profile>``,
``<prefix>/tokens/<profile>``.

Each entry's data is one field holding the opaque payload (``{"bundle": "<JSON>"}``,
``{"token": "<JSON>"}``). Every write is check-and-set:

* **bundles** — writing the payload that is already there is no write at all (a retried
  index transaction runs its step again: no new version per retry). A new profile's bundle
  (``new=True``) is created with ``cas=0``; a bundle already there is replaced only when
  this process wrote it, or when it is an orphan (an add that died before its index write)
  older than :data:`ORPHAN_AGE` — a younger one is someone adding that name right now, and
  the add is refused rather than mixing two people's secrets. Any other bundle write
  replaces the version this process last read or wrote; when someone else wrote one since,
  it is refused ("changed meanwhile") instead of overwriting their rotation. Each version
  records who wrote it: ``custom_metadata["written_by_v<N>"]`` = the token's display name.
* **tokens** — ``swap_token`` is the compare-and-swap the refresh claim needs;
  ``put_token`` replaces whatever version is there (check-and-set, retried).

Removal deletes the keys with all their versions.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.access import Action, BundleVersion
from alpaca_tui.core.store.vault.kv import KV, Entry, parse_time
from alpaca_tui.core.store.vault.roles import Roles
from alpaca_tui.core.store.vault.session import NAME, CasConflict, VaultSession

ORPHAN_AGE = 60.0      # s: a bundle without a profile younger than this is an add in progress
PUT_TRIES = 20
BY_PREFIX = "written_by_v"


class VaultSecrets:
    """:class:`~..protocols.SecretBackend` on KV v2 (see the module doc)."""

    kind = "vault"
    label = NAME

    def __init__(self, session: VaultSession, kv: KV, roles: Roles) -> None:
        self.session = session
        self.kv = kv
        self.roles = roles
        self._seen: dict[str, int] = {}      # bundle versions this process read or wrote
        self._written: dict[str, int] = {}   # ... and of those, the ones it wrote
        self._mutex = threading.Lock()

    # -- session -----------------------------------------------------------------------------
    def prepare(self) -> None:
        self.session.client()  # log in now (AppRole, lookup, mount check), outside a transaction

    def needs_unlock(self) -> bool:
        return False

    def unlock(self, passphrase: str) -> None:
        pass

    def creating_new_store(self) -> bool:
        return False

    def ensure_reachable(self, name: str) -> None:
        self.kv.metadata(self._key(name))

    def bundle_names(self) -> list[str] | None:
        folder = self.kv.config.key("secrets")
        return sorted(k for k in self.kv.list(folder) if not k.endswith("/"))

    # -- bundles -----------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return self.kv.config.key("secrets", name)

    def _token_key(self, name: str) -> str:
        return self.kv.config.key("tokens", name)

    def _note(self, name: str, version: int, *, wrote: bool = False) -> None:
        with self._mutex:
            self._seen[name] = version
            if wrote:
                self._written[name] = version
            elif self._written.get(name) != version:
                self._written.pop(name, None)

    def get_bundle(self, name: str) -> str | None:
        entry = self.kv.read(self._key(name))
        if entry.version:
            self._note(name, entry.version)
        value = (entry.data or {}).get("bundle")
        return value if isinstance(value, str) else None

    def put_bundle(self, name: str, payload: str, *, new: bool = False) -> None:
        key = self._key(name)
        current = self.kv.read(key)
        if current.version and (current.data or {}).get("bundle") == payload:
            self._note(name, current.version, wrote=self._written.get(name) == current.version)
            return  # already there (a retried transaction): no new version
        self._may_replace(name, current, new=new)
        try:
            version = self.kv.write(key, {"bundle": payload}, cas=current.version)
        except CasConflict:
            if new:
                raise StoreError(f"someone is adding a profile named {name!r} to {self.kv.config.where()} "
                                 "right now; try again in a minute") from None
            raise self._changed(name, "while it was being written") from None
        self._note(name, version, wrote=True)
        self._record_writer(key, version)
        if new:
            self.delete_token(name)

    def _may_replace(self, name: str, current: Entry, *, new: bool) -> None:
        if not current.version:
            return
        with self._mutex:
            mine = self._written.get(name) == current.version
            seen = self._seen.get(name)
        if mine:
            return
        if new:
            age = self._age(current)
            if age is not None and age < ORPHAN_AGE:
                raise StoreError(f"someone is adding a profile named {name!r} to {self.kv.config.where()} "
                                 f"right now (its secret was written {age:.0f} s ago); try again in a minute")
            return  # an orphan of an interrupted add: replaced
        if seen is not None and seen != current.version:
            raise self._changed(name, f"since this process read it (now version {current.version})")

    def _changed(self, name: str, when: str) -> StoreError:
        return StoreError(f"the secret of profile {name!r} was changed by someone else {when}; nothing was "
                          "overwritten: run the command again")

    def _age(self, entry: Entry) -> float | None:
        if entry.created is None:
            return None
        return (datetime.now(UTC) - entry.created).total_seconds()

    def _record_writer(self, key: str, version: int) -> None:
        info = self.session.token
        by = info.display_name if info is not None else "unknown"
        try:
            meta = self.kv.metadata(key) or {}
            keep = {str(v) for v in (meta.get("versions") or {})}
            stale = {k: None for k in (meta.get("custom_metadata") or {})
                     if k.startswith(BY_PREFIX) and k[len(BY_PREFIX):] not in keep}
            self.kv.set_custom(key, {**stale, f"{BY_PREFIX}{version}": by})
        except StoreError:
            pass  # the version is written; only who wrote it goes unrecorded

    def delete_bundle(self, name: str) -> None:
        with self._mutex:
            mine = self._written.get(name)
        current = self.kv.read(self._key(name))
        if current.version and current.version == mine:
            self.kv.destroy(self._key(name))  # undoing our own add: never someone else's secret
            with self._mutex:
                self._written.pop(name, None)
                self._seen.pop(name, None)

    def purge(self, name: str) -> None:
        self.kv.destroy(self._key(name))
        self.kv.destroy(self._token_key(name))
        with self._mutex:
            self._written.pop(name, None)
            self._seen.pop(name, None)

    def bundle_version(self, name: str) -> BundleVersion | None:
        meta = self.kv.metadata(self._key(name))
        if not meta or not meta.get("current_version"):
            return None
        version = int(meta["current_version"])
        when = parse_time(((meta.get("versions") or {}).get(str(version)) or {}).get("created_time"))
        by = (meta.get("custom_metadata") or {}).get(f"{BY_PREFIX}{version}")
        return BundleVersion(version, when, by if isinstance(by, str) else None)

    # -- tokens ------------------------------------------------------------------------------
    def get_token(self, name: str) -> str | None:
        value = (self.kv.read(self._token_key(name)).data or {}).get("token")
        return value if isinstance(value, str) else None

    def put_token(self, name: str, payload: str) -> None:
        key = self._token_key(name)
        for attempt in range(PUT_TRIES):
            current = self.kv.read(key)
            try:
                self.kv.write(key, {"token": payload}, cas=current.version)
                return
            except CasConflict:
                time.sleep(0.005 * (attempt + 1))
        raise StoreError(f"the cached token of {name!r} kept changing; it was not saved")

    def delete_token(self, name: str) -> None:
        self.kv.destroy(self._token_key(name))

    def swap_token(self, name: str, expected: str | None, payload: str) -> bool:
        key = self._token_key(name)
        current = self.kv.read(key)
        value = (current.data or {}).get("token") if current.version else None
        if value != expected:
            return False
        try:
            self.kv.write(key, {"token": payload}, cas=current.version)
        except CasConflict:
            return False
        return True

    # -- roles -------------------------------------------------------------------------------
    def refusal(self, action: Action, name: str | None = None) -> str | None:
        return self.roles.refusal(action, name)


__all__ = ["BY_PREFIX", "ORPHAN_AGE", "VaultSecrets"]
