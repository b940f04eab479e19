"""API calls: one authenticated request to an Alpaca API, and the reading of its answer.

:class:`ApiClient` is what ``check``, the ``request`` command and the TUI's tester use
(through ``Engine.request``) and what the auth proxy builds on:

* :meth:`ApiClient.authorize` — the upstream auth headers for a credential right now
  (:class:`~alpaca_tui.core.auth.signing.UpstreamAuth`: a token refreshed ahead of expiry
  with single flight, or the key pair), and after a 401 one forced refresh shared by every
  caller refused the same token;
* :meth:`ApiClient.call` — validate the call, refuse locally what would be refused anyway
  (an expired credential; with ``preflight`` a scope the matrix forbids), sign, send over
  the :class:`~alpaca_tui.core.wire.Wire` (429 waits live there), on a 401 with a token
  refresh it once and resend, and map the answer (:func:`api_error`).

:meth:`ApiClient.call` *returns* an :class:`~alpaca_tui.core.http.ApiResponse` for every
HTTP answer (``error`` set when it is not 2xx) and *raises* ApiError when there is no
answer to show: a network error or timeout, a refused token request, an expired credential
or a scope pre-flight refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.auth.signing import UpstreamAuth, api_headers
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import Profile, Secret
from alpaca_tui.core.environments import Api, Env, apis_for, resolve_endpoints
from alpaca_tui.core.errors import UsageError
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
from alpaca_tui.core.pathscopes import describe_requirement, normalize_path, required_scope
from alpaca_tui.core.preflight import expired_error, scope_preflight
from alpaca_tui.core.redact import redact, redact_json, scrub
from alpaca_tui.core.wire import RequestParts, Wire

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from alpaca_tui.core.registry import Credential

__all__ = ["ApiClient", "api_error", "infer_api"]

# Paths served by the market-data host (everything else goes to the env's primary API).
_DATA_PREFIXES = ("/v2/stocks", "/v2/options", "/v1/corporate-actions", "/v2/crypto",
                  "/v1/logos", "/v1/news", "/v1/screener", "/v1/forex")
_DATA_BETA = re.compile(r"/v1beta\d+(?:/|$)")   # /v1beta1/news, /v1beta3/crypto (broker: /v1beta/...)
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def infer_api(env: Env, path: str) -> Api:
    """The API a path belongs to for a profile of ``env`` (data paths go to the data host)."""
    p = normalize_path(path)
    if _DATA_BETA.match(p) or any(p == pre or p.startswith(pre + "/") for pre in _DATA_PREFIXES):
        return Api.DATA
    return Api.BROKER if env.is_broker else Api.TRADING


class ApiClient:
    """Authenticated calls for the credentials of one engine."""

    def __init__(self, wire: Wire, clock: Clock) -> None:
        self._wire = wire
        self._clock = clock

    async def authorize(self, cred: Credential, *, refused: UpstreamAuth | None = None,
                        use_cache: bool | None = None) -> UpstreamAuth:
        """The auth headers to send for ``cred`` now. ``refused``: what the API just refused
        (a 401): a new token is fetched, once, unless another caller already replaced it."""
        profile = cred.profile
        if not profile.flow.is_oauth:
            return UpstreamAuth(api_headers(profile, cred.secret, None))
        broker = cred.tokens
        tok = await broker.token(use_cache=use_cache, refused=refused.epoch if refused is not None else None)
        return UpstreamAuth(api_headers(profile, cred.secret, tok), tok, broker.epoch)

    async def call(self, cred: Credential, method: str, path: str, *, api: Api | None = None,
                   params: Mapping[str, str] | None = None, json_body: Any = None,
                   preflight: bool = False, use_cache: bool | None = None) -> ApiResponse:
        """One authenticated call (see the module doc for what is returned vs raised)."""
        m, p, target, url = self._resolve(cred, method, path, api, json_body)
        if preflight:
            refusal = scope_preflight(cred.profile, target, m, p)
            if refusal is not None:
                raise refusal
        oauth = cred.profile.flow.is_oauth
        attempts = 0
        auth: UpstreamAuth | None = None
        refreshed = False
        while True:
            auth = await self.authorize(cred, refused=auth if refreshed else None, use_cache=use_cache)
            headers = {"Accept": "application/json", **auth.headers}
            secrets = cred.secrets()

            def build(headers: dict[str, str] = headers) -> RequestParts:
                parts: RequestParts = {"headers": headers}
                if params:
                    parts["params"] = dict(params)
                if json_body is not None:
                    parts["json"] = json_body
                return parts

            sent = await self._wire.send(m, url, build=build, secrets=secrets,
                                         what=f"{m} {normalize_path(p)}", profile=cred.name)
            attempts += sent.attempts
            if sent.response.status_code == 401 and oauth and not refreshed:
                refreshed = True  # one forced refresh (single flight across callers) and one retry
                continue
            return self._answer(cred, target, m, p, url, sent.response, sent.latency_ms, secrets,
                                attempts=attempts, refreshed=refreshed)

    def _resolve(self, cred: Credential, method: str, path: str, api: Api | None,
                 json_body: Any) -> tuple[str, str, Api, str]:
        """(METHOD, path, API, URL) of a call, or UsageError / ApiError(expired) before sending."""
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
        refusal = expired_error(profile, self._clock.now())
        if refusal is not None:
            raise refusal
        return m, p, target, hosts[target] + p

    def _answer(self, cred: Credential, target: Api, method: str, path: str, url: str,
                resp: httpx.Response, latency: float, secrets: list[str | None], *,
                attempts: int, refreshed: bool) -> ApiResponse:
        text = resp.text
        body = parse_json(text)
        error = None
        if not 200 <= resp.status_code < 300:
            error = api_error(cred.profile, cred.secret, target, method, path, resp.status_code, resp.headers,
                              body, text, secrets, attempts=attempts, now=self._clock.now())
        return ApiResponse(method=method, url=url, status=resp.status_code,
                           headers={k: redact(v, secrets) for k, v in dict(resp.headers).items()},
                           text=redact(text, secrets), json=redact_json(body, secrets), latency_ms=latency,
                           request_id=request_id_of(resp.headers),
                           rate_limit=RateLimit.from_headers(resp.headers), error=error, attempts=attempts,
                           token_refreshed=refreshed, api=target.value, profile=cred.name)


def api_error(profile: Profile, secret: Secret, api: Api, method: str, path: str, status: int,
              headers: Mapping[str, str], body: Any, text: str, secrets: list[str | None], *,
              attempts: int, now: datetime) -> ApiError:
    """A non-2xx API answer as one line with its category (401: expired / wrong environment /
    bad credentials; 403: the scope it needs; 429: when the quota resets; 5xx; redirects)."""
    rid = request_id_of(headers)
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
    need = required_scope(api, method, path).need if profile.env.is_broker else None
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
