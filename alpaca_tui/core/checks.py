"""Checks: does a credential work? One cheap authenticated GET per API it reaches.

:class:`Checks` runs them for one credential (:meth:`Checks.run`): an expired credential
is refused locally on every line; an OAuth credential first needs a token (a refused token
request is the single ``auth`` line); then one GET per API (:data:`CHECK_PATHS`), in
parallel, through the :class:`~alpaca_tui.core.api.ApiClient`. APIs the broker access
matrix forbids are reported as skipped (ok). :meth:`Checks.record` writes the outcome to
the store's index (``last_verified_at`` / ``last_check_ok`` / ``last_check_error``).
Rotation uses :meth:`Checks.run` to verify a new secret before promoting it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.clock import Clock
from alpaca_tui.core.environments import Api, Env, apis_for
from alpaca_tui.core.errors import NotFoundError, StoreError
from alpaca_tui.core.explain import Explanation
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.pathscopes import required_scope
from alpaca_tui.core.preflight import expired_error, scope_preflight

if TYPE_CHECKING:
    from alpaca_tui.core.api import ApiClient
    from alpaca_tui.core.registry import Credential
    from alpaca_tui.core.store import Store

__all__ = ["CHECK_PATHS", "CheckResult", "Checks"]

# The cheap authenticated GET per API used by check() and rotation verification.
CHECK_PATHS: dict[Api, tuple[str, dict[str, str]]] = {
    Api.TRADING: ("/v2/account", {}),
    Api.DATA: ("/v2/stocks/AAPL/bars/latest", {"feed": "iex"}),
    Api.BROKER: ("/v1/accounts", {}),
}


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
    def failed(cls, cred: Credential, api: Api, exc: ApiError, latency: float | None = None) -> CheckResult:
        return cls(profile=cred.name, env=cred.profile.env, api=api, ok=False, status=exc.status,
                   latency_ms=latency, message=exc.summary, category=exc.category, request_id=exc.request_id,
                   explanation=exc.explanation)


class Checks:
    """``check`` for the credentials of one engine."""

    def __init__(self, api: ApiClient, *, clock: Clock, store: Store | None) -> None:
        self._api = api
        self._clock = clock
        self._store = store

    async def run(self, cred: Credential, *, use_cache: bool | None = None,
                  apis: tuple[Api, ...] | None = None) -> list[CheckResult]:
        """Token exchange when needed, then one GET per API (``apis``: all the profile reaches)."""
        profile = cred.profile
        targets = apis or apis_for(profile.env)
        refusal = expired_error(profile, self._clock.now())
        if refusal is not None:
            return [CheckResult.failed(cred, a, refusal) for a in targets]
        if profile.flow.is_oauth:
            try:
                await cred.tokens.token(use_cache=use_cache)
            except ApiError as exc:
                return [CheckResult.failed(cred, Api.AUTH, exc)]
        return list(await asyncio.gather(*(self._one(cred, a, use_cache) for a in targets)))

    async def _one(self, cred: Credential, api: Api, use_cache: bool | None) -> CheckResult:
        path, params = CHECK_PATHS[api]
        refusal = scope_preflight(cred.profile, api, "GET", path)
        if refusal is not None:
            scope = required_scope(api, "GET", path).scope
            label = scope.label if scope else api.value
            return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=None,
                               latency_ms=None, skipped=True,
                               message=f"skipped: the credential has no {label} read access")
        try:
            resp = await self._api.call(cred, "GET", path, api=api, params=params, use_cache=use_cache)
        except ApiError as exc:
            return CheckResult.failed(cred, api, exc)
        if resp.error is not None:
            return CheckResult.failed(cred, api, resp.error, resp.latency_ms)
        return CheckResult(profile=cred.name, env=cred.profile.env, api=api, ok=True, status=resp.status,
                           latency_ms=resp.latency_ms, message="ok", request_id=resp.request_id)

    async def record(self, cred: Credential, results: list[CheckResult]) -> None:
        """Write the outcome to the store's index (a stored, non-candidate credential only)."""
        store = self._store
        if store is None or not cred.persistent:
            return
        ok = all(r.ok for r in results)
        first_bad = next((r for r in results if not r.ok), None)
        error = None if first_bad is None else f"{first_bad.api.value}: {first_bad.message}"
        try:
            updated = await asyncio.to_thread(store.update_profile, cred.name,
                                              last_verified_at=self._clock.now(), last_check_ok=ok,
                                              last_check_error=error)
        except (StoreError, NotFoundError):
            return
        cred.profile = replace(cred.profile, last_verified_at=updated.last_verified_at,
                               last_check_ok=updated.last_check_ok, last_check_error=updated.last_check_error)
