"""The token broker: one per credential, the only way to its access token.

:meth:`TokenBroker.token` gives a token that is good to send now. Its rules (phases,
transitions, single flight, backoff) are :class:`~alpaca_tui.core.auth.state.BrokerState`'s,
documented there in two tables; the broker adds the I/O around them, under one
``asyncio.Lock`` per credential:

1. a fresh token is returned without the lock;
2. under the lock, :meth:`BrokerState.gate` serves a token, raises a failure again, or
   lets the caller go on;
3. the cross-process :class:`~alpaca_tui.core.auth.cache.TokenCache` is asked (not when
   forced): a fresh cached token is adopted, a usable one that outlives ours is kept;
4. one request to the :class:`~alpaca_tui.core.auth.endpoint.TokenEndpoint`; success is
   saved to the cache, failure recorded (the still-usable token returned when it serves).

The auth proxy (issue 11) gets "the upstream headers for credential X right now" from
``ApiClient.authorize``, which asks this broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alpaca_tui.core.auth.cache import TokenCache
from alpaca_tui.core.auth.endpoint import TokenEndpoint
from alpaca_tui.core.auth.state import BrokerState, Phase, RefreshPolicy
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import Profile, SecretBundle
from alpaca_tui.core.environments import token_url
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.http import ApiError
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.preflight import expired_error
from alpaca_tui.core.tokens import TokenState

__all__ = ["TokenBroker", "TokenService", "TokenSubject"]


class TokenSubject(Protocol):
    """The credential a broker serves (read at every use: a credential can change under it)."""

    @property
    def profile(self) -> Profile: ...
    @property
    def bundle(self) -> SecretBundle: ...
    @property
    def persistent(self) -> bool: ...


@dataclass(frozen=True)
class TokenService:
    """What every broker of one engine shares."""

    endpoint: TokenEndpoint
    policy: RefreshPolicy
    clock: Clock
    cache: TokenCache | None = None      # None: no cross-process cache (no store)
    cache_by_default: bool = True        # ``use_cache=None`` means this


def _always() -> bool:
    return True


class TokenBroker:
    """One credential's access token: single flight, refresh ahead, backoff, cache."""

    def __init__(self, subject: TokenSubject, service: TokenService, *,
                 scheduled: Callable[[], bool] = _always, state: BrokerState | None = None) -> None:
        self._subject = subject
        self._service = service
        self._policy = service.policy
        self._clock = service.clock
        # False while the credential is not the engine's own (a rotation candidate, or one
        # replaced meanwhile): its failures then set no backoff (the caller has its own schedule)
        self._scheduled = scheduled
        self.state = state or BrokerState()
        self._lock = asyncio.Lock()

    @property
    def current(self) -> AccessToken | None:
        return self.state.token

    @property
    def epoch(self) -> int:
        return self.state.epoch

    def phase(self) -> Phase:
        return self.state.phase(self._clock.time(), self._policy)

    def snapshot(self) -> TokenState:
        return self.state.snapshot(self._subject.profile.name, self._clock.time())

    def secrets(self) -> list[str | None]:
        """Every secret value to redact from what the servers say (incl. the token)."""
        out: list[str | None] = list(self._subject.bundle.values())
        if self.state.token is not None:
            out.append(self.state.token.value)
        return out

    def fresh(self, tok: AccessToken | None) -> bool:
        return self._policy.fresh(tok, self._clock.time())

    def drop(self) -> None:
        """The credential changed (new secret or endpoints): forget the token."""
        self.state.dropped()

    async def token(self, *, force: bool = False, use_cache: bool | None = None,
                    refused: int | None = None) -> AccessToken:
        """A token good to send now (see the module doc and ``auth/state.py``).

        ``force`` asks for a new one (the refresh key) unless another caller replaced it
        meanwhile. ``refused`` is the epoch of a token the API has just refused (a 401): a
        forced refresh that never falls back on that token. Raises UsageError for legacy
        profiles, ApiError when there is no token to give.
        """
        force = force or refused is not None
        profile = self._subject.profile
        if not profile.flow.is_oauth:
            raise UsageError(f"profile {profile.name!r} uses key ID + secret; there is no access token")
        refusal = expired_error(profile, self._clock.now())
        if refusal is not None:
            raise refusal
        st, policy = self.state, self._policy
        current = st.token
        if not force and current is not None and policy.fresh(current, self._clock.time()):
            return current
        ticket = st.ticket(refused)
        async with self._lock:
            current = st.token
            verdict = st.gate(self._clock.time(), policy, force=force, ticket=ticket)
            if isinstance(verdict, ApiError):
                raise verdict
            if verdict is not None:
                return verdict
            cache = self._cache(use_cache)
            if not force and cache is not None:
                profile = self._subject.profile
                cached = await cache.load(profile.name, self._subject.bundle.active,
                                          token_url(profile.env, profile.endpoints))
                now = self._clock.time()
                if cached is not None and policy.fresh(cached, now):
                    st.adopted(cached, fresh=True)
                    return cached
                if cached is not None and policy.usable(cached, now) and (
                        current is None or not policy.usable(current, now)
                        or cached.expires_at > current.expires_at):
                    st.adopted(cached, fresh=False)  # another process's token outlives ours
                    current = cached
            return await self._renew(current, force=force, refused=refused is not None, cache=cache)

    def _cache(self, use_cache: bool | None) -> TokenCache | None:
        service = self._service
        wanted = service.cache_by_default if use_cache is None else use_cache
        return service.cache if wanted and self._subject.persistent else None

    async def _renew(self, current: AccessToken | None, *, force: bool, refused: bool,
                     cache: TokenCache | None) -> AccessToken:
        """One token request; on failure the current token when it still serves."""
        # the current token still serves unless the API has just refused it (a 401 retry)
        serves = self._policy.usable(current, self._clock.time()) and not refused
        fallback = current if serves and not force else None
        try:
            # while the current token serves, a 429 is not waited out inside this call:
            # the backoff honours its Retry-After before the next attempt
            new = await self._fetch(retries=0 if serves else None)
        except ApiError as exc:
            self.state.failed(exc, self._clock.time(), self._policy, schedule=self._scheduled())
            if fallback is not None:
                return fallback
            raise
        if cache is not None:
            await cache.save(self._subject.profile.name, self._subject.bundle.active, new)
        return new

    async def _fetch(self, *, retries: int | None) -> AccessToken:
        """The exchange itself, with the bookkeeping the UI shows. Caller holds the lock."""
        profile, secret = self._subject.profile, self._subject.bundle.active
        url = token_url(profile.env, profile.endpoints)
        secrets = self.secrets()
        st = self.state
        st.in_flight = True
        st.token_requests += 1
        try:
            tok = await self._service.endpoint.fetch(profile, secret, url, secrets=secrets, retries=retries)
        except AlpacaTuiError as exc:
            st.last_error = exc.message
            st.last_explanation = getattr(exc, "explanation", None)
            raise
        finally:
            st.in_flight = False
        st.issued(tok)
        return tok
