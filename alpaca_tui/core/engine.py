"""The auth engine: the one object the CLI and the TUI call for tokens, requests, checks, rotation.

:class:`Engine` is a thin facade; each job lives in its own module (DEVELOPERS.md, "Seams:
engine"):

==========================  ====================================================================
part                        owns
==========================  ====================================================================
``core/registry.py``        the credentials held (profile + secret bundle + token broker), loaded
                            from the store and kept in step with its index
``core/auth/``              tokens: ``TokenBroker`` per credential (single flight, refresh ahead,
                            backoff; state and transitions in ``auth/state.py``), the token
                            request (``auth/endpoint.py``), the cross-process cache
                            (``auth/cache.py``), per-flow signing (``auth/signing.py``)
``core/api.py``             ``ApiClient``: one authenticated call, the 401 retry, error mapping
``core/wire.py``            ``Wire``: the httpx client, 429 waits, network errors and timeouts
``core/checks.py``          ``Checks``: one cheap GET per API, recorded in the index
``core/rotation.py``        ``Rotation``: stage / verify / promote / rollback / retire
``core/preflight.py``       local refusals: expired credential, forbidden scope
==========================  ====================================================================

A ``check`` from the CLI to the wire: ``cli/check.py`` -> :meth:`Engine.check` ->
``CredentialRegistry.get`` -> ``Checks.run`` -> ``TokenBroker.token`` (-> ``TokenEndpoint.fetch``
-> ``Wire.send``) -> ``ApiClient.call`` -> ``Wire.send`` -> ``api_error`` for a non-2xx answer.

Errors are :class:`~alpaca_tui.core.http.ApiError` with an
:class:`~alpaca_tui.core.http.ErrorCategory`. :meth:`Engine.request` *returns* an
:class:`~alpaca_tui.core.http.ApiResponse` for every HTTP answer (``error`` set when it is
not 2xx) and *raises* ApiError when there is no answer to show: a network error or
timeout, a refused token request, an expired credential or a scope pre-flight refusal.
429 answers are retried (``max_retries``, honouring ``Retry-After`` / ``X-RateLimit-Reset``,
with the injectable ``sleep``); nothing else is retried. All times come from the injected
clock, except the deadline: ``timeout`` bounds each whole call (``request``, ``check``,
``token``, ``authorize``: token request, connect, body, 429 waits and the 401 retry
together) in real time (``core/deadline.py``). ``max_body`` caps the bytes read of an API
answer (``core/wire.py``; the token endpoint's answer is capped at 64 KiB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx

from alpaca_tui.core import deadline
from alpaca_tui.core.api import ApiClient, api_error, infer_api
from alpaca_tui.core.auth.broker import TokenService
from alpaca_tui.core.auth.cache import StoreTokenCache
from alpaca_tui.core.auth.endpoint import TokenEndpoint, token_error
from alpaca_tui.core.auth.signing import UpstreamAuth
from alpaca_tui.core.auth.state import RefreshPolicy
from alpaca_tui.core.checks import CHECK_PATHS, CheckResult, Checks
from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, apis_for
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.http import ApiError, ApiResponse, ErrorCategory
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.preflight import expired_error, scope_preflight
from alpaca_tui.core.registry import Credential, CredentialRegistry
from alpaca_tui.core.rotation import Rotation, RotationError, RotationResult
from alpaca_tui.core.tokens import TokenState
from alpaca_tui.core.wire import DEFAULT_MAX_BODY, SendPolicy, Sleep, Wire

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

_Cred = Credential  # the name tests/unit/test_fuzz_parsers.py builds credentials with


class Engine:
    """Authenticated calls for stored (``store``) or registered (:meth:`add_credential`) profiles."""

    def __init__(self, store: Store | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 refresh_ahead: float = 60.0, timeout: float = 10.0, cache_tokens: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep | None = None, max_retries: int = 3, max_retry_wait: float = 60.0,
                 verify_attempts: int = 5, verify_backoff: float = 0.5,
                 refresh_backoff: float = 2.0, refresh_backoff_max: float = 30.0,
                 max_body: int = DEFAULT_MAX_BODY) -> None:
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
        self.max_body = max(0, int(max_body))
        # the wire is given the caller's sleep as is: None means real waits, charged to the deadline
        self._wire = Wire(SendPolicy(self.timeout, self.max_retries, self.max_retry_wait, self.max_body),
                          clock=clock, sleep=sleep, transport=transport)
        sleep = sleep or asyncio.sleep
        # a claim outlives the token request it covers (its time bound) by a margin
        cache = StoreTokenCache(store, claim_ttl=self.timeout + 5.0) if store is not None else None
        policy = RefreshPolicy(self.refresh_ahead, self.refresh_backoff, self.refresh_backoff_max,
                               self.max_retry_wait)
        self._registry = CredentialRegistry(store, clock=clock, tokens=TokenService(
            TokenEndpoint(self._wire, clock), policy, clock, cache=cache, cache_by_default=cache_tokens))
        self._api = ApiClient(self._wire, clock)
        self._checks = Checks(self._api, clock=clock, store=store)
        self._rotation = Rotation(store, clock=clock, registry=self._registry, checks=self._checks,
                                  cache=cache, sleep=sleep, verify_attempts=self.verify_attempts,
                                  verify_backoff=self.verify_backoff)

    def __repr__(self) -> str:
        return f"Engine(store={'yes' if self.store else 'no'}, credentials={self._registry.known()})"

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._wire.aclose()

    # -- credentials ----------------------------------------------------------------------
    def add_credential(self, profile: Profile, bundle: SecretBundle) -> None:
        """Register a credential for use without a store (replaces one of the same name)."""
        self._registry.add(profile, bundle)

    def forget(self, name: str) -> None:
        """Drop what the engine holds for ``name`` (cached profile, secret, token); reloaded on use."""
        self._registry.forget(name)

    def known(self) -> list[str]:
        return self._registry.known()

    async def profile(self, name: str) -> Profile:
        return (await self._registry.get(name)).profile

    # -- tokens ---------------------------------------------------------------------------
    def token_state(self, name: str) -> TokenState | None:
        """Snapshot of ``name``'s token bookkeeping, or None when the engine has none yet."""
        cred = self._registry.peek(name)
        return cred.tokens.snapshot() if cred is not None else None

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
        instead of a new request each. (Rules: ``core/auth/state.py``.)
        """
        cred = await self._registry.get(name)
        async with self._bounded(f"token request for {name!r}", name):
            return await cred.tokens.token(force=force, use_cache=use_cache, spend_all=True)

    async def authorize(self, name: str, *, refused: UpstreamAuth | None = None) -> UpstreamAuth:
        """The upstream auth headers for ``name`` right now (for a proxy); after the API
        refused them (401), pass them back as ``refused`` for one shared forced refresh."""
        cred = await self._registry.get(name)
        async with self._bounded(f"authorizing {name!r}", name):
            return await self._api.authorize(cred, refused=refused)

    # -- requests -------------------------------------------------------------------------
    async def request(self, name: str, method: str, path: str, *, api: Api | None = None,
                      params: dict[str, str] | None = None, json_body: Any = None, preflight: bool = False,
                      force: bool = False, keep_body: int | None = None) -> ApiResponse:
        """One authenticated call. See the module doc for what is returned vs raised.

        ``preflight=True`` refuses locally (ApiError forbidden_scope) a call the credential's
        access matrix forbids, unless ``force=True``. ``keep_body``: hold at most that many
        bytes of the answer (statistics only; the cap itself is ``max_body``).
        """
        cred = await self._registry.get(name)
        async with self._bounded(f"{method.strip().upper()} {path.strip()[:80]!r}", name):
            return await self._api.call(cred, method, path, api=api, params=params, json_body=json_body,
                                        preflight=preflight and not force, keep_body=keep_body)

    # -- check ----------------------------------------------------------------------------
    async def check(self, name: str, *, use_cache: bool | None = None,
                    record: bool = True) -> list[CheckResult]:
        """Token exchange when needed, then one cheap authenticated GET per API the profile reaches.

        APIs the broker access matrix forbids are reported as skipped (ok). The store's
        ``last_verified_at`` / ``last_check_ok`` / ``last_check_error`` are updated.
        """
        cred = await self._registry.get(name)
        try:
            async with self._bounded(f"check of {name!r}", name):
                results = await self._checks.run(cred, use_cache=use_cache)
        except ApiError as exc:  # the deadline's backstop: one failed line, like any other
            apis = (Api.AUTH,) if cred.profile.flow.is_oauth else apis_for(cred.profile.env)
            results = [CheckResult.failed(cred, a, exc) for a in apis]
        if record:
            await self._checks.record(cred, results)
        return results

    def _bounded(self, what: str, name: str) -> Any:
        """The deadline of one call (``timeout`` seconds; see ``core/deadline.py``)."""
        return deadline.bounded(self.timeout, what, profile=name)

    # -- rotation -------------------------------------------------------------------------
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
        cred = await self._registry.get(name)
        return await self._rotation.rotate(cred, new, keep_old_for=keep_old_for, expires_at=expires_at)

    async def stage(self, name: str, new: Secret) -> Profile:
        """Keep ``new`` as the pending secret without verifying it (e.g. a generated key whose
        public half must be registered with Alpaca first); :meth:`rotate_pending` finishes."""
        return await self._rotation.stage(await self._registry.get(name), new)

    async def rotate_pending(self, name: str, *, keep_old_for: timedelta,
                             expires_at: datetime | Literal["keep"] | None = "keep") -> RotationResult:
        """Verify and promote the staged pending secret (see :meth:`stage`)."""
        cred = await self._registry.get(name)
        if cred.bundle.pending is None:
            raise UsageError(f"{name!r} has no pending secret to promote")
        return await self.rotate(name, cred.bundle.pending, keep_old_for=keep_old_for, expires_at=expires_at)

    async def rollback(self, name: str) -> None:
        """Make the previous secret active again (the newer one becomes the previous)."""
        await self._rotation.rollback(await self._registry.get(name))

    async def retire(self, name: str) -> bool:
        """Drop the previous secret now (no rollback after this). False when there was none."""
        return await self._rotation.retire(await self._registry.get(name))

    # -- the error mappers, as the fuzz suite (tests/unit/test_fuzz_parsers.py) drives them ----
    def _api_error(self, cred: Credential, api: Api, method: str, path: str, status: int,
                   headers: Mapping[str, str], body: Any, text: str, secrets: list[str | None], *,
                   attempts: int) -> ApiError:
        return api_error(cred.profile, cred.secret, api, method, path, status, headers, body, text, secrets,
                         attempts=attempts, now=self.clock.now())

    def _token_error(self, cred: Credential, resp: httpx.Response, body: Any,
                     secrets: list[str | None], *, attempts: int = 1) -> ApiError:
        return token_error(cred.profile, cred.secret, resp, body, secrets, now=self.clock.time(),
                           attempts=attempts)
