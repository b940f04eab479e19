"""What a store's credentials allow: the actions a role may be refused, and a secret's version.

Local stores (the OS keyring, the encrypted file) allow everything to whoever can open them. A
shared store has roles: in OpenBao / Vault a token's policies decide, read from
``sys/capabilities-self`` on the documented layout (``core/store/vault/roles.py``). A viewer
sees every profile (the non-secret index) and is refused every action below but ``LIST``.

:meth:`SecretBackend.refusal` answers None (allowed) or one line naming what is missing and
where; :meth:`Store.require` raises it as :class:`~alpaca_tui.core.errors.AccessDeniedError`
(exit 1) before anything is asked or changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from alpaca_tui.core.errors import AccessDeniedError

if TYPE_CHECKING:
    from alpaca_tui.core.store.protocols import SecretBackend


class Action(StrEnum):
    LIST = "list"        # list / show profiles (the index only)
    CREATE = "create"    # add a profile
    ROTATE = "rotate"    # rotate, stage, roll back, retire (writes the secret bundle)
    DELETE = "delete"    # remove a profile and its secret
    REVEAL = "reveal"    # show a secret, a private key's public half, an access token
    CHECK = "check"      # authenticate with the secret: check, request
    EXEC = "exec"        # hand the credential to a program
    PROXY = "proxy"      # sign requests for other programs


@dataclass(frozen=True)
class BundleVersion:
    """Where a versioned store is with one profile's secret bundle (``profiles show``)."""

    version: int
    written_at: datetime | None
    written_by: str | None   # the writer's display name (a Vault token's), when recorded


class StoreAccess:
    """The roles-and-versions methods of :class:`~.store.Store` (its secret backend answers)."""

    secret_backend: SecretBackend

    def refusal(self, action: Action, name: str | None = None) -> str | None:
        return self.secret_backend.refusal(action, name)

    def require(self, action: Action, name: str | None = None) -> None:
        """AccessDeniedError (one line: the missing capability and where) unless allowed."""
        why = self.refusal(action, name)
        if why is not None:
            raise AccessDeniedError(why)

    def is_viewer(self) -> bool:
        """True when this store's credentials may look but not change (a Vault viewer token)."""
        return self.refusal(Action.CREATE) is not None

    def bundle_version(self, name: str) -> BundleVersion | None:
        """Version, time and writer of ``name``'s secret bundle, where the backend keeps versions."""
        return self.secret_backend.bundle_version(name)


__all__ = ["Action", "BundleVersion", "StoreAccess"]
