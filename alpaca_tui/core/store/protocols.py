"""The two seams of the store: where the index lives and where secrets live.

:class:`~alpaca_tui.core.store.Store` composes one :class:`IndexBackend` and one
:class:`SecretBackend`; the registry (:mod:`.registry`) names the pairs a user can pick.

Today's implementations:

=================  ==========================================  =================================
registry name      IndexBackend                                SecretBackend
=================  ==========================================  =================================
``system``         :class:`.index.FileIndex` (index.json,      :class:`.system.SystemBackend`
                   home lock, atomic rename)                   (OS keyring)
``file``           :class:`.index.FileIndex`                   :class:`.filecrypt.FileBackend`
                                                               (secrets.enc, scrypt + AES-GCM)
=================  ==========================================  =================================

A shared KV v2 store (OpenBao / Vault) fits the same shapes: its index is one document
written with check-and-set (``update`` re-reads and calls ``fn`` again on a conflict),
secrets are one entry per profile, tokens one entry per profile.

Ordering that crash recovery (:mod:`.reconcile`) relies on: ``Store.commit`` writes the
bundle from inside ``fn`` and the index after ``fn`` returns, so a kill between the two
leaves the index behind the bundle, never ahead of it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from alpaca_tui.core.store.index import IndexDoc

T = TypeVar("T")


@dataclass(frozen=True)
class Edit(Generic[T]):
    """What an :meth:`IndexBackend.update` step decided.

    ``value`` is returned by ``update``. ``write``: store the (mutated) document; False
    leaves the index exactly as it was (no write, same stamp). ``rollback`` runs, still
    inside the transaction, when writing the document fails (the error is then re-raised).
    ``after`` runs inside the transaction once the document is stored (or was not to be
    written): for secret deletions that must not race a concurrent add of the same name.
    """

    value: T
    write: bool = True
    rollback: Callable[[], None] | None = None
    after: Callable[[], None] | None = None


@runtime_checkable
class IndexBackend(Protocol):
    """The non-secret profile index: one :class:`IndexDoc`, read and changed atomically."""

    location: str  # where it lives, for messages (a path, a KV path)

    def read(self) -> IndexDoc:
        """A consistent snapshot (never a half-written document). Takes no lock."""
        ...

    def update(self, fn: Callable[[IndexDoc], Edit[T]]) -> T:
        """Atomic read-modify-write: read the current document, let ``fn`` change it in place,
        store it if ``fn`` says so, return ``Edit.value``.

        An exception from ``fn`` aborts: nothing is written. No other ``update`` of the same
        index (in any process) interleaves with this one. ``fn`` may be called again with a
        fresh document (a check-and-set backend retries on a conflict), so its side effects
        must be safe to repeat: writing the same secret payload again is.
        """
        ...

    def stamp(self) -> Hashable:
        """A cheap token that changes whenever the index does (the file's stat, a KV version);
        None when there is no index yet. Compared for equality only."""
        ...


@runtime_checkable
class SecretBackend(Protocol):
    """Secret material per profile: its bundle and its cached access token.

    Payloads are opaque text (``Store`` serialises a ``SecretBundle`` / token dict to JSON and
    parses it back). Every method is synchronous, may block (bounded), and raises
    ``StoreError`` with a one-line message that never contains a secret.
    """

    kind: str   # the registry name, recorded in the index as the home's backend
    label: str  # shown to users: "OS keyring (Secret Service)", "encrypted file"

    # -- session -------------------------------------------------------------------------
    def prepare(self) -> None:
        """Do slow unlocking work (key derivation, a prompt) now. ``Store`` calls it before it
        starts an index transaction that writes secrets, so that transaction stays short."""
        ...

    def needs_unlock(self) -> bool:
        """True when secrets cannot be read without asking the user for a passphrase first."""
        ...

    def unlock(self, passphrase: str) -> None:
        """Unlock with ``passphrase`` (a no-op where there is nothing to unlock).
        WrongPassphraseError."""
        ...

    def creating_new_store(self) -> bool:
        """True when the first write will create the secret store (ask for a passphrase twice)."""
        ...

    # -- bundles ---------------------------------------------------------------------------
    def get_bundle(self, name: str) -> str | None:
        """The bundle payload of ``name``; None when there is none."""
        ...

    def put_bundle(self, name: str, payload: str, *, new: bool = False) -> None:
        """Store ``name``'s bundle. ``new``: the profile is being added, so a token cached
        under that name (by an earlier profile of the same name) is dropped in the same step."""
        ...

    def delete_bundle(self, name: str) -> None:
        """Delete ``name``'s bundle only (undoing an add); absent is not an error."""
        ...

    def purge(self, name: str) -> None:
        """Delete everything kept for ``name``: bundle and cached token; absent is not an error."""
        ...

    def ensure_reachable(self, name: str) -> None:
        """Raise StoreError now if ``name``'s secrets could not be read or deleted (a locked or
        dead keyring), before a removal changes the index. No-op when already proven open."""
        ...

    def bundle_names(self) -> list[str] | None:
        """Sorted names that have a bundle (tokens excluded), or None when the backend cannot
        list them (the OS keyring)."""
        ...

    # -- cross-process access-token cache ----------------------------------------------------
    def get_token(self, name: str) -> str | None:
        ...

    def put_token(self, name: str, payload: str) -> None:
        ...

    def delete_token(self, name: str) -> None:
        ...


__all__ = ["Edit", "IndexBackend", "SecretBackend"]
