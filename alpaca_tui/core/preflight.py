"""Refusals made before anything is sent: an expired credential, a scope the matrix forbids.

Both return an :class:`~alpaca_tui.core.http.ApiError` (or None) rather than raising, so
callers choose: the token broker and the API client raise it, ``check`` turns it into a
result line, the CLI's ``exec`` prints it.

The scope guard (:func:`scope_check`, and :func:`scope_preflight` for the refusal alone) is
what the ``request`` command, the TUI tester and the auth proxy consult. For a broker
credential, on :func:`~alpaca_tui.core.pathscopes.required_scope`'s answer:

=================  ===========================================  =====================
answer             read (GET, HEAD)                             write
=================  ===========================================  =====================
scoped             refused unless the matrix allows read        refused unless rw
reference data     allowed                                      (not a spec operation)
unknown            allowed, with a warning                      refused (deny by default)
ambiguous          refused                                      refused
=================  ===========================================  =====================

Trading keys (live, paper) have no matrix and are never refused here. A refusal is
``ErrorCategory.FORBIDDEN_SCOPE`` with no status; ``--force`` (the caller's) sends anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api
from alpaca_tui.core.expiry import describe_expiry
from alpaca_tui.core.explain import LOCAL, Explanation
from alpaca_tui.core.http import ApiError, ErrorCategory

if TYPE_CHECKING:   # the path table is loaded on the first scope question (a trading key never asks)
    from alpaca_tui.core.pathscopes import Requirement

__all__ = ["ScopeCheck", "expired_error", "scope_check", "scope_preflight"]

_FORCE = "not sent (use --force to send anyway)"


@dataclass(frozen=True)
class ScopeCheck:
    """The guard's verdict on one call: ``refusal`` (send nothing) and/or a ``warning`` to show."""

    requirement: Requirement
    refusal: ApiError | None = None
    warning: str | None = None
    reason: str | None = None       # the refusal without its "not sent (use --force ...)" tail

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def scope_check(profile: Profile, api: Api, method: str, path: str) -> ScopeCheck:
    """The scope guard's verdict for ``profile`` calling ``method path`` on ``api``."""
    from alpaca_tui.core.pathscopes import Kind, describe_requirement, required_scope

    need = required_scope(api, method, path)
    if not profile.env.is_broker or need.kind in (Kind.NO_MATRIX, Kind.REFERENCE):
        return ScopeCheck(need)
    where = f"{need.method} {need.path}"
    if need.kind is Kind.UNKNOWN:
        text = (f"{where} {need.describe()}, so the scope guard cannot tell which scope it needs")
        if not need.write:
            return ScopeCheck(need, warning=f"{text}; sent anyway (a read)")
        return _refused(need, profile, f"{text}, and a write to an unknown path is refused", _FORCE,
                        _unknown_explanation(need))
    if need.kind is Kind.AMBIGUOUS:
        return _refused(need, profile, f"{where} {need.describe()}", _FORCE, Explanation(
            "scope-guard", "an ambiguous path",
            "percent-encoded '/' or '.' make the path one operation as sent and another once decoded",
            "send the path without encoded slashes or dots (encode only what a symbol needs)"))
    assert need.scope is not None
    if need.allowed_by(profile.access):
        return ScopeCheck(need)
    scope, write = need.scope, need.write
    have = profile.access.level(scope).label
    return _refused(
        need, profile, f"{where} needs {describe_requirement(scope, write)} but credential {profile.name!r} "
                       f"has {scope.label}: {have}", _FORCE,
        Explanation("scope-guard", "outside the credential's access matrix",
                    f"credential {profile.name!r} is recorded with {scope.label}: {have}; this operation "
                    f"needs {describe_requirement(scope, write)} (docs/scopes.md)",
                    f"use a credential with {scope.label} {'read-write' if write else 'read-only'} access "
                    "(the matrix is chosen when a credential is created in the broker dashboard), or "
                    "--force if the recorded matrix is out of date"))


def scope_preflight(profile: Profile, api: Api, method: str, path: str) -> ApiError | None:
    """An ApiError(forbidden_scope) when the scope guard refuses the call, else None.

    Only broker credentials have a matrix; trading keys (live, paper) are never refused here.
    """
    if not profile.env.is_broker:
        return None
    return scope_check(profile, api, method, path).refusal


def _refused(need: Requirement, profile: Profile, reason: str, tail: str,
             explanation: Explanation) -> ScopeCheck:
    refusal = ApiError(ErrorCategory.FORBIDDEN_SCOPE, f"{reason}; {tail}", profile=profile.name,
                       explanation=explanation)
    return ScopeCheck(need, refusal, reason=reason)


def _unknown_explanation(need: Requirement) -> Explanation:
    return Explanation(
        "scope-guard", "not an operation of the Broker API",
        f"{need.method} {need.path} is in no operation of the published Broker API, so the scope it "
        "needs is unknown and a write is refused by default",
        "check the path and method against docs/scopes.md (a typo, a path of another API: --api), or "
        "--force to send it anyway")


def expired_error(profile: Profile, now: datetime) -> ApiError | None:
    """ApiError(expired_credential) naming the profile when its credential has expired, else None."""
    exp = profile.expires_at
    if exp is None or exp > now:
        return None
    return ApiError(
        ErrorCategory.EXPIRED_CREDENTIAL,
        f"credential {profile.name!r} expired {describe_expiry(exp, now)} ({exp:%Y-%m-%d %H:%M} UTC); "
        f"not sent. Create a new credential in the Alpaca dashboard and rotate: "
        f"alpaca-tui rotate {profile.name} ...", profile=profile.name,
        explanation=LOCAL["expired"].named(profile.name))
