"""The cross-process token cache: back-to-back CLI runs share one token instead of minting one each.

:class:`TokenCache` is the seam: async ``load`` / ``save`` / ``clear``, and ``claim`` /
``release`` for single flight across processes. :class:`StoreTokenCache` keeps the access
token (never the client secret or key) in the secret store (``Store.load_token`` /
``save_token`` / ``clear_token``) with the token URL and a fingerprint of the credential it
was issued to, so a rotated key or a changed endpoint never reuses a stale token.

Single flight beyond one process: before a token request the broker calls ``claim``; the
store takes the claim with compare-and-swap on the token entry
(:mod:`alpaca_tui.core.store.tokencache`), so of N processes sharing the entry — one home,
or N homes on one OpenBao / Vault — one requests and the others wait for its token. With
the shared store that is one token request per lifetime for a whole fleet.

A cache is an optimisation: :meth:`TokenCache.load` answers None rather than fail, a failed
save, clear or release is ignored (the token itself is fine), and a claim that cannot be
taken or read lets the caller go ahead.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import time
from typing import Any, Protocol

from alpaca_tui.core.credentials import Secret
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.oauth import AccessToken, is_b64token
from alpaca_tui.core.redact import mask

__all__ = ["CACHE_VERSION", "StoreTokenCache", "TokenCache", "TokenStore", "process_owner",
           "secret_fingerprint", "token_from_cache", "token_to_cache"]

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

    async def claim(self, name: str) -> float | None:
        """Claim the next token request for ``name`` across processes. None: ours (request,
        then ``save`` or ``release``). Else the wall-clock time (epoch) until which another
        process holds the claim: wait for its token (``load``) until then."""
        ...

    async def release(self, name: str) -> None:
        """Give up our claim after a failed request (best effort; it also expires)."""
        ...


class TokenStore(Protocol):
    """The part of :class:`~alpaca_tui.core.store.Store` the cache uses (synchronous)."""

    def load_token(self, name: str) -> dict[str, Any] | None: ...
    def save_token(self, name: str, data: dict[str, Any]) -> None: ...
    def clear_token(self, name: str) -> None: ...
    def claim_token(self, name: str, owner: str, until: float, now: float) -> float | None: ...
    def release_token_claim(self, name: str, owner: str) -> None: ...


def process_owner() -> str:
    """Who holds a claim: this host and process, and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class StoreTokenCache:
    """:class:`TokenCache` over the secret store (its calls run in a thread).

    ``claim_ttl``: how long a claim holds when its owner never saves nor releases (killed):
    the token request's own time bound plus a margin.
    """

    def __init__(self, store: TokenStore, *, claim_ttl: float = 15.0) -> None:
        self._store = store
        self.claim_ttl = claim_ttl
        self.owner = process_owner()

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

    async def claim(self, name: str) -> float | None:
        now = time.time()  # wall clock: claims are compared across processes and machines
        try:
            return await asyncio.to_thread(self._store.claim_token, name, self.owner, now + self.claim_ttl,
                                           now)
        except (AlpacaTuiError, OSError):
            return None  # no claim to be had: go ahead (single flight within this process still holds)

    async def release(self, name: str) -> None:
        try:
            await asyncio.to_thread(self._store.release_token_claim, name, self.owner)
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
