"""AuthX: ``POST /v1/oauth2/token``, OAuth2 client credentials (alpaca-auth.md §2).

* ``client_secret_post`` only: the secret travels in the form body. Any ``Authorization:
  Basic`` header is refused with 401 ``invalid_client`` (client_secret_basic is unsupported).
* ``private_key_jwt`` (RFC 7523 §2.2): ``client_assertion_type=urn:ietf:params:oauth:
  client-assertion-type:jwt-bearer`` + ``client_assertion``, verified against the public key
  registered for the client (ES256 or RS256). Claims: ``iss`` = ``sub`` = client_id; ``aud``
  the token URL or the AuthX origin (Alpaca's name or the emulator's own loopback URL);
  ``exp`` required and ``exp - iat <= 300`` s; a unique ``jti`` (replays -> ``jti_known``);
  30 s of leeway for clock drift on ``exp``/``iat``/``nbf``. Alpaca does not publish the
  exact ``aud``, lifetime cap or algorithms: these follow the reference's suggestion and
  Ory Fosite (which Alpaca's error vocabulary matches) and are UNCONFIRMED.
* Answer: ``{"access_token": <opaque>, "expires_in": 899, "token_type": "Bearer"}``; the
  token really expires 899 s later by the emulator's clock (including any clock skew).

Errors are ``authx.json``'s ``error_response``: ``{"error": <error_code>, "fields": [{"name"}]}``.

* ``invalid_request`` + ``fields``: a missing or repeated parameter, a ``client_id`` that is not
  ``^[A-Z0-9]+$`` of 20-32 characters, a ``client_secret`` over 128 or a ``client_assertion``
  over 16384 characters (``token_request``'s constraints), a body that is not a form.
* ``invalid_client``: unknown, wrong-environment, expired client; wrong secret; wrong method.
  A revoked client gets the emulator's ``revoked_error`` (``invalid_client`` by default, or
  ``token_inactive``; which one AuthX sends is UNCONFIRMED, so both can be tested).
* ``token_signature_mismatch``, ``token_claim``, ``jti_known``: the assertion's checks.
* ``invalid_scope`` / ``scope_not_granted``: a ``scope`` parameter naming an unknown scope / one
  the credential's access matrix holds at "no access".
* ``quota_exceeded``: the per-client token-request rate is spent (:mod:`.dispatch`, 429).

HTTP status per code: ``authx.json`` gives none (its only error answer is ``default``), so
:data:`STATUS` holds the RFC 6749 §5.2 defaults (400; 401 when the client fails to
authenticate) and RFC 6585's 429 for the quota (UNCONFIRMED for Alpaca, alpaca-auth.md §2).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import TOKEN_PATH
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.scopes import Level, parse_scope
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.records import Credential
from alpaca_tui.emulator.roles import REAL_ORIGIN, ROLE_ENVS
from alpaca_tui.emulator.routing import Route
from alpaca_tui.emulator.state import State
from alpaca_tui.emulator.wire import Reply, Request, oauth_error

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ID = re.compile(r"^[A-Z0-9]{20,32}$")   # authx.json client_id: pattern + 20..32 characters
MAX_SECRET = 128
MAX_ASSERTION = 16384
# UNCONFIRMED: authx.json documents no status per code; RFC 6749 §5.2 / RFC 6585 defaults.
STATUS: dict[str, int] = {
    "invalid_request": 400, "unsupported_grant_type": 400, "unauthorized_client": 400, "invalid_grant": 400,
    "invalid_scope": 400, "scope_not_granted": 400, "invalid_client": 401, "token_signature_mismatch": 401,
    "token_claim": 401, "jti_known": 401, "token_inactive": 401, "quota_exceeded": 429, "server_error": 500,
    "temporarily_unavailable": 503,
}
REVOKED_ERRORS = ("invalid_client", "token_inactive")
MAX_ASSERTION_LIFETIME = 300   # seconds; UNCONFIRMED (the published sample uses iat + 300)
LEEWAY = 30                    # seconds of clock drift tolerated on exp / iat / nbf
ALGORITHMS = ("ES256", "RS256")

_FORM_FIELDS = ("grant_type", "client_id", "client_secret", "client_assertion_type", "client_assertion",
                "scope")


def client_id_of(req: Request) -> str | None:
    """The form's client_id, for the token-request counters (None when absent/unparseable)."""
    if req.content_type != "application/x-www-form-urlencoded":
        return None
    vals = req.form().get("client_id")
    return vals[0] if vals else None


def accepted_audiences(urls: Mapping[str, str], role: str) -> set[str]:
    out = set()
    origins = [REAL_ORIGIN[role]]
    own = urls.get(role)
    if own:
        origins.append(own)
        origins.append(own.replace("://127.0.0.1:", "://localhost:"))
    for origin in origins:
        out.add(origin)
        out.add(origin + TOKEN_PATH)
    return out


def error(code: str, *, fields: list[str] | None = None, reason: str | None = None) -> Reply:
    """An AuthX error answer with the code's status (:data:`STATUS`)."""
    return oauth_error(STATUS[code], code, fields=fields, reason=reason)


def not_allowed() -> Reply:
    """The token endpoint's answer to any method but POST."""
    reply = oauth_error(405, "invalid_request", reason="the token endpoint takes POST only")
    reply.headers["Allow"] = "POST"
    return reply


def token(ctx: Ctx) -> Reply:
    """``POST /v1/oauth2/token``: the client credentials grant."""
    ctx.state.count_token_request(client_id_of(ctx.req))
    form = _token_form(ctx.req)
    if isinstance(form, Reply):
        return form
    client_id = form["client_id"]
    cred = ctx.state.credentials.get(client_id)
    reject = _client_problem(ctx.state, ctx.role, cred, client_id, ctx.now)
    if reject is not None:
        return reject
    assert cred is not None
    if "client_assertion" in form or "client_assertion_type" in form:
        if cred.flow is not Flow.PRIVATE_KEY_JWT:
            return error("invalid_client",
                               reason=f"this client uses {cred.flow.value}, not private_key_jwt")
        problem = verify_assertion(ctx, cred, form["client_assertion"])
    else:
        problem = _check_secret(ctx, cred, form["client_secret"])
    if problem is not None:
        return problem
    problem = _scope_problem(cred, form.get("scope"))
    if problem is not None:
        return problem
    issued, lifetime = ctx.state.issue_token(cred, ctx.now)
    return Reply.json(200, {"access_token": issued, "expires_in": lifetime, "token_type": "Bearer"},
                      {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _token_form(req: Request) -> dict[str, str] | Reply:
    """The token request's form fields (first values), or the error for a malformed request."""
    # client_secret_basic is not supported: any Basic header is a client authentication failure.
    authz = req.header("authorization") or ""
    if authz.strip().lower().startswith("basic"):
        return error("invalid_client", reason="client_secret_basic is not supported; "
                           "send client_id and client_secret in the form body")
    if req.content_type != "application/x-www-form-urlencoded":
        return error("invalid_request",
                           reason="the body must be application/x-www-form-urlencoded")
    raw = req.form()
    dupes = [k for k in _FORM_FIELDS if len(raw.get(k, [])) > 1]
    if dupes:
        return error("invalid_request", fields=dupes, reason="parameter repeated")
    form = {k: v[0] for k, v in raw.items() if v}

    missing = [k for k in ("grant_type", "client_id") if not form.get(k)]
    if missing:
        return error("invalid_request", fields=missing, reason="missing parameters")
    malformed = _malformed(form)
    if malformed:
        return error("invalid_request", fields=malformed, reason="parameter out of its documented shape")
    if form["grant_type"] != "client_credentials":
        # AuthX's schema also lists jwt-bearer and refresh_token grants; what they are for is
        # UNCONFIRMED, so the emulator supports client_credentials only.
        return error("unsupported_grant_type", fields=["grant_type"])
    problem = _client_auth_fields(form)
    return form if problem is None else problem


def _malformed(form: dict[str, str]) -> list[str]:
    """Fields outside ``token_request``'s constraints (client_id pattern and length, secret and
    assertion lengths)."""
    out = []
    if not CLIENT_ID.match(form["client_id"]):
        out.append("client_id")
    if len(form.get("client_secret", "")) > MAX_SECRET:
        out.append("client_secret")
    if len(form.get("client_assertion", "")) > MAX_ASSERTION:
        out.append("client_assertion")
    return out


def _client_auth_fields(form: dict[str, str]) -> Reply | None:
    """Exactly one client authentication: a secret, or an assertion of the JWT bearer type."""
    has_secret = "client_secret" in form
    has_assertion = "client_assertion" in form or "client_assertion_type" in form
    if has_secret and has_assertion:
        return error("invalid_request", fields=["client_secret", "client_assertion"],
                           reason="use one client authentication method")
    if has_assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return error("invalid_request", fields=["client_assertion_type"],
                               reason=f"client_assertion_type must be {ASSERTION_TYPE}")
        if not form.get("client_assertion"):
            return error("invalid_request", fields=["client_assertion"])
        if len(form["client_assertion"]) > MAX_ASSERTION:
            return error("invalid_request", fields=["client_assertion"], reason="too long")
    elif not form.get("client_secret"):
        return error("invalid_request", fields=["client_secret"], reason="missing parameters")
    return None


def _check_secret(ctx: Ctx, cred: Credential, secret: str) -> Reply | None:
    if cred.flow is Flow.PRIVATE_KEY_JWT:
        return error("invalid_client",
                           reason="this client authenticates with private_key_jwt, not a secret")
    if not hmac.compare_digest((cred.secret or "").encode(), secret.encode()):
        ctx.state.note_rejection(role=ctx.role, key_id=cred.key_id, reason="wrong client secret")
        return error("invalid_client", reason="wrong client secret")
    if cred.flow is Flow.LEGACY:
        # A legacy key/secret pair authenticated, but it may not use this grant. UNCONFIRMED
        # which code Alpaca returns; RFC 6749 says unauthorized_client (400).
        return error("unauthorized_client",
                           reason="legacy key/secret credentials cannot obtain OAuth tokens")
    return None


def _scope_problem(cred: Credential, raw: str | None) -> Reply | None:
    """A ``scope`` parameter (space-separated scope names, e.g. ``trading funding``): each must be a
    scope of the access matrix (``invalid_scope``) that the credential holds (``scope_not_granted``).
    Not in authx.json's ``token_request``; OAuth2's optional parameter (UNCONFIRMED for Alpaca)."""
    if not raw or not raw.strip():
        return None
    try:
        scopes = [parse_scope(name) for name in raw.split()]
    except UsageError:
        return error("invalid_scope", fields=["scope"], reason="unknown scope")
    missing = [s.value for s in scopes if cred.access.level(s) is Level.NONE]
    if missing:
        return error("scope_not_granted", fields=["scope"], reason=f"not granted: {', '.join(missing)}")
    return None


def _client_problem(state: State, role: str, cred: Credential | None, client_id: str,
                    now: float) -> Reply | None:
    if cred is None:
        state.note_rejection(role=role, key_id=client_id, reason="unknown client")
        return error("invalid_client", reason="unknown client")
    if cred.env not in ROLE_ENVS[role]:
        state.note_rejection(role=role, key_id=client_id, reason="wrong environment",
                                 credential_env=cred.env.value)
        return error("invalid_client", reason=f"client belongs to {cred.env.value}")
    if cred.revoked:
        state.note_rejection(role=role, key_id=client_id, reason="revoked")
        return error(state.revoked_error, reason="client revoked")
    if cred.expired(now):
        state.note_rejection(role=role, key_id=client_id, reason="expired")
        return error("invalid_client", reason="client expired")
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _claim(ctx: Ctx, cred: Credential, reason: str) -> Reply:
    ctx.state.note_rejection(role=ctx.role, key_id=cred.key_id, reason=f"token_claim: {reason}")
    return error("token_claim", reason=reason)


def verify_assertion(ctx: Ctx, cred: Credential, assertion: str) -> Reply | None:
    """None when ``assertion`` is a valid, fresh, unused RFC 7523 client assertion for ``cred``."""
    claims = _decode_assertion(ctx, cred, assertion)
    if isinstance(claims, Reply):
        return claims
    problem = _check_claims(ctx, cred, claims)
    if problem is not None:
        return _claim(ctx, cred, problem)
    exp = float(claims["exp"])
    if not ctx.state.use_jti(cred.key_id, claims["jti"], exp + LEEWAY):
        ctx.state.note_rejection(role=ctx.role, key_id=cred.key_id, reason="jti_known")
        return error("jti_known", reason="this jti was already used")
    return None


def _decode_assertion(ctx: Ctx, cred: Credential, assertion: str) -> dict[str, Any] | Reply:
    """The assertion's claims once its algorithm and signature match the registered key."""
    import jwt

    if cred._key_obj is None:
        return error("invalid_client", reason="no public key registered for this client")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        return error("invalid_client", reason="client_assertion is not a JWT")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        return error("invalid_client", reason=f"unsupported assertion alg {alg!r} (ES256, RS256)")
    if alg != cred.alg:
        return error("token_signature_mismatch",
                           reason=f"assertion signed with {alg} but the registered key is {cred.alg}")
    try:
        claims: dict[str, Any] = jwt.decode(assertion, cred._key_obj, algorithms=[alg], options={
            "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False, "require": []})
    except jwt.InvalidSignatureError:
        ctx.state.note_rejection(role=ctx.role, key_id=cred.key_id, reason="token_signature_mismatch")
        return error("token_signature_mismatch",
                           reason="signature does not match the registered public key")
    except jwt.DecodeError:
        return error("invalid_client", reason="client_assertion could not be decoded")
    except jwt.InvalidTokenError as exc:
        return _claim(ctx, cred, type(exc).__name__)
    return claims


def _check_claims(ctx: Ctx, cred: Credential, claims: dict[str, Any]) -> str | None:
    """What is wrong with the claims (a ``token_claim`` reason), or None."""
    now = ctx.now
    if claims.get("iss") != cred.key_id or claims.get("sub") != cred.key_id:
        return "iss and sub must both equal client_id"
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    accepted = accepted_audiences(ctx.urls, ctx.role)
    if not any(isinstance(a, str) and a.rstrip("/") in accepted for a in auds):
        return "aud must be the token endpoint URL or the authorization server's origin"
    exp = _num(claims.get("exp"))
    if exp is None:
        return "exp is required"
    iat = claims.get("iat")
    iat_n = _num(iat) if iat is not None else None
    if iat is not None and iat_n is None:
        return "iat must be a number"
    if now > exp + LEEWAY:
        return "assertion expired"
    if iat_n is not None and iat_n > now + LEEWAY:
        return "iat is in the future"
    nbf = claims.get("nbf")
    if nbf is not None and (_num(nbf) is None or float(nbf) > now + LEEWAY):
        return "assertion not yet valid (nbf)"
    start = iat_n if iat_n is not None else now
    if exp - start > MAX_ASSERTION_LIFETIME:
        return f"assertion lifetime exceeds {MAX_ASSERTION_LIFETIME} s"
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return "jti is required"
    return None


# The AuthX hosts' one route; :mod:`.dispatch` answers 404 / 405 around it.
ROUTES: tuple[Route, ...] = (Route("POST", TOKEN_PATH, token, kind="authx"),)
