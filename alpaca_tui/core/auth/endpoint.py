"""One token request: ``POST {authx}/v1/oauth2/token`` and the reading of its answer.

:class:`TokenEndpoint` signs the form (:func:`~alpaca_tui.core.auth.signing.token_form`: a
fresh assertion per attempt), sends it over the :class:`~alpaca_tui.core.wire.Wire`, and
returns an :class:`~alpaca_tui.core.oauth.AccessToken` or raises an ApiError whose category
says what went wrong (:func:`token_error`). It keeps no state; the
:class:`~alpaca_tui.core.auth.broker.TokenBroker` decides when to call it.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from alpaca_tui.core.auth.signing import token_form
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import Profile, Secret
from alpaca_tui.core.explain import LOCAL, explain_api, explain_authx, field_names
from alpaca_tui.core.http import (
    ApiError,
    ErrorCategory,
    env_mismatch_hint,
    oauth_error_code,
    parse_json,
    request_id_of,
    server_message,
    server_wait,
)
from alpaca_tui.core.oauth import BAD_CREDENTIAL_CODES, AccessToken, parse_token_response
from alpaca_tui.core.redact import mask
from alpaca_tui.core.wire import RequestParts, Wire

__all__ = ["TokenEndpoint", "token_error"]


class TokenEndpoint:
    """The client-credentials exchange of every OAuth credential of one engine."""

    def __init__(self, wire: Wire, clock: Clock) -> None:
        self._wire = wire
        self._clock = clock

    async def fetch(self, profile: Profile, secret: Secret, url: str, *, secrets: list[str | None],
                    retries: int | None = None) -> AccessToken:
        """One token exchange (plus up to ``retries`` 429 retries, default the wire's)."""
        started = self._clock.time()

        def build() -> RequestParts:
            # a fresh client assertion (new jti, iat) for every attempt
            return {"data": token_form(profile.flow, secret, url, now=self._clock.time()),
                    "headers": {"Accept": "application/json"}}

        sent = await self._wire.send("POST", url, build=build, secrets=secrets,
                                     what=f"token request for {profile.name!r}", profile=profile.name,
                                     retries=retries)
        resp = sent.response
        body = parse_json(resp.text)
        if not 200 <= resp.status_code < 300:
            raise token_error(profile, secret, resp, body, secrets, now=self._clock.time(),
                              attempts=sent.attempts)
        tok = parse_token_response(body, now=started, token_url=url)
        if tok is None:
            raise ApiError(ErrorCategory.SERVER_ERROR,
                           f"token endpoint answered {resp.status_code} without a usable bearer "
                           f"access_token", status=resp.status_code,
                           request_id=request_id_of(resp.headers), profile=profile.name)
        return tok


def token_error(profile: Profile, secret: Secret, resp: httpx.Response, body: Any,
                secrets: list[str | None], *, now: float, attempts: int = 1) -> ApiError:
    """A refused token request as one line: rate limited, server error, expired credential,
    wrong environment, bad credentials (with the OAuth error's hint) or another client error."""
    status = resp.status_code
    rid = request_id_of(resp.headers)
    msg = server_message(body, resp.text, secrets) or f"HTTP {status}"
    code = oauth_error_code(body)
    name = profile.name
    who = f"token request for {name!r} ({mask(secret.key_id)})"
    wait = server_wait(resp.headers, now, status=status)
    # AuthX's own code first (authx.json), else what the status says (a 429 without a body)
    explanation = explain_authx(code, field_names(body)) or explain_api(status, body, msg)

    def err(cat: ErrorCategory, text: str, retry_after: float | None = None) -> ApiError:
        return ApiError(cat, text, status=status, request_id=rid, server_message=msg, profile=name,
                        retry_after=retry_after, explanation=explanation.named(name) if explanation else None)

    def hinted(*, named: bool) -> str:
        hint = explanation.hint if explanation is not None and code else ""
        hint = hint.replace("NAME", name) if named else hint
        return f"{who}: {msg}" + (f" — {hint}" if hint and hint not in msg else "")

    if status == 429:
        retried = attempts - 1
        text = f"{who}: {msg}"
        if retried > 0:
            text += f"; still limited after {retried} retr{'y' if retried == 1 else 'ies'}"
        if wait is not None:
            text += f"; the server asks to wait {math.ceil(wait)} s"
        return err(ErrorCategory.RATE_LIMITED, text, wait)
    if status >= 500:
        return err(ErrorCategory.SERVER_ERROR, hinted(named=False), wait)
    if "expired" in msg.lower():
        explanation = LOCAL["expired"]
        return err(ErrorCategory.EXPIRED_CREDENTIAL,
                   f"{who}: {msg}; credential {name!r} has expired — create a new one and rotate")
    if status in (401, 403) or (code is not None and code in BAD_CREDENTIAL_CODES):
        env_hint = env_mismatch_hint(profile, secret.key_id, msg)
        if env_hint:
            return err(ErrorCategory.WRONG_ENVIRONMENT, f"{who}: {msg}; {env_hint}")
        return err(ErrorCategory.BAD_CREDENTIALS, hinted(named=True))
    return err(ErrorCategory.CLIENT_ERROR, f"{who}: {msg}", wait)
