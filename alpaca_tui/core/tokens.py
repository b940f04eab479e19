"""Per-credential token bookkeeping the UI reads, and the two time margins every reader shares.

:class:`TokenState` is an immutable snapshot (``Engine.token_state(name)``) with epoch
times from the engine's injected clock; ``remaining(now)`` is what a countdown shows. The
live state behind it is :class:`alpaca_tui.core.auth.state.BrokerState`; the cross-process
cache is :mod:`alpaca_tui.core.auth.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass

from alpaca_tui.core.explain import Explanation

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
    last_explanation: Explanation | None = None   # cause + fix of last_error (core/explain.py)

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
