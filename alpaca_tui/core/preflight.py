"""Refusals made before anything is sent: an expired credential, a scope the matrix forbids.

Both return an :class:`~alpaca_tui.core.http.ApiError` (or None) rather than raising, so
callers choose: the token broker and the API client raise it, ``check`` turns it into a
result line, the CLI's ``exec`` prints it.
"""

from __future__ import annotations

from datetime import datetime

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api
from alpaca_tui.core.expiry import describe_expiry
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.pathscopes import describe_requirement, normalize_path, required_scope

__all__ = ["expired_error", "scope_preflight"]


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
