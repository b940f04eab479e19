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
4. single flight across processes (not when forced): the cache's ``claim``; when another
   process holds it, our still-usable token is served, else its new token waited for (at
   most ``FLEET_WAIT_MAX``, taking the claim over if it is released or expires);
5. one request to the :class:`~alpaca_tui.core.auth.endpoint.TokenEndpoint`; success is
   saved to the cache (which drops the claim), failure recorded and the claim released
   (the still-usable token returned when it serves).

The auth proxy (issue 11) gets "the upstream headers for credential X right now" from
``ApiClient.authorize``, which asks this broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alpaca_tui.core import deadline
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

__all__ = ["FLEET_POLL", "FLEET_WAIT_MAX", "TokenBroker", "TokenService", "TokenSubject"]

FLEET_POLL = 0.1        # s between looks at the shared cache while another process refreshes
FLEET_WAIT_MAX = 15.0   # s at most spent waiting for another process's token


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

    def ahead(self) -> AccessToken | None:
        """The current token while it is still usable and its refresh ahead of expiry is due
        (``REFRESH_AHEAD``), else None: a caller may send with it and refresh afterwards."""
        return self.state.token if self.phase() is Phase.REFRESH_AHEAD else None

    def drop(self) -> None:
        """The credential changed (new secret or endpoints): forget the token."""
        self.state.dropped()

    async def token(self, *, force: bool = False, use_cache: bool | None = None,
                    refused: int | None = None, spend_all: bool = False) -> AccessToken:
        """A token good to send now (see the module doc and ``auth/state.py``).

        ``force`` asks for a new one (the refresh key) unless another caller replaced it
        meanwhile. ``refused`` is the epoch of a token the API has just refused (a 401): a
        forced refresh that never falls back on that token. A refresh ahead of expiry spends
        half of what is left of the call's deadline (the call goes on with the current token)
        unless ``spend_all`` (nothing follows it). Raises UsageError for legacy profiles,
        ApiError when there is no token to give.
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
                served, current = await self._consult(cache, current)
                if served is None:
                    served = await self._fleet(cache, current)
                if served is not None:
                    return served
            return await self._renew(current, force=force, refused=refused is not None, cache=cache,
                                 spend_all=spend_all)

    async def _load(self, cache: TokenCache) -> AccessToken | None:
        profile = self._subject.profile
        return await cache.load(profile.name, self._subject.bundle.active,
                                token_url(profile.env, profile.endpoints))

    async def _consult(self, cache: TokenCache,
                       current: AccessToken | None) -> tuple[AccessToken | None, AccessToken | None]:
        """(a fresh cached token to serve, or None; the current token, maybe a longer-lived cached one)."""
        policy, st = self._policy, self.state
        cached = await self._load(cache)
        now = self._clock.time()
        if cached is not None and policy.fresh(cached, now):
            st.adopted(cached, fresh=True)
            return cached, cached
        if cached is not None and policy.usable(cached, now) and (
                current is None or not policy.usable(current, now)
                or cached.expires_at > current.expires_at):
            st.adopted(cached, fresh=False)  # another process's token outlives ours
            current = cached
        return None, current

    async def _fleet(self, cache: TokenCache, current: AccessToken | None) -> AccessToken | None:
        """Single flight across processes (the cache's claim): None when this process is to make
        the token request; else the token to serve — the current one while it is usable and
        another process refreshes, or the one that process saved, waited for."""
        name = self._subject.profile.name
        held = await cache.claim(name)
        if held is None:
            return await self._recheck(cache, name, current)
        if self._policy.usable(current, self._clock.time()):
            return current
        deadline = time.monotonic() + max(0.0, min(held - time.time(), FLEET_WAIT_MAX))
        while time.monotonic() < deadline:
            await asyncio.sleep(FLEET_POLL)
            served, _ = await self._consult(cache, None)
            if served is not None:
                return served
            if await cache.claim(name) is None:  # released, expired or its owner died: ours now
                return await self._recheck(cache, name, None)
        return None  # it never delivered: ask ourselves

    async def _recheck(self, cache: TokenCache, name: str, current: AccessToken | None) -> AccessToken | None:
        """The claim is ours; a token another process saved between our look and our claim
        is served instead (and the claim given back)."""
        served, _ = await self._consult(cache, current)
        if served is not None:
            await cache.release(name)
        return served

    def _cache(self, use_cache: bool | None) -> TokenCache | None:
        service = self._service
        wanted = service.cache_by_default if use_cache is None else use_cache
        return service.cache if wanted and self._subject.persistent else None

    async def _renew(self, current: AccessToken | None, *, force: bool, refused: bool,
                     cache: TokenCache | None, spend_all: bool = False) -> AccessToken:
        """One token request; on failure the current token when it still serves."""
        # the current token still serves unless the API has just refused it (a 401 retry)
        serves = self._policy.usable(current, self._clock.time()) and not refused
        fallback = current if serves and not force else None
        try:
            # while the current token serves, a 429 is not waited out inside this call (the
            # backoff honours its Retry-After before the next attempt), and unless nothing
            # follows, the refresh may spend only half of what is left of the call's deadline:
            # the call goes on with the current token
            share = deadline.portion(0.5) if serves and not spend_all else None
            if share is None:
                new = await self._fetch(retries=0 if serves else None)
            else:
                async with deadline.bounded(share, f"token refresh for {self._subject.profile.name!r}",
                                            profile=self._subject.profile.name):
                    new = await self._fetch(retries=0)
        except ApiError as exc:
            self.state.failed(exc, self._clock.time(), self._policy, schedule=self._scheduled())
            if cache is not None:
                await cache.release(self._subject.profile.name)
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
