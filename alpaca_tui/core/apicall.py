"""What an API call is made of, apart from sending it: where it goes, the key pair's headers,
and the reading of its answer.

Pure functions, shared by the engine's :class:`~alpaca_tui.core.api.ApiClient` and the
one-shot ``check`` of key pairs (:mod:`alpaca_tui.core.quickcheck`), so both say the same:

* :func:`resolve_call` — validate a call and find its URL (UsageError), refuse an expired
  credential (ApiError) before anything is sent;
* :func:`key_headers` — a key pair's headers: ``APCA-API-KEY-ID`` / ``-SECRET-KEY``, or HTTP
  Basic on the broker environments; :func:`request_parts` — what each attempt sends;
* :func:`read_answer` — an :class:`~alpaca_tui.core.exchange.Sent` as the
  :class:`~alpaca_tui.core.http.ApiResponse` a caller sees (redacted, ``error`` set when it
  is not 2xx or was cut at the body cap), with :func:`api_error` naming a non-2xx answer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from alpaca_tui.core.credentials import Profile, Secret
from alpaca_tui.core.environments import Api, Env, apis_for, normalize_path, resolve_endpoints
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.exchange import RequestParts, Sent, size_text
from alpaca_tui.core.explain import LOCAL, MALFORMED_HEADERS, SUBSCRIPTION, Explanation, explain_api
from alpaca_tui.core.http import (
    ApiError,
    ApiResponse,
    ErrorCategory,
    RateLimit,
    env_mismatch_hint,
    epoch_to_utc,
    parse_json,
    request_id_of,
    server_message,
)
from alpaca_tui.core.preflight import expired_error
from alpaca_tui.core.redact import redact, redact_json, scrub
from alpaca_tui.core.sanitize import is_clean

__all__ = ["api_error", "infer_api", "key_headers", "read_answer", "request_parts", "resolve_call"]

# Paths served by the market-data host (everything else goes to the env's primary API).
_DATA_PREFIXES = ("/v2/stocks", "/v2/options", "/v1/corporate-actions", "/v2/crypto",
                  "/v1/logos", "/v1/news", "/v1/screener", "/v1/forex")
_DATA_BETA = re.compile(r"/v1beta\d+(?:/|$)")   # /v1beta1/news, /v1beta3/crypto (broker: /v1beta/...)
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
MAX_PATH = 4096
MAX_QUERY = 16 * 1024


def infer_api(env: Env, path: str) -> Api:
    """The API a path belongs to for a profile of ``env`` (data paths go to the data host)."""
    p = normalize_path(path)
    if _DATA_BETA.match(p) or any(p == pre or p.startswith(pre + "/") for pre in _DATA_PREFIXES):
        return Api.DATA
    return Api.BROKER if env.is_broker else Api.TRADING


def resolve_call(profile: Profile, method: str, path: str, api: Api | None, json_body: Any,
                 params: Mapping[str, str] | None, *, now: datetime) -> tuple[str, str, Api, str]:
    """(METHOD, path, API, URL) of a call, or UsageError / ApiError(expired) before sending."""
    m = method.strip().upper()
    if m not in _METHODS:
        raise UsageError(f"unsupported HTTP method {method!r}")
    p = path.strip()
    if not p.startswith("/") or p.startswith("//"):
        raise UsageError(f"the path must start with '/' (got {scrub(p)[:60]!r}); the host comes from "
                         "the profile's environment")
    if any(c.isspace() for c in p):
        raise UsageError("the path must not contain whitespace (URL-encode it)")
    if not is_clean(p) or len(p) > MAX_PATH:
        raise UsageError(f"the path must be at most {MAX_PATH} characters without control characters "
                         "(URL-encode them)")
    if params and sum(len(k) + len(v) + 2 for k, v in params.items()) > MAX_QUERY:
        raise UsageError(f"the query is longer than {MAX_QUERY} characters")
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
    refusal = expired_error(profile, now)
    if refusal is not None:
        raise refusal
    return m, p, target, hosts[target] + p


def key_headers(profile: Profile, secret: Secret) -> dict[str, str]:
    """The key pair's auth headers: APCA (trading envs) or HTTP Basic (broker envs)."""
    if not secret.secret:
        raise UsageError(f"profile {profile.name!r} has no secret stored")
    if not (_header_safe(secret.key_id) and _header_safe(secret.secret)):
        # stored before the key ID and secret were checked at the door (printable ASCII)
        raise UsageError(f"the stored key ID or secret of {profile.name!r} is not printable ASCII; "
                         "add the credential again")
    if profile.env.is_broker:
        raw = f"{secret.key_id}:{secret.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    return {"APCA-API-KEY-ID": secret.key_id, "APCA-API-SECRET-KEY": secret.secret}


def _header_safe(value: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E for c in value)


def request_parts(auth: Mapping[str, str], params: Mapping[str, str] | None,
                  json_body: Any) -> Callable[[], RequestParts]:
    """A call's parts per attempt: JSON accepted, the auth headers, the query, the body."""
    headers = {"Accept": "application/json", **auth}

    def build() -> RequestParts:
        parts: RequestParts = {"headers": headers}
        if params:
            parts["params"] = dict(params)
        if json_body is not None:
            parts["json"] = json_body
        return parts

    return build


def read_answer(profile: Profile, secret: Secret, target: Api, method: str, path: str, url: str,
                sent: Sent, secrets: list[str | None], *, attempts: int, refreshed: bool,
                now: datetime) -> ApiResponse:
    """An answer as the caller sees it: redacted, ``error`` set when it is not 2xx (or was cut
    at the body cap)."""
    resp = sent.response
    text = sent.text
    body = None if sent.truncated else parse_json(text)
    error = None
    rid = request_id_of(resp.headers, secrets)
    if not 200 <= resp.status_code < 300:
        error = api_error(profile, secret, target, method, path, resp.status_code, resp.headers,
                          body, text, secrets, attempts=attempts, now=now)
    elif sent.truncated:
        error = ApiError(ErrorCategory.SERVER_ERROR,
                         f"{method} {normalize_path(path)}: the answer is larger than "
                         f"{size_text(sent.cap)} and was not read further (raise the cap with "
                         "--max-body or ALPACA_TUI_MAX_BODY)",
                         status=resp.status_code, request_id=rid, profile=profile.name)
    return ApiResponse(method=method, url=url, status=resp.status_code,
                       headers={k: redact(v, secrets) for k, v in dict(resp.headers).items()},
                       text=redact(text, secrets), json=redact_json(body, secrets),
                       latency_ms=sent.latency_ms, request_id=rid,
                       rate_limit=RateLimit.from_headers(resp.headers), error=error, attempts=attempts,
                       token_refreshed=refreshed, api=target.value, profile=profile.name,
                       truncated=sent.truncated)


def api_error(profile: Profile, secret: Secret, api: Api, method: str, path: str, status: int,
              headers: Mapping[str, str], body: Any, text: str, secrets: list[str | None], *,
              attempts: int, now: datetime) -> ApiError:
    """A non-2xx API answer as one line with its category (401: expired / wrong environment /
    bad credentials; 403: the scope it needs; 429: when the quota resets; 5xx; redirects)."""
    rid = request_id_of(headers, secrets)
    msg = server_message(body, text, secrets)
    shown = msg or f"HTTP {status}"
    where = f"{method} {normalize_path(path)}"

    explanation = explain_api(status, body, msg, data_host=api is Api.DATA)

    def err(cat: ErrorCategory, detail: str) -> ApiError:
        ex = explanation.named(profile.name) if explanation else None
        return ApiError(cat, detail, status=status, request_id=rid, server_message=msg, profile=profile.name,
                        explanation=ex)

    if status == 401:
        exp = profile.expires_at
        if (exp is not None and exp <= now) or "expired" in shown.lower():
            explanation = LOCAL["expired"]
            return err(ErrorCategory.EXPIRED_CREDENTIAL,
                       f"{shown}; credential {profile.name!r} has expired — create a new one and rotate")
        hint = env_mismatch_hint(profile, secret.key_id, shown)
        if hint:
            return err(ErrorCategory.WRONG_ENVIRONMENT, f"{shown}; {hint}")
        return err(ErrorCategory.BAD_CREDENTIALS, f"{shown} — {profile.name!r} was rejected by "
                   f"{profile.env.label} {api.value}")
    if status == 403:
        return err(*_forbidden(profile, api, method, path, shown, explanation))
    if status == 429:
        rl = RateLimit.from_headers(headers)
        reset = ""
        reset_at = epoch_to_utc(rl.reset) if rl is not None else None
        if reset_at is not None:
            reset = f"; quota resets at {reset_at:%H:%M:%S} UTC"
        retries = f"{attempts - 1} retr{'y' if attempts == 2 else 'ies'}"
        return err(ErrorCategory.RATE_LIMITED, f"{shown}; still limited after {retries}{reset}")
    if status >= 500:
        return err(ErrorCategory.SERVER_ERROR, f"{where}: {shown}")
    if 300 <= status < 400:
        return err(ErrorCategory.CLIENT_ERROR, f"{where}: unexpected redirect (not followed)")
    return err(ErrorCategory.CLIENT_ERROR, f"{where}: {shown}")


def _forbidden(profile: Profile, api: Api, method: str, path: str, shown: str,
               explanation: Explanation | None) -> tuple[ErrorCategory, str]:
    """A 403: a market-data subscription limit, the broker scope the call needs, or Alpaca's
    answer to malformed auth headers (the explanations of core/explain.py)."""
    if explanation is SUBSCRIPTION or explanation is MALFORMED_HEADERS:
        return ErrorCategory.FORBIDDEN, f"{shown} ({explanation.hint})"
    if not profile.env.is_broker:
        return ErrorCategory.FORBIDDEN, shown
    from alpaca_tui.core.pathscopes import describe_requirement, required_scope

    need = required_scope(api, method, path).need
    where = f"{method} {normalize_path(path)}"
    if need is not None:
        scope, write = need
        level = profile.access.level(scope)
        note = f"{profile.name!r} is recorded with {scope.label}: {level.label}"
        if level.allows(write):
            note += "; the credential's access at Alpaca differs from what is recorded here"
        return (ErrorCategory.FORBIDDEN_SCOPE,
                f"{shown}; {where} needs the {describe_requirement(scope, write)} scope ({note})")
    return ErrorCategory.FORBIDDEN, shown
