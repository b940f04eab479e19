"""The auth engine: authenticated HTTP for every flow, tokens, checks and rotation.

One :class:`Engine` owns one ``httpx.AsyncClient`` and, per credential, at most one
access token that every call reuses until it is close to expiry.

Flows (alpaca-auth.md §2-3):

* legacy, trading environments: ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers for
  trading and data;
* legacy, broker environments: HTTP Basic ``key_id:secret`` for broker and data;
* client secret / private_key_jwt (broker only): a bearer token from
  ``POST {authx}/v1/oauth2/token`` (see :mod:`alpaca_tui.core.oauth`).

Tokens: refreshed when fewer than ``refresh_ahead`` seconds are left, with single flight
(a per-credential ``asyncio.Lock``: 100 concurrent calls that find no valid token cause
exactly one token request); a 401 on an API call forces one refresh and one retry; the
token can be cached across processes in the secret store (``cache_tokens``). All times
come from the injected clock (``clock.time()``).

Token endpoint faults (5xx, timeouts, dropped connections, 429): while the current token
has more than a few seconds left, a failed refresh ahead of expiry is recorded
(``token_state().last_error``) and the still-valid token keeps being used; the next
automatic attempt waits (2, 4, 8 ... 30 s, or longer when the server sends Retry-After).
Without a usable token the failure is raised, callers waiting on the same token request
share its outcome (one request, not one per caller), and during the backoff after a
transient failure calls are refused at once with that failure. A token is never sent
past its expiry, and a clock set back before a token's issue time renews it once.

Errors are :class:`~alpaca_tui.core.http.ApiError` with an
:class:`~alpaca_tui.core.http.ErrorCategory`. :meth:`Engine.request` *returns* an
:class:`~alpaca_tui.core.http.ApiResponse` for every HTTP answer (``error`` set when it is
not 2xx) and *raises* ApiError when there is no answer to show: a network error or
timeout, a refused token request, an expired credential or a scope pre-flight refusal.
429 answers are retried (``max_retries``, honouring ``Retry-After`` / ``X-RateLimit-Reset``,
with the injectable ``sleep``); nothing else is retried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx

from alpaca_tui import __version__
from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock, utc_from_ts
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env, apis_for, resolve_endpoints, token_url
from alpaca_tui.core.errors import AlpacaTuiError, NotFoundError, StoreError, UsageError
from alpaca_tui.core.expiry import describe_expiry
from alpaca_tui.core.http import (
    ApiError,
    ApiResponse,
    ErrorCategory,
    RateLimit,
    epoch_to_utc,
    oauth_error_code,
    parse_json,
    request_id_of,
    retry_delay,
    server_message,
    server_wait,
)
from alpaca_tui.core.oauth import (
    BAD_CREDENTIAL_CODES,
    OAUTH_HINTS,
    AccessToken,
    parse_token_response,
    token_form,
)
from alpaca_tui.core.pathscopes import describe_requirement, normalize_path, required_scope
from alpaca_tui.core.redact import mask, redact, redact_json, scrub
from alpaca_tui.core.store.index import IndexStamp, index_stamp
from alpaca_tui.core.tokens import (
    CLOCK_BACK_TOLERANCE,
    MIN_TOKEN_LEFT,
    TokenState,
    token_from_cache,
    token_to_cache,
)

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store

__all__ = [
    "CHECK_PATHS",
    "AccessToken",
    "ApiError",
    "ApiResponse",
    "CheckResult",
    "Engine",
    "ErrorCategory",
    "RotationError",
    "RotationResult",
    "TokenState",
    "expired_error",
    "infer_api",
    "scope_preflight",
]

Sleep = Callable[[float], Awaitable[None]]

# Failures of the token endpoint that say nothing about the credential (try again later).
TRANSIENT = frozenset({ErrorCategory.SERVER_ERROR, ErrorCategory.TIMEOUT, ErrorCategory.NETWORK_ERROR,
                       ErrorCategory.RATE_LIMITED})

# The cheap authenticated GET per API used by check() and rotation verification.
CHECK_PATHS: dict[Api, tuple[str, dict[str, str]]] = {
    Api.TRADING: ("/v2/account", {}),
    Api.DATA: ("/v2/stocks/AAPL/bars/latest", {"feed": "iex"}),
    Api.BROKER: ("/v1/accounts", {}),
}

# Paths served by the market-data host (everything else goes to the env's primary API).
_DATA_PREFIXES = ("/v2/stocks", "/v2/options", "/v1/corporate-actions", "/v2/crypto",
                  "/v1/logos", "/v1/news", "/v1/screener", "/v1/forex")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def infer_api(env: Env, path: str) -> Api:
    """The API a path belongs to for a profile of ``env`` (data paths go to the data host)."""
    p = normalize_path(path)
    if p.startswith("/v1beta") or any(p == pre or p.startswith(pre + "/") for pre in _DATA_PREFIXES):
        return Api.DATA
    return Api.BROKER if env.is_broker else Api.TRADING


def scope_preflight(profile: Profile, api: Api, method: str, path: str) -> ApiError | None:
    """An ApiError(forbidden_scope) when the profile's access matrix forbids the call, else None.

    Only broker credentials have a matrix; trading keys (live, paper) are never refused here.
    """
    if not profile.env.is_broker:
        return None
    need = required_scope(api, method, path)
    if need is None:
        return None
    scope, write = need
    if profile.access.allows(scope, write):
        return None
    have = profile.access.level(scope).label
    return ApiError(
        ErrorCategory.FORBIDDEN_SCOPE,
        f"{method.upper()} {normalize_path(path)} needs {describe_requirement(scope, write)} but "
        f"credential {profile.name!r} has {scope.label}: {have}; not sent (use --force to send anyway)",
        profile=profile.name)


def expired_error(profile: Profile, now: datetime) -> ApiError | None:
    """ApiError(expired_credential) naming the profile when its credential has expired, else None."""
    exp = profile.expires_at
    if exp is None or exp > now:
        return None
    return ApiError(
        ErrorCategory.EXPIRED_CREDENTIAL,
        f"credential {profile.name!r} expired {describe_expiry(exp, now)} ({exp:%Y-%m-%d %H:%M} UTC); "
        f"not sent. Create a new credential in the Alpaca dashboard and rotate: "
        f"alpaca-tui rotate {profile.name} ...", profile=profile.name)


@dataclass(frozen=True)
class CheckResult:
    """One line of ``check``: a credential against one API (or the token endpoint: api=auth)."""

    profile: str
    api: Api
    ok: bool
    status: int | None
    latency_ms: float | None
    message: str
    category: ErrorCategory | None = None
    request_id: str | None = None
    env: Env | None = None
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "env": self.env.value if self.env else None, "api": self.api.value,
                "ok": self.ok, "status": self.status,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "category": self.category.value if self.category else None, "message": self.message,
                "request_id": self.request_id, "skipped": self.skipped}


@dataclass(frozen=True)
class RotationResult:
    """The outcome of :meth:`Engine.rotate` (``ok`` False only inside a RotationError)."""

    profile: str
    ok: bool
    message: str
    key_id_masked: str
    previous_key_id_masked: str | None = None
    rotated_at: datetime | None = None
    previous_retire_at: datetime | None = None
    attempts: int = 0
    verification: tuple[CheckResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "ok": self.ok, "message": self.message,
                "key_id_masked": self.key_id_masked, "previous_key_id_masked": self.previous_key_id_masked,
                "rotated_at": _iso(self.rotated_at),
                "previous_retire_at": _iso(self.previous_retire_at),
                "attempts": self.attempts, "verification": [c.to_dict() for c in self.verification]}


class RotationError(AlpacaTuiError):
    """Verification of the new secret failed; the old secret is still active and untouched."""

    def __init__(self, message: str, result: RotationResult, category: ErrorCategory | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.category = category


@dataclass(eq=False)
class _Cred:
    """Engine-private state of one credential (secret material never leaves the engine)."""

    profile: Profile
    bundle: SecretBundle
    persistent: bool = True                 # False: a rotation candidate (no cache, no store updates)
    token: AccessToken | None = None
    generation: int = 0                     # bumped whenever ``token`` is replaced
    refresh_count: int = 0
    token_requests: int = 0
    last_error: str | None = None
    refreshing: bool = False
    # token-request failures: backoff (clock times) and single flight of the failure itself
    failures: int = 0                       # failed token requests in a row
    retry_at: float | None = None           # no automatic token request before this time
    retry_set_at: float = 0.0               # when that backoff was set (a clock set back voids it)
    retry_gen: int = -1                     # ``generation`` the backoff belongs to
    wait_until: float | None = None         # the server's Retry-After: no request before, even forced
    fail_seq: int = 0                       # bumped on every failed token request
    last_exc: ApiError | None = None
    index_stamp: IndexStamp = None  # (mtime_ns, size, inode) of the index when read
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def secret(self) -> Secret:
        return self.bundle.active

    def secrets(self) -> list[str | None]:
        out: list[str | None] = list(self.bundle.values())
        if self.token is not None:
            out.append(self.token.value)
        return out

    def __repr__(self) -> str:
        return f"_Cred({self.profile.name!r}, {self.bundle!r})"


class Engine:
    """Authenticated calls for stored (``store``) or registered (:meth:`add_credential`) profiles."""

    def __init__(self, store: Store | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 refresh_ahead: float = 60.0, timeout: float = 10.0, cache_tokens: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep | None = None, max_retries: int = 3, max_retry_wait: float = 60.0,
                 verify_attempts: int = 5, verify_backoff: float = 0.5,
                 refresh_backoff: float = 2.0, refresh_backoff_max: float = 30.0) -> None:
        self.store = store
        self.clock = clock
        self.refresh_ahead = float(refresh_ahead)
        self.timeout = float(timeout)
        self.cache_tokens = cache_tokens
        self.max_retries = max(0, int(max_retries))
        self.max_retry_wait = float(max_retry_wait)
        self.verify_attempts = max(1, int(verify_attempts))
        self.verify_backoff = float(verify_backoff)
        # after a failed token request: wait refresh_backoff * 2**(n-1) s (capped), or longer when
        # the server says so (Retry-After), before the next automatic one
        self.refresh_backoff = max(0.0, float(refresh_backoff))
        self.refresh_backoff_max = max(self.refresh_backoff, float(refresh_backoff_max))
        self._sleep: Sleep = sleep or asyncio.sleep
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._creds: dict[str, _Cred] = {}
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"Engine(store={'yes' if self.store else 'no'}, credentials={sorted(self._creds)})"

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- credentials ----------------------------------------------------------------------
    def add_credential(self, profile: Profile, bundle: SecretBundle) -> None:
        """Register a credential for use without a store (replaces one of the same name)."""
        self._creds[profile.name] = _Cred(profile, bundle, persistent=self.store is not None)

    def forget(self, name: str) -> None:
        """Drop what the engine holds for ``name`` (cached profile, secret, token); reloaded on use."""
        self._creds.pop(name, None)

    def known(self) -> list[str]:
        return sorted(self._creds)

    def _index_stamp(self) -> IndexStamp:
        return index_stamp(self.store.index_path) if self.store is not None else None

    async def _cred(self, name: str) -> _Cred:
        """The credential, loaded from the store on first use and kept in step with it: when
        the index changed (another process rotated the key, the TUI edited the profile) the
        profile is re-read and, if the credential itself changed, the secret is reloaded and
        the token dropped. A previous secret past its retirement time is dropped."""
        cred = self._creds.get(name)
        if cred is not None:
            if cred.persistent and self.store is not None:
                if cred.index_stamp != self._index_stamp():
                    await self._sync_cred(cred)
                if cred.bundle.previous is not None and cred.bundle.previous_retire_at is not None \
                        and cred.bundle.previous_retire_at <= self.clock.time():
                    cred.profile, cred.bundle = await self._retire_if_due(cred.profile, cred.bundle)
            return cred
        if self.store is None:
            raise NotFoundError(f"no credential named {name!r} in this engine")
        lock = self._load_locks.setdefault(name, asyncio.Lock())
        async with lock:
            cred = self._creds.get(name)
            if cred is not None:
                return cred
            store = self.store
            stamp = self._index_stamp()
            # load() repairs an index entry left behind its bundle by a killed process
            profile, bundle = await asyncio.to_thread(store.load, name)
            profile, bundle = await self._retire_if_due(profile, bundle)
            cred = _Cred(profile, bundle, index_stamp=stamp)
            self._creds[name] = cred
            return cred

    async def _sync_cred(self, cred: _Cred) -> None:
        assert self.store is not None
        store = self.store
        lock = self._load_locks.setdefault(cred.name, asyncio.Lock())
        async with lock:
            stamp = self._index_stamp()
            if cred.index_stamp == stamp:
                return
            try:
                profile = await asyncio.to_thread(store.get_profile, cred.name)
            except NotFoundError:
                self._creds.pop(cred.name, None)
                raise
            old = cred.profile
            if (profile.key_id_masked, profile.rotated_at, profile.rotation_state, profile.previous_retire_at,
                    profile.flow, profile.env, profile.endpoints, profile.public_key_fingerprint) != \
                    (old.key_id_masked, old.rotated_at, old.rotation_state, old.previous_retire_at,
                     old.flow, old.env, old.endpoints, old.public_key_fingerprint):
                profile, bundle = await asyncio.to_thread(store.load, cred.name)
                if bundle.active != cred.bundle.active or profile.endpoints != old.endpoints:
                    cred.token = None
                    cred.generation += 1
                cred.bundle = bundle
            cred.profile = profile
            cred.index_stamp = stamp

    async def _retire_if_due(self, profile: Profile, bundle: SecretBundle) -> tuple[Profile, SecretBundle]:
        """Drop the previous secret once its retirement time has passed (persisted)."""
        if bundle.previous is None or bundle.previous_retire_at is None \
                or bundle.previous_retire_at > self.clock.time():
            return profile, bundle
        bundle = replace(bundle, previous=None, previous_retire_at=None)
        if self.store is not None:
            store = self.store
            profile = await asyncio.to_thread(
                store.commit, profile.name, bundle, previous_retire_at=None,
                rotation_state=None if profile.rotation_state == "overlap" else profile.rotation_state)
        return profile, bundle

    async def profile(self, name: str) -> Profile:
        return (await self._cred(name)).profile

    def _refuse_expired(self, cred: _Cred) -> None:
        refusal = expired_error(cred.profile, self.clock.now())
        if refusal is not None:
            raise refusal

    # -- http ----------------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise AlpacaTuiError("the auth engine is closed")
        if self._client is None:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                transport=self._transport or _LazyTLSTransport(limits),
                headers={"User-Agent": f"alpaca-tui/{__version__}"}, limits=limits)
        return self._client

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _send(self, method: str, url: str, *, build: Callable[[], dict[str, Any]],
                    secrets: list[str | None], what: str, profile: str,
                    retries: int | None = None) -> tuple[httpx.Response, float, int]:
        """Send (``build`` gives fresh request kwargs per attempt); retry 429 up to ``retries``
        (default ``max_retries``) times, waiting as the server says (Retry-After / reset).

        Returns (response, latency of the last attempt in ms, attempts). Raises ApiError
        (network_error / timeout) when no response arrives.
        """
        client = self._http()
        max_retries = self.max_retries if retries is None else max(0, retries)
        attempt = 0
        while True:
            kwargs = build()
            t0 = time.perf_counter()
            try:
                resp = await client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                raise ApiError(ErrorCategory.TIMEOUT,
                               f"{what}: no answer from {_origin(url)} within {self.timeout:g} s "
                               f"({type(exc).__name__})", profile=profile) from None
            except httpx.HTTPError as exc:
                reason = _net_reason(exc, secrets)
                raise ApiError(ErrorCategory.NETWORK_ERROR, f"{what}: {reason} ({_origin(url)})",
                               profile=profile) from None
            latency = (time.perf_counter() - t0) * 1000.0
            attempt += 1
            if resp.status_code == 429 and attempt <= max_retries:
                delay = retry_delay(resp.headers, self.clock.time(), attempt=attempt - 1,
                                    max_wait=self.max_retry_wait)
                await self._sleep(delay)
                continue
            return resp, latency, attempt

    # -- tokens --------------------------------------------------------------------------
    def token_state(self, name: str) -> TokenState | None:
        """Snapshot of ``name``'s token bookkeeping, or None when the engine has none yet."""
        cred = self._creds.get(name)
        if cred is None:
            return None
        tok = cred.token
        retry_at = cred.retry_at if self._backoff_active(cred, self.clock.time()) else None
        return TokenState(name=name, issued_at=tok.issued_at if tok else None,
                          expires_at=tok.expires_at if tok else None, refresh_count=cred.refresh_count,
                          last_error=cred.last_error, refreshing=cred.refreshing,
                          token_requests=cred.token_requests, source=tok.source if tok else None,
                          failures=cred.failures, retry_at=retry_at)

    def _left(self, tok: AccessToken, now: float) -> float:
        """Seconds the token has left by the local clock, never more than its lifetime (a clock
        set back after issue must not stretch it)."""
        return min(tok.expires_at - now, tok.lifetime)

    def _fresh(self, tok: AccessToken | None) -> bool:
        """Good for use without a refresh: more than ``refresh_ahead`` left, and issued in the
        past (a clock set back before the issue time makes the time left unknowable: renew)."""
        if tok is None:
            return False
        now = self.clock.time()
        return self._left(tok, now) > self.refresh_ahead and now >= tok.issued_at - CLOCK_BACK_TOLERANCE

    def _usable(self, tok: AccessToken | None) -> bool:
        """Not yet expired (with a margin): what is sent when a refresh ahead of expiry fails."""
        return tok is not None and self._left(tok, self.clock.time()) > MIN_TOKEN_LEFT

    @staticmethod
    def _waiting(cred: _Cred, now: float, until: float | None) -> bool:
        """Whether a wait set by the last failed token request still runs until ``until``. It
        belongs to one token generation (a new secret or token voids it) and is void when the
        clock was set back before the moment it started (it could otherwise last for hours)."""
        return (until is not None and cred.retry_gen == cred.generation
                and cred.retry_set_at - CLOCK_BACK_TOLERANCE <= now < until)

    def _backoff_active(self, cred: _Cred, now: float) -> bool:
        """Whether ``cred`` is waiting out a failed token request (its backoff)."""
        return self._waiting(cred, now, cred.retry_at)

    def _note_failure(self, cred: _Cred, exc: ApiError) -> None:
        """Record a failed token request: exponential backoff, longer if the server said so."""
        cred.fail_seq += 1
        cred.last_exc = exc
        if self._creds.get(cred.name) is not cred:
            return  # a rotation candidate: its verification loop has its own retry schedule
        now = self.clock.time()
        cred.failures += 1
        delay = min(self.refresh_backoff * 2.0 ** (cred.failures - 1), self.refresh_backoff_max)
        wait = exc.retry_after
        cred.wait_until = None
        if wait is not None and wait > 0:
            wait = min(wait, self.max_retry_wait)
            cred.wait_until = now + wait
            delay = max(delay, wait)
        cred.retry_at = now + delay
        cred.retry_set_at = now
        cred.retry_gen = cred.generation

    @staticmethod
    def _clear_failures(cred: _Cred) -> None:
        cred.failures = 0
        cred.retry_at = None
        cred.wait_until = None
        cred.last_exc = None
        cred.last_error = None

    def _server_wait(self, cred: _Cred, now: float) -> bool:
        """Whether the server's Retry-After for ``cred`` still runs (same rules as the backoff)."""
        return self._waiting(cred, now, cred.wait_until)

    def _failure_again(self, cred: _Cred, *, until: float | None = None) -> ApiError:
        """The last token failure, raised again for a caller that did not send its own request
        (it waited for the one that failed, or a backoff runs until ``until``)."""
        last = cred.last_exc
        assert last is not None
        detail = last.detail
        wait = None
        if until is not None:
            wait = max(0.0, until - self.clock.time())
            detail += f"; next token request in {math.ceil(wait)} s"
        return ApiError(last.category, detail, status=last.status, request_id=last.request_id,
                        server_message=last.server_message, profile=last.profile,
                        retry_after=wait if wait is not None else last.retry_after)

    async def token(self, name: str, *, force: bool = False, use_cache: bool | None = None) -> AccessToken:
        """A valid access token for an OAuth profile (single flight; refreshed ahead of expiry).

        ``force`` fetches a new one unless another caller replaced the token meanwhile.
        UsageError for legacy profiles (they have no token).

        When a refresh ahead of expiry fails (token endpoint down, slow, rate limited, or
        refusing), the current token is returned while it has more than a few seconds left,
        and the next automatic attempt waits (exponential backoff, or the server's
        Retry-After); ``token_state().last_error`` / ``retry_at`` tell the UI. Without a
        usable token the failure is raised (ApiError); while a backoff for a transient
        failure (5xx, timeout, network, 429) runs, callers get that failure again at once
        instead of a new request each.
        """
        cred = await self._cred(name)
        return await self._token(cred, force=force, use_cache=use_cache)

    async def _token(self, cred: _Cred, *, force: bool = False, use_cache: bool | None = None,
                     seen_generation: int | None = None) -> AccessToken:
        if not cred.profile.flow.is_oauth:
            raise UsageError(f"profile {cred.name!r} uses key ID + secret; there is no access token")
        self._refuse_expired(cred)
        tok = cred.token
        if not force and tok is not None and self._fresh(tok):
            return tok
        gen = cred.generation if seen_generation is None else seen_generation
        seq = cred.fail_seq
        async with cred.lock:
            tok = cred.token
            if tok is not None and self._fresh(tok) and (not force or cred.generation != gen):
                return tok
            if cred.fail_seq != seq and cred.last_exc is not None:
                # the token request this caller waited for failed: share that outcome (single
                # flight for failures too: 100 waiting calls never become 100 requests)
                if not force and self._usable(tok):
                    assert tok is not None
                    return tok
                raise self._failure_again(cred)
            now = self.clock.time()
            if cred.last_exc is not None and not force and self._backoff_active(cred, now):
                if self._usable(tok):
                    assert tok is not None
                    return tok  # still valid: keep using it until the next attempt is due
                if cred.wait_until is not None or cred.last_exc.category in TRANSIENT:
                    raise self._failure_again(cred, until=cred.retry_at)
            if cred.last_exc is not None and force and self._server_wait(cred, now):
                raise self._failure_again(cred, until=cred.wait_until)  # even a forced one waits
            cache_ok = (self.cache_tokens if use_cache is None else use_cache) and cred.persistent \
                and self.store is not None
            if not force and cache_ok:
                cached = await self._load_cached(cred)
                if cached is not None and self._fresh(cached):
                    cred.token = cached
                    cred.generation += 1
                    self._clear_failures(cred)
                    return cached
                if cached is not None and self._usable(cached) \
                        and (tok is None or not self._usable(tok) or cached.expires_at > tok.expires_at):
                    cred.token = tok = cached  # another process's token outlives ours: fall back on it
                    cred.generation += 1
            # the current token still serves unless the API has just refused it (a 401 retry)
            serves = self._usable(tok) and seen_generation is None
            fallback = tok if serves and not force else None
            try:
                # while the current token serves, a 429 is not waited out inside this call:
                # the backoff honours its Retry-After before the next attempt
                new = await self._fetch_token(cred, retries=0 if serves else None)
            except ApiError as exc:
                self._note_failure(cred, exc)
                if fallback is not None:
                    return fallback
                raise
            if cache_ok:
                await self._save_cached(cred, new)
            return new

    async def _load_cached(self, cred: _Cred) -> AccessToken | None:
        assert self.store is not None
        try:
            data = await asyncio.to_thread(self.store.load_token, cred.name)
            url = token_url(cred.profile.env, cred.profile.endpoints)
        except AlpacaTuiError:
            return None
        return token_from_cache(data, cred.secret, url)

    async def _save_cached(self, cred: _Cred, tok: AccessToken) -> None:
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.save_token, cred.name, token_to_cache(tok, cred.secret))
        except (AlpacaTuiError, OSError):
            pass  # the cache is an optimisation; the token itself is fine

    async def _fetch_token(self, cred: _Cred, *, retries: int | None = None) -> AccessToken:
        """One token exchange (plus 429 retries). Caller holds ``cred.lock``."""
        profile, secret = cred.profile, cred.secret
        url = token_url(profile.env, profile.endpoints)
        secrets = cred.secrets()
        cred.refreshing = True
        cred.token_requests += 1
        started = self.clock.time()
        try:
            def build() -> dict[str, Any]:
                # a fresh client assertion (new jti, iat) for every attempt
                return {"data": token_form(profile.flow, secret, url, now=self.clock.time()),
                        "headers": {"Accept": "application/json"}}

            resp, _latency, attempts = await self._send("POST", url, build=build, secrets=secrets,
                                                        what=f"token request for {cred.name!r}",
                                                        profile=cred.name, retries=retries)
            body = parse_json(resp.text)
            if 200 <= resp.status_code < 300:
                tok = parse_token_response(body, now=started, token_url=url)
                if tok is None:
                    raise ApiError(ErrorCategory.SERVER_ERROR,
                                   f"token endpoint answered {resp.status_code} without a usable bearer "
                                   f"access_token", status=resp.status_code,
                                   request_id=request_id_of(resp.headers), profile=cred.name)
                if cred.token is not None:
                    cred.refresh_count += 1
                cred.token = tok
                cred.generation += 1
                self._clear_failures(cred)
                return tok
            raise self._token_error(cred, resp, body, secrets, attempts=attempts)
        except AlpacaTuiError as exc:
            cred.last_error = exc.message
            raise
        finally:
            cred.refreshing = False

    def _token_error(self, cred: _Cred, resp: httpx.Response, body: Any,
                     secrets: list[str | None], *, attempts: int = 1) -> ApiError:
        status = resp.status_code
        rid = request_id_of(resp.headers)
        msg = server_message(body, resp.text, secrets) or f"HTTP {status}"
        code = oauth_error_code(body)
        who = f"token request for {cred.name!r} ({mask(cred.secret.key_id)})"
        wait = server_wait(resp.headers, self.clock.time(), status=status)
        if status == 429:
            retried = attempts - 1
            text = f"{who}: {msg}"
            if retried > 0:
                text += f"; still limited after {retried} retr{'y' if retried == 1 else 'ies'}"
            if wait is not None:
                text += f"; the server asks to wait {math.ceil(wait)} s"
            return ApiError(ErrorCategory.RATE_LIMITED, text, status=status, request_id=rid,
                            server_message=msg, profile=cred.name, retry_after=wait)
        if status >= 500:
            hint = OAUTH_HINTS.get(code or "", "")
            text = f"{who}: {msg}" + (f" — {hint}" if hint and hint not in msg else "")
            return ApiError(ErrorCategory.SERVER_ERROR, text, status=status, request_id=rid,
                            server_message=msg, profile=cred.name, retry_after=wait)
        if "expired" in msg.lower():
            return ApiError(ErrorCategory.EXPIRED_CREDENTIAL,
                            f"{who}: {msg}; credential {cred.name!r} has expired — create a new one and "
                            f"rotate", status=status, request_id=rid, server_message=msg, profile=cred.name)
        if status in (401, 403) or (code is not None and code in BAD_CREDENTIAL_CODES):
            hint = OAUTH_HINTS.get(code or "", "")
            hint = hint.replace("NAME", cred.name)
            env_hint = _env_mismatch_hint(cred.profile, cred.secret.key_id, msg)
            if env_hint:
                return ApiError(ErrorCategory.WRONG_ENVIRONMENT, f"{who}: {msg}; {env_hint}", status=status,
                                request_id=rid, server_message=msg, profile=cred.name)
            text = f"{who}: {msg}" + (f" — {hint}" if hint and hint not in msg else "")
            return ApiError(ErrorCategory.BAD_CREDENTIALS, text, status=status, request_id=rid,
                            server_message=msg, profile=cred.name)
        return ApiError(ErrorCategory.CLIENT_ERROR, f"{who}: {msg}", status=status, request_id=rid,
                        server_message=msg, profile=cred.name, retry_after=wait)

    # -- requests ------------------------------------------------------------------------
    def _auth_headers(self, cred: _Cred, token: AccessToken | None) -> dict[str, str]:
        if token is not None:
            return {"Authorization": token.authorization()}
        s = cred.secret
        if not s.secret:
            raise UsageError(f"profile {cred.name!r} has no secret stored")
        if cred.profile.env.is_broker:
            raw = f"{s.key_id}:{s.secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        return {"APCA-API-KEY-ID": s.key_id, "APCA-API-SECRET-KEY": s.secret}

    async def request(self, name: str, method: str, path: str, *, api: Api | None = None,
                      params: dict[str, str] | None = None, json_body: Any = None, preflight: bool = False,
                      force: bool = False) -> ApiResponse:
        """One authenticated call. See the module doc for what is returned vs raised.

        ``preflight=True`` refuses locally (ApiError forbidden_scope) a call the credential's
        access matrix forbids, unless ``force=True``.
        """
        cred = await self._cred(name)
        return await self._request(cred, method, path, api=api, params=params, json_body=json_body,
                                   preflight=preflight and not force)

    async def _request(self, cred: _Cred, method: str, path: str, *, api: Api | None,
                       params: Mapping[str, str] | None, json_body: Any, preflight: bool,
                       use_cache: bool | None = None) -> ApiResponse:
        profile = cred.profile
        m = method.strip().upper()
        if m not in _METHODS:
            raise UsageError(f"unsupported HTTP method {method!r}")
        p = path.strip()
        if not p.startswith("/") or p.startswith("//"):
            raise UsageError(f"the path must start with '/' (got {scrub(p)[:60]!r}); the host comes from "
                             "the profile's environment")
        if any(c.isspace() for c in p):
            raise UsageError("the path must not contain whitespace (URL-encode it)")
        if json_body is not None:
            try:  # what httpx would refuse mid-send (NaN, Infinity, non-JSON types), refused up front
                json.dumps(json_body, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as exc:
                reason = " ".join(str(exc).split())[:100] or type(exc).__name__
                raise UsageError(f"the request body cannot be sent as JSON: {reason}") from None
        target = api or infer_api(profile.env, p)
        hosts = resolve_endpoints(profile.env, profile.endpoints)
        if target not in hosts or target is Api.AUTH:
            choices = ", ".join(a.value for a in apis_for(profile.env))
            raise UsageError(f"profile {profile.name!r} ({profile.env.value}) has no {target.value} API "
                             f"(choose from {choices})")
        self._refuse_expired(cred)
        if preflight:
            refusal = scope_preflight(profile, target, m, p)
            if refusal is not None:
                raise refusal
        url = hosts[target] + p
        oauth = profile.flow.is_oauth
        attempts = 0
        refreshed = False
        token: AccessToken | None = None
        gen = cred.generation
        while True:
            if oauth:
                token = await self._token(cred, force=refreshed, use_cache=use_cache,
                                          seen_generation=gen if refreshed else None)
                gen = cred.generation
            headers = {"Accept": "application/json", **self._auth_headers(cred, token)}
            secrets = cred.secrets()

            def build(headers: dict[str, str] = headers) -> dict[str, Any]:
                kw: dict[str, Any] = {"headers": headers}
                if params:
                    kw["params"] = dict(params)
                if json_body is not None:
                    kw["json"] = json_body
                return kw

            resp, latency, n = await self._send(m, url, build=build, secrets=secrets,
                                                what=f"{m} {normalize_path(p)}", profile=profile.name)
            attempts += n
            if resp.status_code == 401 and oauth and not refreshed:
                refreshed = True  # one forced refresh (single flight across callers) and one retry
                continue
            break
        text = resp.text
        body = parse_json(text)
        rid = request_id_of(resp.headers)
        error = None
        if not 200 <= resp.status_code < 300:
            error = self._api_error(cred, target, m, p, resp.status_code, resp.headers, body, text, secrets,
                                    attempts=attempts)
        return ApiResponse(method=m, url=url, status=resp.status_code,
                           headers={k: redact(v, secrets) for k, v in dict(resp.headers).items()},
                           text=redact(text, secrets), json=redact_json(body, secrets), latency_ms=latency,
                           request_id=rid,
                           rate_limit=RateLimit.from_headers(resp.headers), error=error, attempts=attempts,
                           token_refreshed=refreshed, api=target.value, profile=profile.name)

    def _api_error(self, cred: _Cred, api: Api, method: str, path: str, status: int,
                   headers: Mapping[str, str], body: Any, text: str, secrets: list[str | None], *,
                   attempts: int) -> ApiError:
        profile = cred.profile
        rid = request_id_of(headers)
        msg = server_message(body, text, secrets)
        shown = msg or f"HTTP {status}"
        where = f"{method} {normalize_path(path)}"

        def err(cat: ErrorCategory, detail: str) -> ApiError:
            return ApiError(cat, detail, status=status, request_id=rid, server_message=msg,
                            profile=profile.name)

        if status == 401:
            exp = profile.expires_at
            if (exp is not None and exp <= self.clock.now()) or "expired" in shown.lower():
                return err(ErrorCategory.EXPIRED_CREDENTIAL,
                           f"{shown}; credential {profile.name!r} has expired — create a new one and rotate")
            hint = _env_mismatch_hint(profile, cred.secret.key_id, shown)
            if hint:
                return err(ErrorCategory.WRONG_ENVIRONMENT, f"{shown}; {hint}")
            return err(ErrorCategory.BAD_CREDENTIALS, f"{shown} — {profile.name!r} was rejected by "
                       f"{profile.env.label} {api.value}")
        if status == 403:
            need = required_scope(api, method, path) if profile.env.is_broker else None
            if need is not None:
                scope, write = need
                level = profile.access.level(scope)
                note = f"{profile.name!r} is recorded with {scope.label}: {level.label}"
                if level.allows(write):
                    note += "; the credential's access at Alpaca differs from what is recorded here"
                return err(ErrorCategory.FORBIDDEN_SCOPE,
                           f"{shown}; {where} needs the {describe_requirement(scope, write)} scope ({note})")
            hint = ""
            if shown.strip().lower() in ("forbidden.", "forbidden"):
                hint = " (Alpaca answers this for malformed auth headers and for keys of another kind, " \
                       "e.g. OAuth-app keys)"
            return err(ErrorCategory.FORBIDDEN, f"{shown}{hint}")
        if status == 429:
            rl = RateLimit.from_headers(headers)
            reset = ""
            reset_at = epoch_to_utc(rl.reset) if rl is not None else None
            if reset_at is not None:
                reset = f"; quota resets at {reset_at:%H:%M:%S} UTC"
            return err(ErrorCategory.RATE_LIMITED,
                       f"{shown}; still limited after {attempts - 1} retr{'y' if attempts == 2 else 'ies'}"
                       f"{reset}")
        if status >= 500:
            return err(ErrorCategory.SERVER_ERROR, f"{where}: {shown}")
        if 300 <= status < 400:
            return err(ErrorCategory.CLIENT_ERROR, f"{where}: unexpected redirect (not followed)")
        return err(ErrorCategory.CLIENT_ERROR, f"{where}: {shown}")

    # -- check ---------------------------------------------------------------------------
    async def check(self, name: str, *, use_cache: bool | None = None,
                    record: bool = True) -> list[CheckResult]:
        """Token exchange when needed, then one cheap authenticated GET per API the profile reaches.

        APIs the broker access matrix forbids are reported as skipped (ok). The store's
        ``last_verified_at`` / ``last_check_ok`` / ``last_check_error`` are updated.
        """
        cred = await self._cred(name)
        results = await self._check_cred(cred, use_cache=use_cache)
        if record and self.store is not None and cred.persistent:
            ok = all(r.ok for r in results)
            first_bad = next((r for r in results if not r.ok), None)
            error = None if first_bad is None else f"{first_bad.api.value}: {first_bad.message}"
            try:
                store = self.store
                updated = await asyncio.to_thread(store.update_profile, name,
                                                  last_verified_at=self.clock.now(), last_check_ok=ok,
                                                  last_check_error=error)
                cred.profile = replace(cred.profile, last_verified_at=updated.last_verified_at,
                                       last_check_ok=updated.last_check_ok,
                                       last_check_error=updated.last_check_error)
            except (StoreError, NotFoundError):
                pass
        return results

    async def _check_cred(self, cred: _Cred, *, use_cache: bool | None = None,
                          apis: tuple[Api, ...] | None = None) -> list[CheckResult]:
        profile = cred.profile
        targets = apis or apis_for(profile.env)
        try:
            self._refuse_expired(cred)
        except ApiError as exc:
            return [self._result(cred, a, exc) for a in targets]
        if profile.flow.is_oauth:
            try:
                await self._token(cred, use_cache=use_cache)
            except ApiError as exc:
                return [self._result(cred, Api.AUTH, exc)]
        return list(await asyncio.gather(*(self._check_api(cred, a, use_cache) for a in targets)))

    def _result(self, cred: _Cred, api: Api, exc: ApiError, latency: float | None = None) -> CheckResult:
        return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=False, status=exc.status,
                           latency_ms=latency, message=exc.summary, category=exc.category,
                           request_id=exc.request_id)

    async def _check_api(self, cred: _Cred, api: Api, use_cache: bool | None) -> CheckResult:
        path, params = CHECK_PATHS[api]
        refusal = scope_preflight(cred.profile, api, "GET", path)
        if refusal is not None:
            scope = required_scope(api, "GET", path)
            label = scope[0].label if scope else api.value
            return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=None,
                               latency_ms=None, skipped=True,
                               message=f"skipped: the credential has no {label} read access")
        try:
            resp = await self._request(cred, "GET", path, api=api, params=params, json_body=None,
                                       preflight=False, use_cache=use_cache)
        except ApiError as exc:
            return self._result(cred, api, exc)
        if resp.error is not None:
            return self._result(cred, api, resp.error, resp.latency_ms)
        return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=resp.status,
                           latency_ms=resp.latency_ms, message="ok", request_id=resp.request_id)

    # -- rotation ------------------------------------------------------------------------
    async def rotate(self, name: str, new: Secret, *, keep_old_for: timedelta,
                     expires_at: datetime | Literal["keep"] | None = "keep") -> RotationResult:
        """Pending -> verify (live, with retries for propagation) -> promote, old kept for rollback.

        On failed verification the pending secret is discarded, the old secret stays active
        and untouched, and :class:`RotationError` is raised. ``keep_old_for`` = 0 drops the
        old secret at once. ``expires_at`` sets the new credential's expiry ("keep": keep the
        profile's unless it has already passed).
        """
        if keep_old_for < timedelta(0):
            raise UsageError("keep_old_for must not be negative")
        cred = await self._cred(name)
        profile = cred.profile
        _check_new_secret(profile, new)
        old_bundle = cred.bundle
        store = self.store
        if store is not None:
            # every store write below changes the bundle and then the index under one lock hold
            # (Store.commit); a kill between the two is repaired from the bundle by Store.load
            profile = await asyncio.to_thread(store.commit, name, replace(old_bundle, pending=new),
                                              rotation_state="pending",
                                              pending_key_id_masked=mask(new.key_id))
            cred.profile = profile

        now_dt = self.clock.now()
        if expires_at == "keep":
            old_exp = profile.expires_at
            new_exp = old_exp if old_exp is None or old_exp > now_dt else None
        else:
            new_exp = expires_at
        candidate = _Cred(replace(profile, expires_at=new_exp), SecretBundle(active=new), persistent=False)
        checks: list[CheckResult] = []
        attempts = 0
        for attempt in range(self.verify_attempts):
            attempts = attempt + 1
            checks = await self._verify(candidate)
            if checks and all(c.ok for c in checks):
                break
            cat = next((c.category for c in checks if not c.ok), None)
            retryable = cat in (ErrorCategory.BAD_CREDENTIALS, ErrorCategory.NETWORK_ERROR,
                                ErrorCategory.TIMEOUT, ErrorCategory.SERVER_ERROR, ErrorCategory.RATE_LIMITED)
            if not retryable or attempt + 1 >= self.verify_attempts:
                break
            candidate.token = None
            await self._sleep(self.verify_backoff * (2 ** attempt))
        verified = bool(checks) and all(c.ok for c in checks)

        if not verified:
            bad = next((c for c in checks if not c.ok), None)
            why = bad.message if bad else "no check could be made"
            if store is not None:
                profile = await asyncio.to_thread(store.commit, name, replace(old_bundle, pending=None),
                                                  pending_key_id_masked=None,
                                                  rotation_state=_overlap(old_bundle))
            else:
                profile = profile.with_changes(pending_key_id_masked=None,
                                               rotation_state=_overlap(old_bundle))
            cred.profile = profile
            cred.bundle = replace(old_bundle, pending=None)
            result = RotationResult(profile=name, ok=False, key_id_masked=profile.key_id_masked,
                                    attempts=attempts, verification=tuple(checks),
                                    message=f"the new secret failed verification after {attempts} "
                                            f"attempt(s): {why}; the old secret is still active")
            raise RotationError(f"rotation of {name!r} failed: {result.message}", result,
                                bad.category if bad else None)

        old = old_bundle.active
        keep = keep_old_for > timedelta(0)
        retire_ts = self.clock.time() + keep_old_for.total_seconds() if keep else None
        new_bundle = SecretBundle(active=new, pending=None, previous=old if keep else None,
                                  previous_retire_at=retire_ts)
        changes: dict[str, Any] = {
            "key_id_masked": mask(new.key_id), "rotated_at": now_dt,
            "rotation_state": "overlap" if keep else None,
            "previous_retire_at": utc_from_ts(retire_ts) if retire_ts is not None else None,
            "pending_key_id_masked": None, "expires_at": new_exp, "last_verified_at": now_dt,
            "last_check_ok": True, "last_check_error": None,
        }
        if profile.flow is Flow.PRIVATE_KEY_JWT and new.private_key_pem:
            from alpaca_tui.core.keys import public_key_fingerprint

            changes["alg"] = new.alg or profile.alg
            changes["public_key_fingerprint"] = public_key_fingerprint(new.private_key_pem)
        if store is not None:
            profile = await asyncio.to_thread(store.commit, name, new_bundle, **changes)
            await self._clear_cache(name)
        else:
            profile = profile.with_changes(**changes)
        self._install(name, profile, new_bundle, candidate.token)
        return RotationResult(
            profile=name, ok=True, key_id_masked=mask(new.key_id),
            previous_key_id_masked=mask(old.key_id) if keep else None, rotated_at=now_dt,
            previous_retire_at=utc_from_ts(retire_ts) if retire_ts is not None else None,
            attempts=attempts, verification=tuple(checks),
            message=("promoted the new secret; the old one is kept for rollback until "
                     f"{utc_from_ts(retire_ts):%Y-%m-%d %H:%M} UTC") if retire_ts is not None
            else "promoted the new secret; the old one was dropped")

    async def stage(self, name: str, new: Secret) -> Profile:
        """Keep ``new`` as the pending secret without verifying it (e.g. a generated key whose
        public half must be registered with Alpaca first); :meth:`rotate_pending` finishes."""
        cred = await self._cred(name)
        _check_new_secret(cred.profile, new)
        bundle = replace(cred.bundle, pending=new)
        profile = cred.profile.with_changes(rotation_state="pending", pending_key_id_masked=mask(new.key_id))
        if self.store is not None:
            store = self.store
            profile = await asyncio.to_thread(store.commit, name, bundle, rotation_state="pending",
                                              pending_key_id_masked=mask(new.key_id))
        cred.bundle = bundle
        cred.profile = profile
        return profile

    async def rotate_pending(self, name: str, *, keep_old_for: timedelta,
                             expires_at: datetime | Literal["keep"] | None = "keep") -> RotationResult:
        """Verify and promote the staged pending secret (see :meth:`stage`)."""
        cred = await self._cred(name)
        if cred.bundle.pending is None:
            raise UsageError(f"{name!r} has no pending secret to promote")
        return await self.rotate(name, cred.bundle.pending, keep_old_for=keep_old_for, expires_at=expires_at)

    async def _verify(self, candidate: _Cred) -> list[CheckResult]:
        """Verify a rotation candidate: token exchange (OAuth) + the primary API's cheap GET."""
        primary = Api.BROKER if candidate.profile.env.is_broker else Api.TRADING
        results = await self._check_cred(candidate, use_cache=False, apis=(primary,))
        # a check skipped by the access matrix proves nothing for legacy keys; the token
        # exchange (OAuth) already proved the new secret
        if candidate.profile.flow is Flow.LEGACY and all(r.skipped for r in results):
            data = await self._check_cred(candidate, use_cache=False, apis=(Api.DATA,))
            results = [r for r in data if not r.skipped] or results
        return results

    def _install(self, name: str, profile: Profile, bundle: SecretBundle, token: AccessToken | None) -> None:
        old = self._creds.get(name)
        cred = _Cred(profile, bundle)
        if token is not None and self._fresh(token):
            cred.token = token
            cred.generation = 1
        if old is not None:
            cred.refresh_count = old.refresh_count
            cred.token_requests = old.token_requests
            cred.generation += old.generation + 1
        self._creds[name] = cred

    async def _clear_cache(self, name: str) -> None:
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.clear_token, name)
        except (AlpacaTuiError, OSError):
            pass

    async def rollback(self, name: str) -> None:
        """Make the previous secret active again (the newer one becomes the previous)."""
        cred = await self._cred(name)
        bundle = cred.bundle
        if bundle.previous is None:
            raise UsageError(f"nothing to roll back: {name!r} keeps no previous secret "
                             "(it was retired or never rotated)")
        swapped = SecretBundle(active=bundle.previous, pending=None, previous=bundle.active,
                               previous_retire_at=bundle.previous_retire_at)
        changes: dict[str, Any] = {"key_id_masked": mask(swapped.active.key_id), "rotation_state": "overlap",
                                   "pending_key_id_masked": None, "rotated_at": self.clock.now(),
                                   "last_check_ok": None, "last_check_error": None}
        if cred.profile.flow is Flow.PRIVATE_KEY_JWT and swapped.active.private_key_pem:
            from alpaca_tui.core.keys import public_key_fingerprint

            changes["alg"] = swapped.active.alg or cred.profile.alg
            changes["public_key_fingerprint"] = public_key_fingerprint(swapped.active.private_key_pem)
        profile = cred.profile.with_changes(**changes)
        if self.store is not None:
            store = self.store
            profile = await asyncio.to_thread(store.commit, name, swapped, **changes)
            await self._clear_cache(name)
        self._install(name, profile, swapped, None)

    async def retire(self, name: str) -> bool:
        """Drop the previous secret now (no rollback after this). False when there was none."""
        cred = await self._cred(name)
        if cred.bundle.previous is None:
            return False
        bundle = replace(cred.bundle, previous=None, previous_retire_at=None)
        profile = cred.profile.with_changes(previous_retire_at=None, rotation_state=None)
        if self.store is not None:
            store = self.store
            profile = await asyncio.to_thread(store.commit, name, bundle, previous_retire_at=None,
                                              rotation_state=None)
        cred.bundle = bundle
        cred.profile = profile
        return True


# -- helpers -------------------------------------------------------------------------------------


class _LazyTLSTransport(httpx.AsyncBaseTransport):
    """httpx's transport, but the TLS context (CA bundle load, ~50 ms) is only built on the
    first https:// request: plain-HTTP loopback calls (the emulator) never pay for it.
    Certificate verification for https:// is httpx's default (verify=True)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._https: httpx.AsyncHTTPTransport | None = None
        self._http: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._https is None:
                self._https = httpx.AsyncHTTPTransport(limits=self._limits)
            return await self._https.handle_async_request(request)
        if self._http is None:
            # plain http:// (validate_url allows it for loopback only): no TLS is ever negotiated
            self._http = httpx.AsyncHTTPTransport(limits=self._limits, verify=False)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        for t in (self._https, self._http):
            if t is not None:
                await t.aclose()
        self._https = self._http = None



def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _overlap(bundle: SecretBundle) -> str | None:
    return "overlap" if bundle.previous is not None else None


def _check_new_secret(profile: Profile, new: Secret) -> None:
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        if not new.private_key_pem:
            raise UsageError(f"{profile.name!r} uses private_key_jwt: the new credential needs a private key")
        from alpaca_tui.core.keys import load_private_key

        load_private_key(new.private_key_pem, new.alg)
    elif not new.secret:
        raise UsageError(f"the new credential for {profile.name!r} needs a secret")


def _origin(url: str) -> str:
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "?"
    port = f":{u.port}" if u.port else ""
    return f"{u.host}{port}"


def _net_reason(exc: httpx.HTTPError, secrets: list[str | None]) -> str:
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.RemoteProtocolError: "connection dropped by the server",
        httpx.ReadError: "connection dropped while reading",
        httpx.WriteError: "connection dropped while sending",
        httpx.ProxyError: "proxy error",
        httpx.UnsupportedProtocol: "unsupported URL scheme",
    }
    label = next((v for k, v in kind.items() if isinstance(exc, k)), "network error")
    detail = " ".join(scrub(redact(str(exc), secrets)).split())[:120]
    return f"{label}: {detail}" if detail else label


def _env_mismatch_hint(profile: Profile, key_id: str, server_text: str) -> str | None:
    """Key-shape heuristics (alpaca-auth.md §5) for a 401: is this key from another environment?"""
    env = profile.env
    k = key_id.upper()
    if env is Env.LIVE and k.startswith("PK"):
        return (f"this looks like a paper key ({mask(key_id)}) used against live — "
                f"add it as a paper profile (--env paper)")
    if env is Env.PAPER and k.startswith("AK"):
        return (f"this looks like a live key ({mask(key_id)}) used against paper — "
                f"add it as a live profile (--env live)")
    if env.is_broker and profile.flow is Flow.LEGACY and k[:2] in ("PK", "AK"):
        kind = "paper" if k.startswith("PK") else "live"
        return f"this looks like a {kind} trading key ({mask(key_id)}) used against the Broker API"
    if not env.is_broker and k.startswith("CK"):
        # CK prefix for broker sandbox is third-party evidence only (UNCONFIRMED)
        return f"this looks like a broker key ({mask(key_id)}) used against {env.label}"
    low = server_text.lower()
    if "environment" in low or ("paper" in low and "live" in low) or "sandbox" in low:
        return f"the server says the credential belongs to another environment than {env.label}"
    return None
