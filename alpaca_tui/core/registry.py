"""The credentials an engine holds, kept in step with the store.

A :class:`Credential` is one profile and its secret bundle as the engine holds them, with
its :class:`~alpaca_tui.core.auth.broker.TokenBroker` (secret material never leaves the
engine). :class:`CredentialRegistry` loads a credential from the store on first use and,
on every later use, follows the store's index: when another process rotated the key or the
TUI edited the profile, the profile is re-read and, if the credential itself changed, the
secret reloaded and the token dropped. A previous secret past its retirement time is
dropped (and the drop persisted) on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alpaca_tui.core.auth.broker import TokenBroker, TokenService
from alpaca_tui.core.auth.state import BrokerState
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import HeldCredential, Profile, SecretBundle
from alpaca_tui.core.errors import AlpacaTuiError, NotFoundError
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.retirement import retire_due
from alpaca_tui.core.rotation import retire_if_due
from alpaca_tui.core.store.fileindex import FileIndex

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store

__all__ = ["Credential", "CredentialRegistry"]


@dataclass(eq=False, repr=False)
class Credential(HeldCredential):
    """One credential as the engine holds it: the profile, its bundle and its token broker."""

    persistent: bool = True                 # False: a rotation candidate (no cache, no store updates)
    index_stamp: Hashable = None            # Store.index_stamp() when read (the file's stat, a KV version)
    broker: TokenBroker | None = field(default=None, repr=False)

    @property
    def tokens(self) -> TokenBroker:
        if self.broker is None:
            raise AlpacaTuiError(f"credential {self.name!r} is not held by an engine")
        return self.broker

    def secrets(self) -> list[str | None]:
        """Every secret value to redact from what the servers say (incl. the current token)."""
        if self.broker is not None:
            return self.broker.secrets()
        return super().secrets()


# The profile fields that, when another process changed them, mean the credential itself may
# have changed (so the secret is reloaded).
_CREDENTIAL_FIELDS = ("key_id_masked", "rotated_at", "rotation_state", "previous_retire_at", "flow", "env",
                      "endpoints", "public_key_fingerprint")


class CredentialRegistry:
    """Name -> :class:`Credential`, loaded from ``store`` on first use (or registered by hand)."""

    def __init__(self, store: Store | None, *, clock: Clock, tokens: TokenService) -> None:
        self.store = store
        self._clock = clock
        self._tokens = tokens
        self._creds: dict[str, Credential] = {}
        self._load_locks: dict[str, asyncio.Lock] = {}

    def known(self) -> list[str]:
        return sorted(self._creds)

    def peek(self, name: str) -> Credential | None:
        """The credential if held now (no store access)."""
        return self._creds.get(name)

    def add(self, profile: Profile, bundle: SecretBundle) -> Credential:
        """Register a credential (replaces one of the same name)."""
        cred = self._attach(Credential(profile, bundle, persistent=self.store is not None))
        self._creds[profile.name] = cred
        return cred

    def forget(self, name: str) -> None:
        self._creds.pop(name, None)

    def candidate(self, profile: Profile, bundle: SecretBundle) -> Credential:
        """A credential to verify (a rotation's new secret): not registered, not cached."""
        return self._attach(Credential(profile, bundle, persistent=False))

    def install(self, name: str, profile: Profile, bundle: SecretBundle,
                token: AccessToken | None) -> Credential:
        """Replace ``name`` after a promotion or rollback, starting with ``token`` (the verified
        secret's, when still fresh); the token counters go on."""
        old = self._creds.get(name)
        cred = Credential(profile, bundle)
        tok = token if token is not None and self._tokens.policy.fresh(token, self._clock.time()) else None
        self._attach(cred, BrokerState.succeeding(old.tokens.state if old is not None else None, tok))
        self._creds[name] = cred
        return cred

    def _attach(self, cred: Credential, state: BrokerState | None = None) -> Credential:
        cred.broker = TokenBroker(cred, self._tokens, scheduled=lambda: self._creds.get(cred.name) is cred,
                                  state=state)
        return cred

    async def _stamp(self) -> Hashable:
        """The store's index stamp: one stat for the local file, in a thread for a shared store
        (a network round trip must not hold the event loop, e.g. the TUI's)."""
        store = self.store
        if store is None:
            return None
        if isinstance(store.index_backend, FileIndex):
            return store.index_stamp()
        return await asyncio.to_thread(store.index_stamp)

    async def get(self, name: str) -> Credential:
        """The credential, loaded on first use and kept in step with the store (module doc)."""
        cred = self._creds.get(name)
        if cred is not None:
            if cred.persistent and self.store is not None:
                if cred.index_stamp != await self._stamp():
                    await self._sync(cred, self.store)
                if retire_due(cred.bundle, self._clock.time()):
                    cred.profile, cred.bundle = await retire_if_due(self.store, self._clock, cred.profile,
                                                                    cred.bundle)
            return cred
        if self.store is None:
            raise NotFoundError(f"no credential named {name!r} in this engine")
        store = self.store
        async with self._load_locks.setdefault(name, asyncio.Lock()):
            cred = self._creds.get(name)
            if cred is not None:
                return cred
            stamp = await self._stamp()
            # load() repairs an index entry left behind its bundle by a killed process
            profile, bundle = await asyncio.to_thread(store.load, name)
            profile, bundle = await retire_if_due(store, self._clock, profile, bundle)
            cred = self._attach(Credential(profile, bundle, index_stamp=stamp))
            self._creds[name] = cred
            return cred

    async def _sync(self, cred: Credential, store: Store) -> None:
        async with self._load_locks.setdefault(cred.name, asyncio.Lock()):
            stamp = await self._stamp()
            if cred.index_stamp == stamp:
                return
            try:
                profile = await asyncio.to_thread(store.get_profile, cred.name)
            except NotFoundError:
                self._creds.pop(cred.name, None)
                raise
            old = cred.profile
            if any(getattr(profile, f) != getattr(old, f) for f in _CREDENTIAL_FIELDS):
                profile, bundle = await asyncio.to_thread(store.load, cred.name)
                if bundle.active != cred.bundle.active or profile.endpoints != old.endpoints:
                    cred.tokens.drop()
                cred.bundle = bundle
            cred.profile = profile
            cred.index_stamp = stamp
