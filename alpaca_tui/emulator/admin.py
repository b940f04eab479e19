"""The admin port: the emulator's stand-in for Alpaca's dashboard, as a small JSON API.

Routes (all JSON; errors are ``{"error": message}`` with 400/404/409):

    GET    /admin/health                          {"ok": true, "urls": {...}}
    GET    /admin/urls                            {role: url}
    GET    /admin/endpoints/{env}                 {api: url}
    GET    /admin/credentials                     [credential info, no secrets]
    POST   /admin/credentials                     {env, flow, access?, expires_at?, key_id?, secret?,
                                                   public_key?} -> 201 {key_id, secret, env, flow}
    GET    /admin/credentials/{key_id}            credential info
    POST   /admin/credentials/{key_id}/revoke     {}
    POST   /admin/credentials/{key_id}/expire     {}
    PUT    /admin/credentials/{key_id}/expires-at {expires_at: ISO | null}
    PUT    /admin/credentials/{key_id}/access     {access: {scope: level} | preset}
    PUT    /admin/credentials/{key_id}/public-key {public_key: PEM or JWK (string or object)}
    GET    /admin/counters[?client_id=ID]         {token_requests, requests: {role: n}}
    POST   /admin/counters/reset
    GET    /admin/rejections                      [notes on refused requests]
    POST   /admin/faults/latency                  {role, seconds}
    POST   /admin/faults/fail                     {role, n, status?}
    POST   /admin/faults/drop                     {role, n}
    POST   /admin/faults/clock-skew               {seconds}
    POST   /admin/faults/rate-limit               {role, per_minute}
    POST   /admin/faults/retry-after              {enabled: bool}   (Retry-After on 429s)
    POST   /admin/faults/revoked-error            {error: invalid_client | token_inactive}
    POST   /admin/faults/reset

``role`` may be ``"*"`` for every API role. The admin port binds to loopback like the rest
and has no authentication: it only ever manages the emulator's own fake credentials.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from alpaca_tui.core.credentials import parse_flow
from alpaca_tui.core.environments import parse_env
from alpaca_tui.core.errors import NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.control import Control
from alpaca_tui.emulator.roles import API_ROLES
from alpaca_tui.emulator.routing import Handler, Route
from alpaca_tui.emulator.wire import Reply


def error(status: int, message: str) -> Reply:
    return Reply.json(status, {"error": message})


def guarded(handler: Handler, ctx: Ctx) -> Reply:
    """Run an admin handler; its refusals become JSON errors (404, 409, 400)."""
    try:
        return handler(ctx)
    except NotFoundError as exc:
        return error(404, exc.message)
    except UsageError as exc:
        status = 409 if "already exists" in exc.message else 400
        return error(status, exc.message)
    except ValueError as exc:
        return error(400, str(exc))


def parse_access(value: Any) -> AccessMatrix | None:
    if value is None:
        return None
    if isinstance(value, str):
        return AccessMatrix.preset(value)
    if isinstance(value, dict):
        return AccessMatrix.from_dict({str(k): str(v) for k, v in value.items()})
    raise UsageError("access must be a preset name or a {scope: level} object")


def _body(ctx: Ctx) -> dict[str, Any]:
    if not ctx.body.strip():
        return {}
    try:
        data = ctx.json()
    except (ValueError, UnicodeDecodeError):
        raise UsageError("body must be JSON") from None
    if not isinstance(data, dict):
        raise UsageError("body must be a JSON object")
    return data


def _num(body: dict[str, Any], name: str, default: Any = None) -> Any:
    value = body.get(name, default)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number")
    return value


def _role(body: dict[str, Any]) -> str:
    role = body.get("role")
    if not isinstance(role, str) or (role not in API_ROLES and role not in ("*", "all")):
        raise UsageError(f"role must be one of {', '.join(API_ROLES)} or *")
    return role


def _emu(ctx: Ctx) -> Control:
    assert ctx.control is not None, "admin routes run with the emulator's control surface"
    return ctx.control


def _ok(ctx: Ctx) -> Reply:
    return Reply.json(200, {"ok": True})


# -- discovery -------------------------------------------------------------------------------
def health(ctx: Ctx) -> Reply:
    return Reply.json(200, {"ok": True, "urls": _emu(ctx).urls})


def urls(ctx: Ctx) -> Reply:
    return Reply.json(200, _emu(ctx).urls)


def endpoints(ctx: Ctx) -> Reply:
    env = parse_env(ctx.params["env"])
    return Reply.json(200, {a.value: u for a, u in _emu(ctx).endpoints_for(env).items()})


# -- credentials -----------------------------------------------------------------------------
def list_credentials(ctx: Ctx) -> Reply:
    return Reply.json(200, _emu(ctx).list_credentials())


def create_credential(ctx: Ctx) -> Reply:
    body = _body(ctx)
    if "env" not in body or "flow" not in body:
        raise UsageError("env and flow are required")
    public_key = body.get("public_key")
    if isinstance(public_key, dict):
        public_key = json.dumps(public_key)
    issued = _emu(ctx).create_credential(
        parse_env(str(body["env"])), parse_flow(str(body["flow"])),
        access=parse_access(body.get("access")), expires_at=body.get("expires_at"),
        key_id=body.get("key_id"), secret=body.get("secret"), public_key=public_key)
    return Reply.json(201, {"key_id": issued.key_id, "secret": issued.secret,
                            "env": issued.env.value if issued.env else None,
                            "flow": issued.flow.value if issued.flow else None})


def _info(ctx: Ctx) -> Reply:
    return Reply.json(200, _emu(ctx).credential_info(ctx.params["key_id"]))


def credential(ctx: Ctx) -> Reply:
    return _info(ctx)


def revoke(ctx: Ctx) -> Reply:
    _emu(ctx).revoke(ctx.params["key_id"])
    return _info(ctx)


def expire(ctx: Ctx) -> Reply:
    _emu(ctx).expire(ctx.params["key_id"])
    return _info(ctx)


def set_expiry(ctx: Ctx) -> Reply:
    _emu(ctx).set_expiry(ctx.params["key_id"], _body(ctx).get("expires_at"))
    return _info(ctx)


def set_access(ctx: Ctx) -> Reply:
    access = parse_access(_body(ctx).get("access"))
    if access is None:
        raise UsageError("access is required")
    _emu(ctx).set_access(ctx.params["key_id"], access)
    return _info(ctx)


def set_public_key(ctx: Ctx) -> Reply:
    pk = _body(ctx).get("public_key")
    if isinstance(pk, dict):
        pk = json.dumps(pk)
    if not isinstance(pk, str) or not pk.strip():
        raise UsageError("public_key is required")
    _emu(ctx).register_public_key(ctx.params["key_id"], pk)
    return _info(ctx)


# -- counters --------------------------------------------------------------------------------
def counters(ctx: Ctx) -> Reply:
    emu = _emu(ctx)
    return Reply.json(200, {"token_requests": emu.token_requests(ctx.arg("client_id")),
                            "requests": {r: emu.requests(r) for r in API_ROLES}})


def reset_counters(ctx: Ctx) -> Reply:
    _emu(ctx).reset_counters()
    return _ok(ctx)


def rejections(ctx: Ctx) -> Reply:
    return Reply.json(200, _emu(ctx).rejections())


# -- faults ----------------------------------------------------------------------------------
def fault_latency(ctx: Ctx) -> Reply:
    body = _body(ctx)
    _emu(ctx).set_latency(_role(body), float(_num(body, "seconds")))
    return _ok(ctx)


def fault_fail(ctx: Ctx) -> Reply:
    body = _body(ctx)
    _emu(ctx).fail_next(_role(body), int(_num(body, "n")), int(_num(body, "status", 503)))
    return _ok(ctx)


def fault_drop(ctx: Ctx) -> Reply:
    body = _body(ctx)
    _emu(ctx).drop_next(_role(body), int(_num(body, "n")))
    return _ok(ctx)


def fault_clock_skew(ctx: Ctx) -> Reply:
    _emu(ctx).set_clock_skew(float(_num(_body(ctx), "seconds")))
    return _ok(ctx)


def fault_rate_limit(ctx: Ctx) -> Reply:
    body = _body(ctx)
    _emu(ctx).set_rate_limit(_role(body), int(_num(body, "per_minute")))
    return _ok(ctx)


def fault_retry_after(ctx: Ctx) -> Reply:
    enabled = _body(ctx).get("enabled")
    if not isinstance(enabled, bool):
        raise UsageError("enabled must be true or false")
    _emu(ctx).set_retry_after(enabled)
    return _ok(ctx)


def fault_revoked_error(ctx: Ctx) -> Reply:
    _emu(ctx).set_revoked_error(str(_body(ctx).get("error")))
    return _ok(ctx)


def fault_reset(ctx: Ctx) -> Reply:
    _body(ctx)
    _emu(ctx).reset_faults()
    return _ok(ctx)


def unknown_fault(ctx: Ctx) -> Reply:
    _body(ctx)
    return error(404, f"unknown fault {ctx.params['name']!r}")


# -- the table (first match wins; trailing slashes are ignored) ------------------------------
R = partial(Route, kind="admin")
C = "/admin/credentials/{key_id}"
ROUTES: tuple[Route, ...] = (
    R("GET",  "/admin/health",              health),
    R("GET",  "/admin/urls",                urls),
    R("GET",  "/admin/endpoints/{env}",     endpoints),
    R("GET",  "/admin/credentials",         list_credentials),
    R("POST", "/admin/credentials",         create_credential),
    R("GET",  C,                            credential),
    R("POST", C + "/revoke",                revoke),
    R("POST", C + "/expire",                expire),
    R("PUT",  C + "/expires-at",            set_expiry),
    R("PUT",  C + "/access",                set_access),
    R("PUT",  C + "/public-key",            set_public_key),
    R("GET",  "/admin/counters",            counters),
    R("POST", "/admin/counters/reset",      reset_counters),
    R("GET",  "/admin/rejections",          rejections),
    R("POST", "/admin/faults/latency",      fault_latency),
    R("POST", "/admin/faults/fail",         fault_fail),
    R("POST", "/admin/faults/drop",         fault_drop),
    R("POST", "/admin/faults/clock-skew",   fault_clock_skew),
    R("POST", "/admin/faults/rate-limit",   fault_rate_limit),
    R("POST", "/admin/faults/retry-after",  fault_retry_after),
    R("POST", "/admin/faults/revoked-error", fault_revoked_error),
    R("POST", "/admin/faults/reset",        fault_reset),
    R("POST", "/admin/faults/{name}",       unknown_fault),
)
