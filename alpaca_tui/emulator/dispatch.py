"""The request pipeline: from a parsed :class:`~.wire.Request` to a :class:`~.wire.Reply`,
through the faults, the route table of the request's host role, authentication, the rate
limit and the scope check, to the route's handler.

* API hosts (trading, data, broker): count, faults (latency, dropped connection, injected
  failure), match (no route: 501 "not emulated" for an operation of Alpaca's published spec
  (:mod:`.catalog`), else 404 / 405), authenticate (401 / 403), rate limit per key (429), the
  broker scope + level of the route (403), then the handler. Every answer carries the
  ``X-RateLimit-*`` headers; ``Retry-After`` only when the ``retry_after`` switch is on (Alpaca's
  specs list none, so by default clients must fall back on ``X-RateLimit-Reset``).
* AuthX hosts: count, faults, rate limit per client_id (429 ``quota_exceeded``), match (404,
  405 with ``Allow: POST``), then the token handler.
* The admin port: match and run; no faults, no counters, refusals as ``{"error": ...}``.

Handlers get a :class:`~.context.Ctx`; an exception in one is a 500 in the host's error
shape, never a traceback on the wire.
"""

from __future__ import annotations

from collections.abc import Callable

from alpaca_tui.emulator import admin, authx, catalog
from alpaca_tui.emulator.authn import authenticate, scope_denied
from alpaca_tui.emulator.context import Ctx, Principal
from alpaca_tui.emulator.control import Control
from alpaca_tui.emulator.routes import tables
from alpaca_tui.emulator.routing import Match, Route, RouteTable
from alpaca_tui.emulator.wire import Reply, Request, alpaca_error, oauth_error, unauthorized


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset)}


class Dispatcher:
    """Serves requests for every role of one emulator. ``wait(seconds)`` sleeps for the
    latency fault (the server's stop event, so stopping cuts a long latency short)."""

    def __init__(self, control: Control, wait: Callable[[float], object]) -> None:
        self.control = control
        self.wait = wait
        self.tables: dict[str, RouteTable] = tables()

    def _ctx(self, req: Request, match: Match, now: float, principal: Principal | None = None,
             *, admin: bool = False) -> Ctx:
        c = self.control
        return Ctx(req=req, role=req.role, params=match.params, now=now, state=c.state, book=c.book,
                   principal=principal, urls=c.urls, control=c if admin else None)

    def serve(self, req: Request) -> Reply:
        table = self.tables[req.role]
        if table.kind == "admin":
            return self._serve_admin(table, req)
        state = self.control.state
        state.count_request(req.role)
        latency = state.latency.get(req.role, 0.0)
        if latency > 0:
            self.wait(latency)
        if state.take_drop(req.role):
            return Reply(0, drop=True)
        status = state.take_fail(req.role)
        if status is not None:
            return fault_reply(table.kind, status, retry_after=state.retry_after)
        try:
            if table.kind == "authx":
                return self._serve_authx(table, req)
            return self._serve_api(table, req)
        except Exception as exc:  # never a traceback on the wire
            log = self.control.log
            if log is not None:
                log(f"{req.role} internal error: {type(exc).__name__}: {exc}")
            if table.kind == "authx":
                return oauth_error(500, "server_error")
            return alpaca_error(500, 50010000, "internal server error")

    # -- the admin port ----------------------------------------------------------------
    def _serve_admin(self, table: RouteTable, req: Request) -> Reply:
        match = table.match(req.method, req.path)
        if match.route is None:
            return admin.error(404, f"no admin route {req.method} {table.normalize(req.path)}")
        return admin.guarded(match.route.handler, self._ctx(req, match, self.control.now(), admin=True))

    # -- AuthX -------------------------------------------------------------------------
    def _serve_authx(self, table: RouteTable, req: Request) -> Reply:
        now = self.control.now()
        client = authx.client_id_of(req) if req.method == "POST" else None
        ident = f"client:{client}" if client else f"ip:{req.client}"
        limit = self.control.rate_limit(req.role)
        allowed, lim, rem, reset = self.control.state.consume(req.role, ident, limit, now)
        if not allowed:
            # UNCONFIRMED: which body AuthX uses for throttling; quota_exceeded is in its vocabulary.
            reply = oauth_error(429, "quota_exceeded")
            self._retry_after(reply.headers, reset, now)
        else:
            match = table.match(req.method, req.path)
            if match.route is not None:
                reply = match.route.handler(self._ctx(req, match, now))
            elif match.known:
                reply = authx.not_allowed()
            else:
                reply = Reply.json(404, {"code": 40410000, "message": "endpoint not found"})
        for k, v in rate_headers(lim, rem, reset).items():
            reply.headers.setdefault(k, v)
        return reply

    # -- Trading, Market Data, Broker --------------------------------------------------
    def _serve_api(self, table: RouteTable, req: Request) -> Reply:
        state, role = self.control.state, req.role
        now = self.control.now()
        limit = self.control.rate_limit(role)
        anon_ident = f"ip:{req.client}"
        match = table.match(req.method, req.path)
        route = match.route
        path = table.normalize(req.path)
        if route is not None and catalog.shadowed(table.kind, req.method, path, route.path):
            route = None   # a documented literal path our template caught: not emulated
        if route is None:
            _ok, lim, rem, reset = state.consume(role, anon_ident, limit, now, spend=False)
            reply = unmatched(table.kind, req.method, table.normalize(req.path), match.known)
            reply.headers.update(rate_headers(lim, rem, reset))
            return reply

        auth = authenticate(state, req, now)
        if auth is None and not route.anonymous:
            auth = unauthorized("missing credentials")
        if isinstance(auth, Reply):
            _ok, lim, rem, reset = state.consume(role, anon_ident, limit, now, spend=False)
            auth.headers.update(rate_headers(lim, rem, reset))
            return auth

        ident = auth.cred.key_id if auth is not None else anon_ident
        allowed, lim, rem, reset = state.consume(role, ident, limit, now)
        headers = rate_headers(lim, rem, reset)
        if not allowed:
            self._retry_after(headers, reset, now)
            return alpaca_error(429, 42910000, "rate limit exceeded", headers)

        denied = self._scope_check(route, auth, role)
        if denied is not None:
            denied.headers.update(headers)
            return denied
        reply = route.handler(self._ctx(req, match, now, auth))
        for k, v in headers.items():
            reply.headers.setdefault(k, v)
        return reply

    def _retry_after(self, headers: dict[str, str], reset: int, now: float) -> None:
        """``Retry-After`` (seconds to the window's reset), only behind the switch."""
        if self.control.state.retry_after:
            headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))

    def _scope_check(self, route: Route, auth: Principal | None, role: str) -> Reply | None:
        """Broker credentials need the route's scope at the route's level."""
        if auth is None or not auth.cred.env.is_broker or route.scope is None or route.level is None:
            return None
        denied = scope_denied(auth.cred, route.scope, route.level)
        if denied is not None:
            self.control.state.note_rejection(role=role, key_id=auth.cred.key_id, reason="scope",
                                              scope=route.scope.value,
                                              level=auth.cred.access.level(route.scope).value)
        return denied


def unmatched(kind: str, method: str, path: str, known: bool) -> Reply:
    """No route of ours: 501 for an operation Alpaca documents (in the host's spec), 405 for a
    path we serve with other methods, else Alpaca's 404."""
    _methods, template = catalog.lookup(kind, method, path)
    if template is not None:
        api = catalog.TITLES.get(kind, kind)
        return alpaca_error(501, 50110000, f"{method} {template} ({api}) is not emulated",
                            {"X-Emulator-Reason": "documented operation, not emulated"})
    if known:
        return alpaca_error(405, 40510000, "method not allowed")
    return alpaca_error(404, 40410000, "endpoint not found")


def fault_reply(kind: str, status: int, *, retry_after: bool = False) -> Reply:
    """The answer to an injected failure, in the host's error shape (``Retry-After: 1`` on a 429
    only with the switch on)."""
    headers: dict[str, str] = {"X-Emulator-Reason": "injected fault"}
    if status == 429 and retry_after:
        headers["Retry-After"] = "1"
    if kind == "authx":
        error = {429: "quota_exceeded", 503: "temporarily_unavailable"}.get(status, "server_error")
        reply = oauth_error(status, error)
        reply.headers.update(headers)
        return reply
    messages = {429: "rate limit exceeded", 500: "internal server error", 502: "bad gateway",
                503: "service unavailable", 504: "gateway timeout"}
    return alpaca_error(status, status * 100_000 + 10_000, messages.get(status, "injected failure"),
                        headers)
