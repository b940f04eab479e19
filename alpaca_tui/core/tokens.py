"""Per-credential token bookkeeping: the snapshot the UI reads, and the cross-process cache.

:class:`TokenState` is an immutable snapshot (``Engine.token_state(name)``) with epoch
times from the engine's injected clock; ``remaining(now)`` is what a countdown shows.

The cross-process cache keeps the access token (never the client secret or key) in the
secret store (``Store.save_token``) together with the token URL and a fingerprint of the
credential it was issued to, so a rotated key or a changed endpoint never reuses a stale
token, and back-to-back CLI runs share one token instead of minting one each.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from alpaca_tui.core.credentials import Secret
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.redact import mask

CACHE_VERSION = 1
CLOCK_BACK_TOLERANCE = 5.0  # seconds the clock may step back before a token's issue time is distrusted
MIN_TOKEN_LEFT = 5.0  # a token with less than this left is never sent (it could expire in flight)


@dataclass(frozen=True)
class TokenState:
    """What the engine knows about one credential's access token (no token value in here)."""

    name: str
    issued_at: float | None = None
    expires_at: float | None = None
    refresh_count: int = 0          # tokens that replaced an earlier one (0 for the first)
    last_error: str | None = None   # one line, redacted; cleared by the next success
    refreshing: bool = False        # a token request is in flight right now
    token_requests: int = 0         # POSTs to the token endpoint by this engine (incl. failed)
    source: str | None = None       # "network" | "cache" for the current token
    failures: int = 0               # token requests that failed in a row (0 after a success)
    retry_at: float | None = None   # no automatic token request before this time (backoff), or None

    def remaining(self, now: float) -> float | None:
        """Seconds left, between 0 and the token's lifetime, or None when there is no token.

        Never negative (a clock jumped past expiry shows 0) and never more than the lifetime
        (a clock set back after the token was issued cannot make it look younger than new)."""
        if self.expires_at is None:
            return None
        left = max(0.0, self.expires_at - now)
        life = self.lifetime()
        return min(left, life) if life is not None and life > 0 else left

    def clock_went_back(self, now: float, tolerance: float = CLOCK_BACK_TOLERANCE) -> bool:
        """True when ``now`` is before the token's issue time: the local clock was set back, so
        the time left cannot be trusted and the token should be renewed."""
        return self.issued_at is not None and now < self.issued_at - tolerance

    def retry_in(self, now: float) -> float | None:
        """Seconds until the engine's next automatic token request after failures, or None."""
        if self.retry_at is None:
            return None
        return max(0.0, self.retry_at - now)

    def lifetime(self) -> float | None:
        if self.expires_at is None or self.issued_at is None:
            return None
        return self.expires_at - self.issued_at


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
    if not isinstance(value, str) or not value or expires_at <= issued_at:
        return None
    token_type = str(data.get("token_type") or "Bearer")
    return AccessToken(value=value, expires_at=expires_at, issued_at=issued_at, token_type=token_type,
                       source="cache", token_url=token_url)
