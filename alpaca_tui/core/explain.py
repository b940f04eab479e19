"""Why a call failed and what to do: Alpaca's error codes mapped to a cause and a fix line.

One table for the whole app. The engine attaches an :class:`Explanation` to the
:class:`~alpaca_tui.core.http.ApiError` it builds (``api_error``, ``token_error``, the scope
pre-flight); the CLI prints its ``cause:`` and ``fix:`` lines, the TUI shows them under the
error. ``hint`` is the short phrase the one-line error message carries inline.

Sources: the API error bodies ``{"code": 40110000, "message": ...}`` of the Trading, Broker and
Market Data specs (``assets/openapi/*.json``: 40010000, 40110000, 40310000, 40410000,
42210000) and alpaca-auth.md §3 (403 ``{"message": "forbidden."}`` for malformed headers,
"subscription does not permit querying recent SIP data"; rate limits); the AuthX error codes
are the ``error_code`` enum of ``authx.json`` (``tests/unit/test_explain.py`` fails when a
code of the enum has no entry). Which HTTP status AuthX sends with which code is
UNCONFIRMED, so codes are looked up by name whatever the status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ALPACA_CODES", "AUTHX_CODES", "LOCAL", "MALFORMED_HEADERS", "SUBSCRIPTION", "Explanation",
           "explain_api", "explain_authx", "field_names"]


@dataclass(frozen=True)
class Explanation:
    """``code``: what it explains ("40110000", "429", "invalid_client"); ``hint``: a short inline
    phrase; ``cause`` and ``fix``: one line each. ``NAME`` in a text stands for the profile."""

    code: str
    hint: str
    cause: str
    fix: str

    def named(self, name: str) -> Explanation:
        return replace(self, hint=self.hint.replace("NAME", name), cause=self.cause.replace("NAME", name),
                       fix=self.fix.replace("NAME", name))

    def lines(self) -> list[str]:
        return [f"cause: {self.cause}", f"fix:   {self.fix}"]

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "cause": self.cause, "fix": self.fix}


def _e(code: str, hint: str, cause: str, fix: str) -> Explanation:
    return Explanation(code, hint, cause, fix)


# -- the APIs (Trading, Broker, Market Data) ---------------------------------------------------

SUBSCRIPTION = _e(
    "42210000", "a market-data subscription limit, not a credential problem",
    "market data refused the request's parameters: usually the data subscription rather than the "
    "key (a feed such as sip or opra, or the most recent 15 minutes of SIP, that the plan does not "
    "include), otherwise a malformed symbol or parameter (the message names it)",
    "ask for feed=iex (in every plan) or data older than 15 minutes, or upgrade the market-data "
    "subscription in the dashboard (Plans & Features); the credential itself works")

MALFORMED_HEADERS = _e(
    "403", "Alpaca answers this for malformed auth headers and for keys of another kind, e.g. OAuth-app keys",
    "the request reached Alpaca without auth headers it could read: a header name with underscores "
    "(APCA_API_KEY_ID), a key from an OAuth app or the Connect API, or a key of another product",
    "send APCA-API-KEY-ID / APCA-API-SECRET-KEY (hyphens) or a Bearer token; use the key pair shown "
    "when the key was created for this account: alpaca-tui check NAME")

ALPACA_CODES: dict[str, Explanation] = {e.code: e for e in (
    _e("40010000", "the request could not be read",
       "the request was malformed: a body that is not valid JSON or a parameter of the wrong type",
       "check the JSON body and query parameters against the API reference for this path"),
    _e("40110000", "the API did not accept the credential",
       "the API did not accept the credential: a paper key used on live or a live key on paper, "
       "the wrong host for the environment (paper keys do not work on data.sandbox), or a key "
       "that was revoked, regenerated or mistyped",
       "check that the profile's environment matches the key (paper keys start with PK, live with "
       "AK) and that the key still exists in the dashboard; re-add or rotate it, then: "
       "alpaca-tui check NAME"),
    _e("40310000", "authenticated, but not allowed",
       "the credential was accepted but may not do this: the credential's scope (a broker "
       "credential's access matrix) does not cover the operation, or the account's status forbids "
       "it (not yet approved or ACTIVE, closed, restricted, not PDT, insufficient buying power)",
       "compare the scope the operation needs (docs/scopes.md) with the credential's access in the "
       "dashboard; for an account rule, read the message and check the account's status"),
    _e("40410000", "not found",
       "the object does not exist (an unknown id or symbol) or the path is not one of this API's",
       "check the id or symbol and the path; the host comes from the profile's environment"),
    _e("42210000", "a parameter was refused",
       "a parameter was refused as invalid (an unknown symbol, a malformed id or date)",
       "correct the parameter the message names; on market data, see the subscription limits"),
    _e("42910000", "rate limited",
       "too many requests for this key: Trading allows 200 a minute, Broker 1,000 a minute (per "
       "account on account routes), market data 200 a minute on the Basic plan",
       "wait for the reset time (X-RateLimit-Reset), then spread or batch the requests; reuse one "
       "access token rather than fetching one per call"),
)}
ALPACA_CODES["429"] = replace(ALPACA_CODES["42910000"], code="429")

# Refusals and states of this app (no Alpaca code).
LOCAL: dict[str, Explanation] = {e.code: e for e in (
    _e("expired", "the credential has expired",
       "the credential's expiry date has passed, so Alpaca no longer accepts it",
       "create a new credential in the dashboard and rotate to it: alpaca-tui rotate NAME"),
)}

_STATUS_CODES = {400: "40010000", 401: "40110000", 403: "40310000", 404: "40410000", 422: "42210000"}
_SUBSCRIPTION_WORDS = re.compile(r"subscription|not entitled|entitlement|does not permit", re.IGNORECASE)


def explain_api(status: int, body: Any, message: str | None, *,
                data_host: bool = False) -> Explanation | None:
    """The explanation of an API answer (its ``code``, else its status), or None."""
    text = message or ""
    code = body.get("code") if isinstance(body, dict) else None
    key = str(code) if isinstance(code, int) and not isinstance(code, bool) else None
    if status == 403 and key is None and text.strip().lower() in ("forbidden.", "forbidden"):
        return MALFORMED_HEADERS
    if status in (403, 422) and _SUBSCRIPTION_WORDS.search(text):
        return SUBSCRIPTION
    if status == 429:  # Alpaca's own code when it sent one, else the bare status
        return ALPACA_CODES["42910000" if key == "42910000" else "429"]
    if key is None or key not in ALPACA_CODES:
        key = _STATUS_CODES.get(status)
    if key == "42210000" and data_host:
        return SUBSCRIPTION
    return ALPACA_CODES.get(key) if key else None


# -- AuthX: POST /v1/oauth2/token (authx.json error_code) --------------------------------------

_NOT_THIS_FLOW = ("an OAuth feature of another flow (authorization code, OpenID request objects) that "
                  "client-credentials requests never use")
_REPORT = "nothing to change in the credential; report it with the request id (alpaca-tui sends plain " \
          "client-credentials forms)"
_USER_FLOW = "use a broker client credential (client secret or private key JWT) from the broker dashboard"
_REREAD = ("copy the client ID and secret (or register the public key) again from the broker dashboard of "
           "this environment; then: alpaca-tui rotate NAME")

AUTHX_CODES: dict[str, Explanation] = {e.code: e for e in (
    _e("invalid_client", "the client ID or secret/key was rejected",
       "client authentication failed: an unknown client ID, a wrong secret or signing key, or a "
       "credential that was revoked, expired or belongs to the other environment (sandbox vs live)",
       _REREAD),
    _e("invalid_request", "the token request was malformed",
       "the token request was malformed: a field is missing, too long or in the wrong format",
       "correct the named field: client_id is 20-32 upper-case letters and digits, client_secret at "
       "most 128 characters, client_assertion at most 16384"),
    _e("unauthorized_client", "this client may not use the client-credentials grant",
       "the client is not allowed this grant or this way of authenticating (a client-secret "
       "credential sending an assertion, or the reverse)",
       "check that the credential's type in the dashboard matches the profile's flow (client-secret "
       "or private-key-jwt); re-add the profile with the right --flow"),
    _e("invalid_scope", "the requested scope is invalid",
       "the request asked for a scope that does not exist or is not allowed for this client",
       "ask for no scope (the credential's access matrix applies) or only scopes it was given"),
    _e("scope_not_granted", "the scope was not granted to this client",
       "the credential was not granted the scope that was requested",
       "give the credential that access in the broker dashboard (a new credential), or ask for less"),
    _e("invalid_grant", "the grant was rejected",
       "the grant (assertion, code or refresh token) is invalid, expired or revoked",
       "for private key JWT check this machine's clock and the token URL (aud); create a new "
       "credential if it was revoked"),
    _e("unsupported_grant_type", "AuthX does not accept this grant type",
       "AuthX does not accept this grant_type at this endpoint",
       "use grant_type=client_credentials against https://authx[.sandbox].alpaca.markets/v1/oauth2/token"),
    _e("token_signature_mismatch",
       "the assertion's signature does not match the public key registered for this client "
       "(register the current public key: profiles show NAME --public-key)",
       "the client assertion's signature does not verify with the public key Alpaca has for this client",
       "register the profile's current public key in the dashboard (alpaca-tui profiles show NAME "
       "--public-key), or rotate to the key pair that is registered"),
    _e("token_claim",
       "the assertion's claims were rejected (check this machine's clock; iat/exp must be current)",
       "a claim of the client assertion was refused: iat/exp out of range (a clock off by minutes), "
       "a wrong aud, or iss/sub not equal to the client ID",
       "set this machine's clock (NTP); the assertion's aud is the token URL and iss = sub = client ID"),
    _e("jti_known", "the assertion's jti was already used (replay)",
       "the client assertion's jti was seen before: each token request needs a new assertion",
       "retry (every attempt signs a new assertion); if it repeats, another copy of this key may be "
       "replaying assertions, so rotate the key"),
    _e("token_inactive", "the credential or token is not active",
       "the credential (or the presented token) is not active: revoked, expired or not yet valid",
       "check the credential's status and expiry in the dashboard; create a new one and rotate: "
       "alpaca-tui rotate NAME"),
    _e("invalid_token", "the token is invalid",
       "a token in the request is invalid, expired or revoked",
       "fetch a new one: alpaca-tui token NAME --no-cache"),
    _e("quota_exceeded", "token quota exceeded",
       "too many token requests for this client: a token lives 15 minutes and should be reused",
       "reuse the cached token (avoid --no-cache in loops); wait a minute and retry"),
    _e("request_unauthorized", "the request is not authorized",
       "the token request was not authorized: the client ID or its secret/key was not accepted", _REREAD),
    _e("request_forbidden", "the token request is forbidden for this client",
       "this client may not request tokens (disabled, or without API access)",
       "check in the broker dashboard that the credential is enabled; create a new one if not"),
    _e("access_denied", "access denied",
       "the token service denied the request (the credential is disabled or lacks API access)",
       "check the credential in the broker dashboard; create a new one if it was disabled"),
    _e("not_found", "the client was not found",
       "AuthX does not know this client ID here (a typo, or a client of the other environment)",
       "check the client ID and the profile's environment (broker-sandbox vs broker-live)"),
    _e("misconfiguration", "the client is misconfigured at Alpaca",
       "the client is misconfigured at Alpaca (for private key JWT: no usable public key registered)",
       "register the profile's public key (alpaca-tui profiles show NAME --public-key), or contact "
       "Alpaca with the request id"),
    _e("server_error", "the token service failed",
       "the token service failed while handling the request", "retry in a moment; the engine keeps a "
       "still-valid token in use and backs off"),
    _e("temporarily_unavailable", "the token service is temporarily unavailable",
       "the token service is overloaded or in maintenance",
       "retry after a short wait (the engine backs off)"),
    _e("unknown_error", "the token service failed without saying why",
       "the token service answered with an error it did not name", "retry; if it persists, contact "
       "Alpaca with the request id"),
    _e("insufficient_entropy", "a random value was too short",
       "a random value in the request (jti, state or nonce) was judged too short", _REPORT),
    _e("consent_required", "a user's consent is needed", f"{_NOT_THIS_FLOW}: a user must consent",
       _USER_FLOW),
    _e("interaction_required", "a user's interaction is needed",
       f"{_NOT_THIS_FLOW}: a user must interact", _USER_FLOW),
    _e("login_required", "a user's login is needed", f"{_NOT_THIS_FLOW}: a user must log in", _USER_FLOW),
    _e("invalid_state", "the state did not match",
       f"{_NOT_THIS_FLOW}: the state parameter did not match", _REPORT),
    _e("invalid_request_uri", "the request_uri was refused",
       f"{_NOT_THIS_FLOW}: the request_uri was refused", _REPORT),
    _e("invalid_request_object", "the request object was refused",
       f"{_NOT_THIS_FLOW}: the request object was refused", _REPORT),
    _e("request_not_supported", "request objects are not supported",
       f"{_NOT_THIS_FLOW}: request objects are not supported", _REPORT),
    _e("request_uri_not_supported", "request_uri is not supported",
       f"{_NOT_THIS_FLOW}: request_uri is not supported", _REPORT),
    _e("unsupported_response_type", "the response_type is not supported",
       f"{_NOT_THIS_FLOW}: the response_type is not supported", _REPORT),
    _e("unsupported_response_mode", "the response_mode is not supported",
       f"{_NOT_THIS_FLOW}: the response_mode is not supported", _REPORT),
)}

# What each form field must look like (authx.json token_request), for invalid_request + fields.
FIELD_RULES: dict[str, str] = {
    "client_id": "client_id must be 20-32 upper-case letters and digits (as the dashboard shows it)",
    "client_secret": "client_secret is at most 128 characters (paste it again, without spaces)",
    "client_assertion": "client_assertion is at most 16384 characters",
    "client_assertion_type": "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:"
                             "jwt-bearer",
    "grant_type": "grant_type must be client_credentials",
}


_FIELD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def field_names(body: Any) -> list[str]:
    """The ``fields[].name`` of an AuthX error body: server text, so only identifier characters,
    at most 40 of them, at most 5 names."""
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, list):
        return []
    raw = [str(f["name"]) for f in fields if isinstance(f, dict) and f.get("name")]
    names = [_FIELD_CHARS.sub("", n)[:40] for n in raw]
    return [n for n in names if n][:5]


def explain_authx(code: str | None, fields: Iterable[str] = ()) -> Explanation | None:
    """The explanation of an AuthX error code (with ``invalid_request``'s fields), or None."""
    base = AUTHX_CODES.get(code or "")
    if base is None:
        return None
    names = list(fields)
    if not names:
        return base
    rules = [FIELD_RULES.get(n, f"correct {n}") for n in names]
    return replace(base, cause=f"{base.cause} (fields: {', '.join(names)})", fix="; ".join(rules))
