"""HTTP results and error mapping for the auth engine (no network code lives here).

Every failure a user can see becomes an :class:`ApiError` with an :class:`ErrorCategory`,
the HTTP status (when there was a response), the server's ``X-Request-ID`` and the
server's own message, redacted with the credential's secret values. ``str(ApiError)`` is
one line and never contains headers, request bodies or secrets.

Server bodies (alpaca-auth.md §3): ``{"code": 40110000, "message": "request is not
authorized"}`` for the APIs; ``{"error": "invalid_client", ...}`` (OAuth, RFC 6749) for the
token endpoint; ``{"message": "forbidden."}`` for malformed headers. Anything else
(HTML from a proxy, an empty 502) is shown as a short scrubbed excerpt.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.explain import Explanation
from alpaca_tui.core.redact import mask, redact, scrub

MAX_MESSAGE = 300
RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class ErrorCategory(StrEnum):
    BAD_CREDENTIALS = "bad_credentials"
    WRONG_ENVIRONMENT = "wrong_environment"
    FORBIDDEN_SCOPE = "forbidden_scope"
    FORBIDDEN = "forbidden"                  # 403 not explained by a scope (business rule, entitlement)
    EXPIRED_CREDENTIAL = "expired_credential"
    RATE_LIMITED = "rate_limited"
    CLIENT_ERROR = "client_error"            # other 4xx: 400, 404, 422 ...
    SERVER_ERROR = "server_error"            # 5xx, or a response we cannot read
    NETWORK_ERROR = "network_error"          # connect refused, DNS, dropped connection
    TIMEOUT = "timeout"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class ApiError(AlpacaTuiError):
    """A failed call (or a call refused locally), as one line.

    ``message`` is the full one-line text: ``<category label>: <detail> (HTTP 401,
    request-id abc)``. ``server_message`` is the server's own words (redacted) or None.
    ``explanation`` is its cause and fix (:mod:`alpaca_tui.core.explain`) or None.
    """

    def __init__(self, category: ErrorCategory, detail: str, *, status: int | None = None,
                 request_id: str | None = None, server_message: str | None = None,
                 profile: str | None = None, retry_after: float | None = None,
                 explanation: Explanation | None = None) -> None:
        self.category = category
        self.explanation = explanation  # cause + fix lines (core/explain.py), shown under the message
        self.status = status
        self.request_id = request_id
        self.server_message = server_message
        self.profile = profile
        self.retry_after = retry_after
        self.detail = " ".join(detail.split())
        suffix = []
        if status is not None:
            suffix.append(f"HTTP {status}")
        if request_id:
            suffix.append(f"request-id {request_id}")
        text = f"{category.label}: {self.detail}"
        if suffix:
            text += f" ({', '.join(suffix)})"
        super().__init__(text)

    @property
    def summary(self) -> str:
        """The message without the HTTP status (for tables that show the status already)."""
        text = f"{self.category.label}: {self.detail}"
        return text + (f" (request-id {self.request_id})" if self.request_id else "")

    def __repr__(self) -> str:
        return f"ApiError({self.category.value!r}, status={self.status!r}, {self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        ex = self.explanation
        return {"category": self.category.value, "status": self.status, "request_id": self.request_id,
                "message": self.message, "server_message": self.server_message,
                "cause": ex.cause if ex else None, "fix": ex.fix if ex else None}


@dataclass(frozen=True)
class RateLimit:
    """``X-RateLimit-*`` values (reset = UNIX epoch seconds when the quota changes)."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        h = {k.lower(): v for k, v in headers.items()}
        if not any(k in h for k in RATE_LIMIT_HEADERS):
            return None
        return cls(limit=_int(h.get("x-ratelimit-limit")), remaining=_int(h.get("x-ratelimit-remaining")),
                   reset=_float(h.get("x-ratelimit-reset")))

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "remaining": self.remaining, "reset": self.reset}


@dataclass(frozen=True)
class ApiResponse:
    """What came back. ``error`` is set (an :class:`ApiError`) for any non-2xx status."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    text: str
    json: Any
    latency_ms: float
    request_id: str | None
    rate_limit: RateLimit | None
    error: ApiError | None = None
    attempts: int = 1                 # HTTP attempts made (429 retries, the 401 retry)
    token_refreshed: bool = False     # a 401 forced a token refresh and a retry
    api: str | None = None
    profile: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300

    def __repr__(self) -> str:
        return (f"ApiResponse({self.method} {self.url} -> {self.status}, {self.latency_ms:.0f} ms, "
                f"request_id={self.request_id!r}, error={self.error!r})")

    def raise_for_error(self) -> ApiResponse:
        if self.error is not None:
            raise self.error
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "api": self.api, "method": self.method, "url": self.url,
            "status": self.status, "ok": self.ok, "latency_ms": round(self.latency_ms, 1),
            "request_id": self.request_id, "attempts": self.attempts,
            "rate_limit": self.rate_limit.to_dict() if self.rate_limit else None,
            "error": self.error.to_dict() if self.error else None,
            "json": self.json, "text": None if self.json is not None else self.text,
        }


# -- parsing helpers -----------------------------------------------------------------------------


def _int(v: str | None) -> int | None:
    try:
        return int(str(v).strip()) if v is not None else None
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    """A finite float, or None (header values like 'nan', 'inf' or '1e400' are ignored)."""
    if v is None:
        return None
    try:
        f = float(str(v).strip())
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def epoch_to_utc(ts: float | None) -> datetime | None:
    """An aware UTC datetime for an epoch from a header, or None when it is out of range."""
    if ts is None or not math.isfinite(ts):
        return None
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def request_id_of(headers: Mapping[str, str]) -> str | None:
    for k, v in headers.items():
        if k.lower() == "x-request-id" and v:
            return scrub(v.strip())[:80]
    return None


def retry_delay(headers: Mapping[str, str], now: float, *, attempt: int, default: float = 1.0,
                max_wait: float = 60.0) -> float:
    """Seconds to wait before retrying a 429: ``Retry-After`` (seconds or HTTP date), else
    ``X-RateLimit-Reset`` (epoch) - now, else exponential ``default * 2**attempt``; capped."""
    asked = server_wait(headers, now, status=429, max_wait=max_wait)
    if asked is not None:
        return asked
    backoff: float = default * (2.0 ** attempt)
    return min(backoff, max_wait)


def server_wait(headers: Mapping[str, str], now: float, *, status: int,
                max_wait: float = 3600.0) -> float | None:
    """How long the server asked us to wait, or None when it did not say.

    ``Retry-After`` (seconds or an HTTP date) on any status (429, and 503 per RFC 9110);
    for a 429 without it, ``X-RateLimit-Reset`` (epoch) - now. Capped at ``max_wait``."""
    h = {k.lower(): v for k, v in headers.items()}
    ra = h.get("retry-after")
    if ra:
        secs = _float(ra)
        if secs is None:
            try:
                secs = float(email.utils.parsedate_to_datetime(ra).timestamp()) - now
            except (TypeError, ValueError, IndexError, OverflowError):
                secs = None
        if secs is not None:
            return min(max(secs, 0.0), max_wait)
    if status == 429:
        reset = _float(h.get("x-ratelimit-reset"))
        if reset is not None and reset > now:
            return min(reset - now, max_wait)
    return None


def server_message(body: Any, text: str, secrets: Iterable[str | None]) -> str | None:
    """The server's own message from an Alpaca or OAuth error body, redacted, one line."""
    secrets = list(secrets)
    msg: str | None = None
    if isinstance(body, dict):
        parts: list[str] = []
        err = body.get("error")
        if isinstance(err, str) and err:
            parts.append(err)
        for key in ("error_description", "message", "msg", "detail"):
            v = body.get(key)
            if isinstance(v, str) and v and v not in parts:
                parts.append(v)
        code = body.get("code")
        fields = body.get("fields")
        if isinstance(fields, list):
            names = [str(f.get("name")) for f in fields if isinstance(f, dict) and f.get("name")]
            if names:
                parts.append("fields: " + ", ".join(names))
        if parts:
            msg = ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")
            if code is not None and isinstance(code, int | str) and str(code) not in msg:
                msg += f" (code {code})"
    elif isinstance(body, str) and body:
        msg = body
    if msg is None:
        stripped = " ".join(text.split())
        if not stripped:
            return None
        if stripped.lstrip().startswith("<"):
            return "non-JSON response (HTML)"
        msg = stripped
    msg = " ".join(scrub(redact(msg, secrets)).split())
    if len(msg) > MAX_MESSAGE:
        msg = msg[: MAX_MESSAGE - 1] + "…"
    return msg


def oauth_error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def env_mismatch_hint(profile: Profile, key_id: str, server_text: str) -> str | None:
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
