"""Checks: does a credential work? One cheap authenticated GET per API it reaches.

:class:`Checks` runs them for one credential (:meth:`Checks.run`): an expired credential
is refused locally on every line; an OAuth credential first needs a token (a refused token
request is the single ``auth`` line); then one GET per API (:data:`CHECK_PATHS`), in
parallel, through the :class:`~alpaca_tui.core.api.ApiClient`. APIs the broker access
matrix forbids are reported as skipped (ok). :meth:`Checks.record` writes the outcome to
the store's index (``last_verified_at`` / ``last_check_ok`` / ``last_check_error``).
Rotation uses :meth:`Checks.run` to verify a new secret before promoting it.

The lines themselves (:func:`expired_lines`, :func:`skipped_line`, :func:`answer_line`) and
the index update (:func:`record_check`) are plain functions, shared with the one-shot
``check`` of key pairs (:mod:`alpaca_tui.core.quickcheck`), which runs without asyncio: this
module imports it only inside the engine's coroutines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api, Env, apis_for
from alpaca_tui.core.errors import NotFoundError, StoreError
from alpaca_tui.core.explain import Explanation
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.preflight import expired_error, scope_preflight
from alpaca_tui.core.redact import redact
from alpaca_tui.core.sanitize import clean_line

if TYPE_CHECKING:
    from alpaca_tui.core.api import ApiClient
    from alpaca_tui.core.http import ApiResponse
    from alpaca_tui.core.registry import Credential
    from alpaca_tui.core.store import Store

__all__ = ["CHECK_PATHS", "CheckResult", "CheckSubject", "Checks", "answer_line", "expired_lines",
           "record_check", "skipped_line"]

# The cheap authenticated GET per API used by check() and rotation verification.
CHECK_PATHS: dict[Api, tuple[str, dict[str, str]]] = {
    Api.TRADING: ("/v2/account", {}),
    Api.DATA: ("/v2/stocks/AAPL/bars/latest", {"feed": "iex"}),
    Api.BROKER: ("/v1/accounts", {}),
}


class CheckSubject(Protocol):
    """What a check line names: a credential (the engine's, or the one-shot check's key pair)."""

    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> Profile: ...


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
    explanation: Explanation | None = None   # cause + fix of a failure (core/explain.py)

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "env": self.env.value if self.env else None, "api": self.api.value,
                "ok": self.ok, "status": self.status,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "category": self.category.value if self.category else None, "message": self.message,
                "request_id": self.request_id, "skipped": self.skipped,
                "cause": self.explanation.cause if self.explanation else None,
                "fix": self.explanation.fix if self.explanation else None}

    @classmethod
    def failed(cls, cred: CheckSubject, api: Api, exc: ApiError, latency: float | None = None) -> CheckResult:
        return cls(profile=cred.name, env=cred.profile.env, api=api, ok=False, status=exc.status,
                   latency_ms=latency, message=exc.summary, category=exc.category, request_id=exc.request_id,
                   explanation=exc.explanation)


MAX_STORED_ERROR = 400


def stored_error(result: CheckResult, secrets: list[str | None]) -> str:
    """What the index keeps of a failed check: the API, the category and the message, redacted
    (every encoding of the credential's secrets) and cleaned (no control character), one line."""
    text = " ".join(redact(f"{result.api.value}: {result.message}", secrets).split())
    if len(text) > MAX_STORED_ERROR:
        text = text[: MAX_STORED_ERROR - 1] + "…"
    return clean_line(text)


def expired_lines(cred: CheckSubject, apis: tuple[Api, ...], now: datetime) -> list[CheckResult] | None:
    """One failed line per API when the credential has expired (nothing is sent), else None."""
    refusal = expired_error(cred.profile, now)
    return None if refusal is None else [CheckResult.failed(cred, a, refusal) for a in apis]


def skipped_line(cred: CheckSubject, api: Api) -> CheckResult | None:
    """The ``skipped`` line of an API the broker access matrix does not let the credential read."""
    path, _params = CHECK_PATHS[api]
    if scope_preflight(cred.profile, api, "GET", path) is None:
        return None
    from alpaca_tui.core.pathscopes import required_scope

    scope = required_scope(api, "GET", path).scope
    label = scope.label if scope else api.value
    return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=None,
                       latency_ms=None, skipped=True,
                       message=f"skipped: the credential has no {label} read access")


def answer_line(cred: CheckSubject, api: Api, resp: ApiResponse) -> CheckResult:
    """The line of an API that answered: ok, or failed with the answer's error."""
    if resp.error is not None:
        return CheckResult.failed(cred, api, resp.error, resp.latency_ms)
    return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=resp.status,
                       latency_ms=resp.latency_ms, message="ok", request_id=resp.request_id)


def record_check(store: Store, name: str, results: list[CheckResult], secrets: list[str | None],
                 now: datetime) -> Profile | None:
    """Write a check's outcome to ``name``'s index entry (blocking); None when it cannot be
    written (the profile is gone, the store refuses)."""
    ok = all(r.ok for r in results)
    first_bad = next((r for r in results if not r.ok), None)
    error = None if first_bad is None else stored_error(first_bad, secrets)
    try:
        return store.update_profile(name, last_verified_at=now, last_check_ok=ok, last_check_error=error)
    except (StoreError, NotFoundError):
        return None


class Checks:
    """``check`` for the credentials of one engine."""

    def __init__(self, api: ApiClient, *, clock: Clock, store: Store | None) -> None:
        self._api = api
        self._clock = clock
        self._store = store

    async def run(self, cred: Credential, *, use_cache: bool | None = None,
                  apis: tuple[Api, ...] | None = None) -> list[CheckResult]:
        """Token exchange when needed, then one GET per API (``apis``: all the profile reaches)."""
        import asyncio

        profile = cred.profile
        targets = apis or apis_for(profile.env)
        refused = expired_lines(cred, targets, self._clock.now())
        if refused is not None:
            return refused
        # a token due for its refresh ahead of expiry still serves: the API calls below refresh
        # it once they have their answers (core/api.py), so a slow token endpoint cannot starve them
        if profile.flow.is_oauth and cred.tokens.ahead() is None:
            try:
                await cred.tokens.token(use_cache=use_cache)
            except ApiError as exc:
                return [CheckResult.failed(cred, Api.AUTH, exc)]
        return list(await asyncio.gather(*(self._one(cred, a, use_cache) for a in targets)))

    async def _one(self, cred: Credential, api: Api, use_cache: bool | None) -> CheckResult:
        skipped = skipped_line(cred, api)
        if skipped is not None:
            return skipped
        path, params = CHECK_PATHS[api]
        try:
            resp = await self._api.call(cred, "GET", path, api=api, params=params, use_cache=use_cache)
        except ApiError as exc:
            return CheckResult.failed(cred, api, exc)
        return answer_line(cred, api, resp)

    async def record(self, cred: Credential, results: list[CheckResult]) -> None:
        """Write the outcome to the store's index (a stored, non-candidate credential only)."""
        import asyncio

        store = self._store
        if store is None or not cred.persistent:
            return
        updated = await asyncio.to_thread(record_check, store, cred.name, results, cred.secrets(),
                                          self._clock.now())
        if updated is not None:
            cred.profile = replace(cred.profile, last_verified_at=updated.last_verified_at,
                                   last_check_ok=updated.last_check_ok,
                                   last_check_error=updated.last_check_error)
