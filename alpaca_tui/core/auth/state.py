"""The explicit state of one credential's access token, and every rule that reads or changes it.

:class:`BrokerState` is plain data plus its transitions; :class:`~alpaca_tui.core.auth.broker.TokenBroker`
holds one per credential and does the I/O (cache, token endpoint) under its single-flight
lock. Times are epoch seconds from the injected clock; nothing here awaits.

Phases (:meth:`BrokerState.phase`) and what a call for a token does in each:

=================  ========================================  =======================================
phase              when                                      a call for a token
=================  ========================================  =======================================
``NO_TOKEN``       no usable token, no failure on record     requests one (a 429 is waited out in
                                                             line, ``max_retries`` times)
``FRESH``          more than ``refresh_ahead`` s left, and   gets it (no lock, no request);
                   issued in the past (a clock set back      ``force`` requests a new one
                   before ``issued_at`` means "renew")
``REFRESH_AHEAD``  still usable (> ``MIN_TOKEN_LEFT`` s      requests a new one once (a 429 is not
                   left) but due for renewal, no backoff     waited out); if that fails, gets the
                   running                                   current token and a backoff starts
``BACKING_OFF``    the last request failed and its backoff   gets the usable token; without one,
                   runs (``Backoff.retry_at``)               a transient failure (5xx, timeout,
                                                             network, 429) or a server wait is
                                                             raised again at once ("next token
                                                             request in N s"); a refused
                                                             credential is asked again at once
``FAILED``         the last request failed, no usable        requests again (the failure is
                   token, no backoff running                 raised if it fails again)
=================  ========================================  =======================================

Transitions (the only methods that change the state):

===============================  ==============================================================
event                            effect
===============================  ==============================================================
:meth:`~BrokerState.issued`      a new token from the endpoint: -> ``FRESH``; failures, backoff
                                 and the last error cleared; ``refresh_count`` + 1 if it
                                 replaced one
:meth:`~BrokerState.adopted`     a token from the cross-process cache: a fresh one -> ``FRESH``
                                 (failures cleared); a usable one that outlives ours is kept
                                 and renewed at once (``REFRESH_AHEAD``)
:meth:`~BrokerState.failed`      a token request failed: remembered (``seq`` + 1, so callers
                                 that waited for it share it); for a scheduled credential a
                                 backoff of ``backoff * 2**(n-1)`` s (capped), or the server's
                                 Retry-After when longer -> ``BACKING_OFF``
:meth:`~BrokerState.dropped`     the credential changed (new secret, endpoints): no token, and
                                 the backoff is void (it belonged to the old epoch)
time passes                      ``FRESH`` -> ``REFRESH_AHEAD`` -> ``NO_TOKEN``/``FAILED`` at
                                 ``MIN_TOKEN_LEFT``; ``BACKING_OFF`` ends at ``retry_at``
clock set back                   before ``issued_at``: the token is renewed once; before the
                                 moment a backoff started: the backoff is void
===============================  ==============================================================

Rules that hold in every phase (:meth:`BrokerState.gate`):

* single flight for successes and failures: a caller that waited on the lock while another
  caller's request succeeded gets that token; while it failed, shares that failure (or the
  still-usable token) - 100 waiting callers never become 100 requests;
* ``force`` (the refresh key, a 401) requests a new token unless another caller replaced
  the one it saw meanwhile, ignores the automatic backoff, but honours the server's
  Retry-After;
* after a 401 the refused token is never served as a fallback;
* a token is never sent with ``MIN_TOKEN_LEFT`` s or less left; the time left never counts
  more than the token's lifetime (a clock set back cannot stretch it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from alpaca_tui.core.explain import Explanation
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.tokens import CLOCK_BACK_TOLERANCE, MIN_TOKEN_LEFT, TokenState

__all__ = ["TRANSIENT", "Backoff", "BrokerState", "Failure", "Phase", "RefreshPolicy", "Ticket"]

# Failures of the token endpoint that say nothing about the credential (try again later).
TRANSIENT = frozenset({ErrorCategory.SERVER_ERROR, ErrorCategory.TIMEOUT, ErrorCategory.NETWORK_ERROR,
                       ErrorCategory.RATE_LIMITED})


class Phase(StrEnum):
    NO_TOKEN = "no_token"
    FRESH = "fresh"
    REFRESH_AHEAD = "refresh_ahead"
    BACKING_OFF = "backing_off"
    FAILED = "failed"


@dataclass(frozen=True)
class RefreshPolicy:
    """When a token is renewed, and how long to wait after a failed token request."""

    refresh_ahead: float = 60.0   # renew when this many seconds or fewer are left
    backoff: float = 2.0          # first wait after a failure; doubles per failure in a row ...
    backoff_max: float = 30.0     # ... up to this
    max_wait: float = 60.0        # cap on a server's Retry-After

    def left(self, tok: AccessToken, now: float) -> float:
        """Seconds the token has left by the local clock, never more than its lifetime (a clock
        set back after issue must not stretch it)."""
        return min(tok.expires_at - now, tok.lifetime)

    def fresh(self, tok: AccessToken | None, now: float) -> bool:
        """Good for use without a refresh: more than ``refresh_ahead`` left, and issued in the
        past (a clock set back before the issue time makes the time left unknowable: renew)."""
        if tok is None:
            return False
        return self.left(tok, now) > self.refresh_ahead and now >= tok.issued_at - CLOCK_BACK_TOLERANCE

    def usable(self, tok: AccessToken | None, now: float) -> bool:
        """Not yet expired (with a margin): what is sent when a refresh ahead of expiry fails."""
        return tok is not None and self.left(tok, now) > MIN_TOKEN_LEFT

    def backoff_after(self, failures: int, retry_after: float | None, now: float, epoch: int) -> Backoff:
        """The wait after the ``failures``-th failed request in a row (longer if the server said so)."""
        delay = min(self.backoff * 2.0 ** (failures - 1), self.backoff_max)
        server_until = None
        if retry_after is not None and retry_after > 0:
            wait = min(retry_after, self.max_wait)
            server_until = now + wait
            delay = max(delay, wait)
        return Backoff(set_at=now, retry_at=now + delay, server_until=server_until, epoch=epoch)


@dataclass(frozen=True)
class Backoff:
    """No automatic token request before ``retry_at``; none at all, even forced, before
    ``server_until`` (the server's Retry-After). It belongs to one token ``epoch`` (a new
    token or secret voids it) and is void when the clock was set back before ``set_at``
    (it could otherwise last for hours)."""

    set_at: float
    retry_at: float
    server_until: float | None
    epoch: int

    def _runs(self, until: float | None, now: float, epoch: int) -> bool:
        return until is not None and self.epoch == epoch and self.set_at - CLOCK_BACK_TOLERANCE <= now < until

    def holds(self, now: float, epoch: int) -> bool:
        return self._runs(self.retry_at, now, epoch)

    def server_holds(self, now: float, epoch: int) -> bool:
        return self._runs(self.server_until, now, epoch)


@dataclass(frozen=True)
class Failure:
    """The last failed token request (cleared by the next success)."""

    error: ApiError


@dataclass(frozen=True)
class Ticket:
    """What a caller saw before it queued on the lock: the token epoch (or the epoch of the
    token the API just refused) and the failure count, to recognise another caller's outcome."""

    epoch: int
    seq: int


@dataclass
class BrokerState:
    """One credential's token: the token itself, its last failure and backoff, and counters."""

    token: AccessToken | None = None
    epoch: int = 0                       # + 1 whenever ``token`` is replaced or dropped
    failure: Failure | None = None       # the last request failed (None after a success)
    seq: int = 0                         # failed requests ever (waiters compare it)
    failures: int = 0                    # scheduled failures in a row (0 after a success)
    backoff: Backoff | None = None       # the wait set by the last scheduled failure
    last_error: str | None = None        # one line for the UI (also non-HTTP errors)
    last_explanation: Explanation | None = None   # its cause + fix (core/explain.py), when known
    refresh_count: int = 0               # tokens that replaced an earlier one
    token_requests: int = 0              # token requests sent (incl. failed)
    in_flight: bool = False              # a token request is on the wire now

    # -- reading ------------------------------------------------------------------------------
    def phase(self, now: float, policy: RefreshPolicy) -> Phase:
        if policy.fresh(self.token, now):
            return Phase.FRESH
        if self.failure is not None and self.backing_off(now):
            return Phase.BACKING_OFF
        if policy.usable(self.token, now):
            return Phase.REFRESH_AHEAD
        return Phase.FAILED if self.failure is not None else Phase.NO_TOKEN

    def backing_off(self, now: float) -> bool:
        return self.backoff is not None and self.backoff.holds(now, self.epoch)

    def ticket(self, refused_epoch: int | None = None) -> Ticket:
        return Ticket(self.epoch if refused_epoch is None else refused_epoch, self.seq)

    def snapshot(self, name: str, now: float) -> TokenState:
        tok = self.token
        retry_at = self.backoff.retry_at if self.backoff is not None and self.backing_off(now) else None
        return TokenState(name=name, issued_at=tok.issued_at if tok else None,
                          expires_at=tok.expires_at if tok else None, refresh_count=self.refresh_count,
                          last_error=self.last_error, refreshing=self.in_flight,
                          token_requests=self.token_requests, source=tok.source if tok else None,
                          failures=self.failures, retry_at=retry_at, last_explanation=self.last_explanation)

    def gate(self, now: float, policy: RefreshPolicy, *, force: bool,
             ticket: Ticket) -> AccessToken | ApiError | None:
        """Inside the lock: the token to serve, the failure to raise, or None to go on (cache,
        then a token request). The rules of the module doc's tables, in order."""
        tok = self.token
        if policy.fresh(tok, now) and (not force or self.epoch != ticket.epoch):
            return tok  # fresh, or replaced by another caller while this one waited
        failure, backoff = self.failure, self.backoff
        if failure is None:
            return None
        if self.seq != ticket.seq:
            # the request this caller waited for failed: share that outcome
            return tok if not force and policy.usable(tok, now) else self.again(now)
        if not force and backoff is not None and backoff.holds(now, self.epoch):
            if policy.usable(tok, now):
                return tok  # still valid: keep using it until the next attempt is due
            if backoff.server_until is not None or failure.error.category in TRANSIENT:
                return self.again(now, until=backoff.retry_at)
        if force and backoff is not None and backoff.server_holds(now, self.epoch):
            return self.again(now, until=backoff.server_until)  # even a forced request waits
        return None

    def again(self, now: float, *, until: float | None = None) -> ApiError:
        """The last failure, raised again for a caller that did not send its own request
        (it waited for the one that failed, or a backoff runs until ``until``)."""
        assert self.failure is not None
        last = self.failure.error
        detail = last.detail
        wait = None
        if until is not None:
            wait = max(0.0, until - now)
            detail += f"; next token request in {math.ceil(wait)} s"
        return ApiError(last.category, detail, status=last.status, request_id=last.request_id,
                        server_message=last.server_message, profile=last.profile,
                        retry_after=wait if wait is not None else last.retry_after)

    # -- transitions --------------------------------------------------------------------------
    def issued(self, tok: AccessToken) -> None:
        if self.token is not None:
            self.refresh_count += 1
        self._replace(tok)
        self._clear_failures()

    def adopted(self, tok: AccessToken, *, fresh: bool) -> None:
        self._replace(tok)
        if fresh:
            self._clear_failures()

    def failed(self, exc: ApiError, now: float, policy: RefreshPolicy, *, schedule: bool) -> None:
        """Record a failed token request; ``schedule`` False (a rotation candidate, a
        credential the engine no longer holds) keeps no backoff of its own."""
        self.seq += 1
        self.failure = Failure(exc)
        if not schedule:
            return
        self.failures += 1
        self.backoff = policy.backoff_after(self.failures, exc.retry_after, now, self.epoch)

    def dropped(self) -> None:
        self._replace(None)

    def _replace(self, tok: AccessToken | None) -> None:
        self.token = tok
        self.epoch += 1

    def _clear_failures(self) -> None:
        self.failure = None
        self.failures = 0
        self.backoff = None
        self.last_error = None
        self.last_explanation = None

    @classmethod
    def succeeding(cls, old: BrokerState | None, tok: AccessToken | None) -> BrokerState:
        """The state of a credential that replaces ``old`` (a promoted or rolled-back secret),
        starting with ``tok`` (a fresh token of the verified secret) or none; the counters go on."""
        state = cls(token=tok, epoch=1 if tok is not None else 0)
        if old is not None:
            state.refresh_count = old.refresh_count
            state.token_requests = old.token_requests
            state.epoch += old.epoch + 1
        return state
