"""The cross-process token cache: back-to-back CLI runs share one token instead of minting one each.

:class:`TokenCache` is the seam: three async methods, nothing else. Today's implementation,
:class:`StoreTokenCache`, keeps the access token (never the client secret or key) in the
secret store (``Store.load_token`` / ``save_token`` / ``clear_token``) with the token URL
and a fingerprint of the credential it was issued to, so a rotated key or a changed
endpoint never reuses a stale token. A shared backend (Vault, issue 14) implements the same
three methods for fleet-wide single flight.

A cache is an optimisation: :meth:`TokenCache.load` answers None rather than fail, and a
failed save or clear is ignored (the token itself is fine).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Protocol

from alpaca_tui.core.credentials import Secret
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.oauth import AccessToken, is_b64token
from alpaca_tui.core.redact import mask

__all__ = ["CACHE_VERSION", "StoreTokenCache", "TokenCache", "TokenStore", "secret_fingerprint",
           "token_from_cache", "token_to_cache"]

CACHE_VERSION = 1


class TokenCache(Protocol):
    """Where a credential's access token is shared between processes."""

    async def load(self, name: str, secret: Secret, token_url: str) -> AccessToken | None:
        """The cached token when it was issued to exactly this secret and endpoint, else None."""
        ...

    async def save(self, name: str, secret: Secret, token: AccessToken) -> None:
        """Share ``token`` (best effort)."""
        ...

    async def clear(self, name: str) -> None:
        """Drop the cached token (after a rotation; best effort)."""
        ...


class TokenStore(Protocol):
    """The part of :class:`~alpaca_tui.core.store.Store` the cache uses (synchronous)."""

    def load_token(self, name: str) -> dict[str, Any] | None: ...
    def save_token(self, name: str, data: dict[str, Any]) -> None: ...
    def clear_token(self, name: str) -> None: ...


class StoreTokenCache:
    """:class:`TokenCache` over the secret store (its calls run in a thread)."""

    def __init__(self, store: TokenStore) -> None:
        self._store = store

    async def load(self, name: str, secret: Secret, token_url: str) -> AccessToken | None:
        try:
            data = await asyncio.to_thread(self._store.load_token, name)
        except AlpacaTuiError:
            return None
        return token_from_cache(data, secret, token_url)

    async def save(self, name: str, secret: Secret, token: AccessToken) -> None:
        try:
            await asyncio.to_thread(self._store.save_token, name, token_to_cache(token, secret))
        except (AlpacaTuiError, OSError):
            pass  # the cache is an optimisation; the token itself is fine

    async def clear(self, name: str) -> None:
        try:
            await asyncio.to_thread(self._store.clear_token, name)
        except (AlpacaTuiError, OSError):
            pass


# -- the cache record ----------------------------------------------------------------------------


def secret_fingerprint(secret: Secret) -> str:
    """A one-way fingerprint of the credential (key ID + secret material) for cache matching."""
    h = hashlib.sha256()
    h.update(secret.key_id.encode())
    h.update(b"\0")
    h.update((secret.secret or secret.private_key_pem or "").encode())
    return h.hexdigest()[:32]


def token_to_cache(token: AccessToken, secret: Secret) -> dict[str, Any]:
    return {
        "v": CACHE_VERSION,
        "access_token": token.value,
        "token_type": token.token_type,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "token_url": token.token_url,
        "key_fingerprint": secret_fingerprint(secret),
        "key_id_masked": mask(secret.key_id),
    }


def token_from_cache(data: dict[str, Any] | None, secret: Secret, token_url: str) -> AccessToken | None:
    """The cached token when it belongs to this exact credential and endpoint, else None."""
    if not isinstance(data, dict) or data.get("v") != CACHE_VERSION:
        return None
    if data.get("token_url") != token_url or data.get("key_fingerprint") != secret_fingerprint(secret):
        return None
    value = data.get("access_token")
    try:
        issued_at = float(data["issued_at"])
        expires_at = float(data["expires_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if not is_b64token(value) or not expires_at > issued_at:  # a tampered record is no token
        return None
    token_type = str(data.get("token_type") or "Bearer")
    assert isinstance(value, str)
    return AccessToken(value=value, expires_at=expires_at, issued_at=issued_at, token_type=token_type,
                       source="cache", token_url=token_url)
