"""Who is calling a Trading, Market Data or Broker host, and whether their scopes allow it.

* Legacy keys: ``APCA-API-KEY-ID`` + ``APCA-API-SECRET-KEY`` headers or HTTP Basic
  ``key:secret`` (trading, data, broker). OAuth (client-secret / private-key-jwt)
  credentials cannot authenticate this way: they get the plain 401 reported for Basic
  auth with "Client Secret" broker credentials (alpaca-py #649).
* ``Authorization: Bearer <authx token>`` on broker and data hosts only (data-sandbox
  for broker sandbox; production data for broker live).
* Missing or invalid credentials, a key of another environment (paper on live...), an
  expired or revoked credential, an expired token: Alpaca's 401 ``{"code":40110000,
  "message":"request is not authorized"}``. Whether Alpaca words the expired case
  differently is UNCONFIRMED; the body stays the same and the emulator-only header
  ``X-Emulator-Reason`` says why (debugging aid; the app must not depend on it).
* Headers sent with underscores (``APCA_API_KEY_ID``): 403 ``{"message":"forbidden."}``
  (Alpaca-API #228).
* Scopes: no access -> 403 ``{"code": 40310000, ...}``; read-only -> 403 on writes. The
  message starts with Alpaca's "forbidden" and names the scope (Alpaca's exact wording is
  UNCONFIRMED).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.emulator.context import Principal
from alpaca_tui.emulator.records import Credential
from alpaca_tui.emulator.roles import ROLE_ENVS, ROLE_KIND
from alpaca_tui.emulator.state import State
from alpaca_tui.emulator.wire import Reply, Request, alpaca_error, unauthorized


def authenticate(state: State, req: Request, now: float) -> Principal | Reply | None:
    """The caller's credential, an error Reply, or None when no credentials were presented."""
    role = req.role
    key_id = req.header("apca-api-key-id")
    secret = req.header("apca-api-secret-key")
    underscored = {n.lower() for n in req.header_names} & {"apca_api_key_id", "apca_api_secret_key"}
    if underscored and key_id is None and secret is None:
        # Alpaca-API #228: headers written with underscores get a bare 403.
        return Reply.json(403, {"message": "forbidden."},
                          {"X-Emulator-Reason": "APCA headers must use hyphens, not underscores"})
    authz = (req.header("authorization") or "").strip()
    if key_id is not None or secret is not None:
        if not key_id or not secret:
            return unauthorized("both APCA-API-KEY-ID and APCA-API-SECRET-KEY are required")
        return _legacy(state, role, key_id, secret, "headers", now)
    scheme, _, value = authz.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return unauthorized("malformed Basic credentials")
        user, sep, pw = decoded.partition(":")
        if not sep or not user:
            return unauthorized("malformed Basic credentials")
        return _legacy(state, role, user, pw, "basic", now)
    if scheme == "bearer":
        return _bearer(state, role, value, now)
    if authz:
        return unauthorized("unsupported Authorization scheme")
    return None


def _reject(state: State, role: str, cred: Credential | None, key_id: str, reason: str) -> Reply:
    note: dict[str, Any] = {"role": role, "key_id": key_id, "reason": reason}
    if cred is not None:
        note["credential_env"] = cred.env.value
    state.note_rejection(**note)
    return unauthorized(reason)


def _check_cred(state: State, role: str, cred: Credential, now: float) -> Reply | None:
    if cred.env not in ROLE_ENVS[role]:
        return _reject(state, role, cred, cred.key_id,
                       f"credential belongs to {cred.env.value}, not this host")
    if cred.revoked:
        return _reject(state, role, cred, cred.key_id, "credential revoked")
    if cred.expired(now):
        return _reject(state, role, cred, cred.key_id, "credential expired")
    return None


def _legacy(state: State, role: str, key_id: str, secret: str, via: str, now: float) -> Principal | Reply:
    cred = state.credentials.get(key_id)
    if cred is None:
        return _reject(state, role, None, key_id, "unknown key")
    if cred.flow is not Flow.LEGACY:
        # OAuth client credentials never authenticate API calls directly (alpaca-py #649).
        return _reject(state, role, cred, key_id, f"{cred.flow.value} credentials need a Bearer token")
    if not hmac.compare_digest((cred.secret or "").encode(), secret.encode("utf-8", "replace")):
        return _reject(state, role, cred, key_id, "wrong secret")
    problem = _check_cred(state, role, cred, now)
    return problem if problem is not None else Principal(cred, via)


def _bearer(state: State, role: str, token: str, now: float) -> Principal | Reply:
    if ROLE_KIND[role] not in ("broker", "data"):
        return unauthorized("Bearer tokens are accepted by broker and data hosts only")
    rec = state.lookup_token(token) if token else None
    if rec is None:
        return unauthorized("unknown access token")
    cred = state.credentials.get(rec.client_id)
    if now >= rec.expires_at:
        return _reject(state, role, cred, rec.client_id, "access token expired")
    if cred is None:
        return unauthorized("unknown access token")
    # A token dies with its credential: revoking or expiring the client invalidates the tokens
    # it holds (whether Alpaca does this is UNCONFIRMED; it is the safe assumption).
    problem = _check_cred(state, role, cred, now)
    return problem if problem is not None else Principal(cred, "bearer")


def scope_denied(cred: Credential, scope: Scope, needed: Level) -> Reply | None:
    """Alpaca's 403 when ``cred`` holds less than ``needed`` of ``scope`` (else None)."""
    level = cred.access.level(scope)
    if level.allows(needed is Level.RW):
        return None
    if level is Level.NONE:
        msg = f"forbidden: this credential has no {scope.label} access"
    else:
        msg = f"forbidden: this credential has read-only {scope.label} access"
    return alpaca_error(403, 40310000, msg,
                        {"X-Emulator-Reason": f"scope {scope.value} is {level.value}"})
