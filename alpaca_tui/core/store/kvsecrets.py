"""The :class:`~.protocols.SecretBackend` methods for stores of named text entries.

Both local backends keep flat string entries: ``<profile>`` holds the bundle payload and
``<profile>#token`` the cached access token (``#`` cannot occur in a profile name). A subclass
provides ``get`` and ``update`` (set and delete entries as one step where it can: the encrypted
file rewrites itself once; the OS keyring goes entry by entry) and the session methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

TOKEN_SUFFIX = "#token"


def token_key(name: str) -> str:
    return f"{name}{TOKEN_SUFFIX}"


class KeyValueSecrets(ABC):
    """Bundles and tokens as entries ``name`` and ``name#token`` of a string store."""

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The entry ``key``; None when absent."""

    @abstractmethod
    def update(self, sets: Mapping[str, str] | None = None, deletes: Iterable[str] = ()) -> None:
        """Set ``sets`` and delete ``deletes`` (absent entries are no error)."""

    def get_bundle(self, name: str) -> str | None:
        return self.get(name)

    def put_bundle(self, name: str, payload: str, *, new: bool = False) -> None:
        self.update({name: payload}, (token_key(name),) if new else ())

    def delete_bundle(self, name: str) -> None:
        self.update({}, (name,))

    def purge(self, name: str) -> None:
        self.update({}, (name, token_key(name)))

    def get_token(self, name: str) -> str | None:
        return self.get(token_key(name))

    def put_token(self, name: str, payload: str) -> None:
        self.update({token_key(name): payload})

    def delete_token(self, name: str) -> None:
        self.update({}, (token_key(name),))
