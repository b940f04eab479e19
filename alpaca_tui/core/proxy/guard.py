"""What the proxy refuses before anything is sent upstream, with the SAME rules as ``request``
and the TUI's tester: an expired credential (:func:`~alpaca_tui.core.preflight.expired_error`),
a call the scope guard refuses (:func:`~alpaca_tui.core.preflight.scope_check`, over the spec's
path -> scope table in :mod:`alpaca_tui.core.pathscopes`: outside the access matrix, a write
to a path the Broker API does not have, an ambiguous path), and, unless the proxy was started
with ``--allow-live-writes``, a write to ``live`` or ``broker-live``. The proxy has no
``--force``: what the guard refuses is never sent.

Refusals are Alpaca-shaped 403 answers ``{"code": 40310000, "message": ...}`` whose message
names the scope (or the rule); :class:`Refusal` also carries the audit decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api
from alpaca_tui.core.pathscopes import Kind, is_write, normalize_path, required_scope
from alpaca_tui.core.preflight import expired_error, scope_check

__all__ = ["FORBIDDEN_CODE", "UNAUTHORIZED_CODE", "Refusal", "check", "scope_label"]

FORBIDDEN_CODE = 40310000
UNAUTHORIZED_CODE = 40110000
_FORCE_HINT = re.compile(r"\s*;?\s*not sent\s*\(use --force[^)]*\)\s*$|\s*\(use --force[^)]*\)")


@dataclass(frozen=True)
class Refusal:
    """A local refusal: the HTTP status, Alpaca's code, a message, and the audit decision
    (``unauthorized`` | ``expired`` | ``scope`` | ``live-write``)."""

    status: int
    code: int
    message: str
    decision: str

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


def scope_label(profile: Profile, api: Api, method: str, path: str) -> str | None:
    """``funding:rw`` / ``data:ro`` for the audit log; ``unknown`` for a broker path the spec
    does not have (a read the guard lets through with a warning); None: no scope needed."""
    if not profile.env.is_broker:
        return None
    req = required_scope(api, method, path)
    need = req.need
    if need is None:
        return "unknown" if req.kind is Kind.UNKNOWN else None
    scope, write = need
    return f"{scope.value}:{'rw' if write else 'ro'}"


def check(profile: Profile, api: Api, method: str, path: str, *, now: datetime,
          allow_live_writes: bool) -> Refusal | None:
    """The refusal for this call, or None to forward it. Order: expiry, scope, live write."""
    expired = expired_error(profile, now)
    if expired is not None:
        return Refusal(403, FORBIDDEN_CODE, _proxy_words(expired.detail), "expired")
    verdict = scope_check(profile, api, method, path)
    if verdict.refusal is not None:
        reason = verdict.reason or _FORCE_HINT.sub("", verdict.refusal.detail).rstrip(" ;")
        return Refusal(403, FORBIDDEN_CODE, f"{reason}; not sent (alpaca-tui proxy)", "scope")
    if profile.env.is_live and is_write(method) and not allow_live_writes:
        return Refusal(403, FORBIDDEN_CODE,
                       f"{method.upper()} {normalize_path(path)} is a write to {profile.env.value} (real "
                       f"money); this proxy was started without --allow-live-writes: not sent "
                       f"(alpaca-tui proxy)", "live-write")
    return None


def unauthorized() -> Refusal:
    return Refusal(401, UNAUTHORIZED_CODE,
                   "request is not authorized (alpaca-tui proxy: send this proxy run's placeholder key "
                   "pair, as APCA-API-KEY-ID/APCA-API-SECRET-KEY, HTTP Basic or Bearer)", "unauthorized")


def _proxy_words(detail: str) -> str:
    """The engine's refusal, without the CLI's ``--force`` advice (the proxy has no --force)."""
    text = _FORCE_HINT.sub("", detail).rstrip(" ;")
    return f"{text}; not sent (alpaca-tui proxy)"
