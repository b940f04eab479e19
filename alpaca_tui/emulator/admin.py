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
    POST   /admin/faults/reset

``role`` may be ``"*"`` for every API role. The admin port binds to loopback like the rest
and has no authentication: it only ever manages the emulator's own fake credentials.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.credentials import parse_flow
from alpaca_tui.core.environments import parse_env
from alpaca_tui.core.errors import NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator.roles import API_ROLES
from alpaca_tui.emulator.wire import Reply, Request

if TYPE_CHECKING:
    from alpaca_tui.emulator.server import Emulator


def _err(status: int, message: str) -> Reply:
    return Reply.json(status, {"error": message})


def parse_access(value: Any) -> AccessMatrix | None:
    if value is None:
        return None
    if isinstance(value, str):
        return AccessMatrix.preset(value)
    if isinstance(value, dict):
        return AccessMatrix.from_dict({str(k): str(v) for k, v in value.items()})
    raise UsageError("access must be a preset name or a {scope: level} object")


def _body(req: Request) -> dict[str, Any]:
    if not req.body.strip():
        return {}
    try:
        data = req.json()
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


_CRED = re.compile(r"^/admin/credentials/(?P<key>[^/]+)(?:/(?P<action>[a-z-]+))?$")


def handle(emu: Emulator, req: Request) -> Reply:
    try:
        return _route(emu, req)
    except NotFoundError as exc:
        return _err(404, exc.message)
    except UsageError as exc:
        status = 409 if "already exists" in exc.message else 400
        return _err(status, exc.message)
    except ValueError as exc:
        return _err(400, str(exc))


def _route(emu: Emulator, req: Request) -> Reply:
    path = req.path.rstrip("/") or "/"
    m = req.method
    if path == "/admin/health" and m == "GET":
        return Reply.json(200, {"ok": True, "urls": emu.urls})
    if path == "/admin/urls" and m == "GET":
        return Reply.json(200, emu.urls)
    if path.startswith("/admin/endpoints/") and m == "GET":
        env = parse_env(path.rsplit("/", 1)[1])
        return Reply.json(200, {a.value: u for a, u in emu.endpoints_for(env).items()})
    if path == "/admin/credentials":
        if m == "GET":
            return Reply.json(200, emu.list_credentials())
        if m == "POST":
            body = _body(req)
            if "env" not in body or "flow" not in body:
                raise UsageError("env and flow are required")
            public_key = body.get("public_key")
            if isinstance(public_key, dict):
                public_key = json.dumps(public_key)
            issued = emu.create_credential(
                parse_env(str(body["env"])), parse_flow(str(body["flow"])),
                access=parse_access(body.get("access")), expires_at=body.get("expires_at"),
                key_id=body.get("key_id"), secret=body.get("secret"), public_key=public_key)
            return Reply.json(201, {"key_id": issued.key_id, "secret": issued.secret,
                                    "env": issued.env.value if issued.env else None,
                                    "flow": issued.flow.value if issued.flow else None})
    cm = _CRED.match(path)
    if cm:
        key, action = cm.group("key"), cm.group("action")
        if action is None and m == "GET":
            return Reply.json(200, emu.credential_info(key))
        if action == "revoke" and m == "POST":
            emu.revoke(key)
            return Reply.json(200, emu.credential_info(key))
        if action == "expire" and m == "POST":
            emu.expire(key)
            return Reply.json(200, emu.credential_info(key))
        if action == "expires-at" and m == "PUT":
            emu.set_expiry(key, _body(req).get("expires_at"))
            return Reply.json(200, emu.credential_info(key))
        if action == "access" and m == "PUT":
            access = parse_access(_body(req).get("access"))
            if access is None:
                raise UsageError("access is required")
            emu.set_access(key, access)
            return Reply.json(200, emu.credential_info(key))
        if action == "public-key" and m == "PUT":
            pk = _body(req).get("public_key")
            if isinstance(pk, dict):
                pk = json.dumps(pk)
            if not isinstance(pk, str) or not pk.strip():
                raise UsageError("public_key is required")
            emu.register_public_key(key, pk)
            return Reply.json(200, emu.credential_info(key))
    if path == "/admin/counters" and m == "GET":
        client_id = req.arg("client_id")
        return Reply.json(200, {"token_requests": emu.token_requests(client_id),
                                "requests": {r: emu.requests(r) for r in API_ROLES}})
    if path == "/admin/counters/reset" and m == "POST":
        emu.reset_counters()
        return Reply.json(200, {"ok": True})
    if path == "/admin/rejections" and m == "GET":
        return Reply.json(200, emu.rejections())
    if path.startswith("/admin/faults/") and m == "POST":
        body = _body(req)
        which = path.rsplit("/", 1)[1]
        if which == "latency":
            emu.set_latency(_role(body), float(_num(body, "seconds")))
        elif which == "fail":
            emu.fail_next(_role(body), int(_num(body, "n")), int(_num(body, "status", 503)))
        elif which == "drop":
            emu.drop_next(_role(body), int(_num(body, "n")))
        elif which == "clock-skew":
            emu.set_clock_skew(float(_num(body, "seconds")))
        elif which == "rate-limit":
            emu.set_rate_limit(_role(body), int(_num(body, "per_minute")))
        elif which == "reset":
            emu.reset_faults()
        else:
            return _err(404, f"unknown fault {which!r}")
        return Reply.json(200, {"ok": True})
    return _err(404, f"no admin route {m} {path}")
