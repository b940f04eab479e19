"""The :class:`Emulator`: one stdlib HTTP server per Alpaca host role on loopback, plus an
admin port, all served by a single accept thread (so start and stop are fast) with one
thread per connection.

Faults (per role): added latency, the next *n* requests failing with a status, the next
*n* connections dropped without an answer, a clock skew (the server's clock runs ahead by
*s* seconds: token lifetimes and assertion checks use it), and per-role rate limits.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator import api, authx
from alpaca_tui.emulator.roles import (
    ADMIN,
    API_ROLES,
    BROKER_DEFAULT_RATE,
    ENV_ROLES,
    ROLE_KIND,
    ROLES,
    check_role,
)
from alpaca_tui.emulator.state import IssuedCredential, State, parse_when
from alpaca_tui.emulator.wire import JSON_CT, Reply, Request, alpaca_error, oauth_error

MAX_BODY = 1 << 20


class EmulatorError(AlpacaTuiError):
    """The emulator could not start (port in use, bad state dir...)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], emulator: Emulator, role: str) -> None:
        self.emulator = emulator
        self.role = role
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """No tracebacks on stderr: a client hanging up mid-answer is normal (timeouts, the
        drop fault); anything else goes to the emulator's log when one is set."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        log = self.emulator.log
        if log is not None:
            log(f"{self.role} error serving {client_address[0]}: {type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "alpaca-emulator"
    sys_version = ""
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # stall every response by ~40 ms on loopback.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log = self.server.emulator.log
        if log is not None:
            log(f"{self.server.role} {self.address_string()} {format % args}")

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY or length < 0:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        emu = self.server.emulator
        role = self.server.role
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if body is None:
            self._send(alpaca_error(413, 41310000, "request body too large"), close=True)
            return
        parts = urlsplit(self.path)
        names = list(self.headers.keys())
        req = Request(role=role, method=self.command, path=parts.path or "/",
                      query=parse_qs(parts.query, keep_blank_values=True),
                      headers={k.lower(): v for k, v in self.headers.items()},
                      header_names=names, body=body, client=self.client_address[0])
        reply = emu._serve(req)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply, close=reply.close)

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        self.send_response(reply.status)
        headers = {"X-Request-ID": str(uuid.uuid4())}
        headers.update(reply.headers)
        for k, v in headers.items():
            self.send_header(k, v)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        body = b"" if self.command == "HEAD" else reply.body
        self.send_header("Content-Length", str(len(reply.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class Emulator:
    """A local Alpaca: trading (live, paper), data (prod, sandbox), broker (live, sandbox),
    AuthX (live, sandbox) and an admin port, each a real HTTP server on ``host``.

    ``port_base=0`` lets the OS pick free ports; ``port_base=N`` uses ``N + i`` for role *i*
    in :data:`~alpaca_tui.emulator.roles.ROLES` order. ``clock`` drives token lifetimes,
    credential expiry, assertion checks and rate-limit windows (default: the system clock).
    """

    def __init__(self, *, host: str = "127.0.0.1", port_base: int = 0, state_dir: Path | None = None,
                 clock: Clock | None = None, rate_limit_per_min: int = 200,
                 broker_rate_limit_per_min: int = BROKER_DEFAULT_RATE) -> None:
        if port_base < 0 or port_base + len(ROLES) > 65536:
            raise EmulatorError(f"invalid port base {port_base}")
        self.host = host
        self.port_base = port_base
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.state = State(self.state_dir)
        self.book = api.Book(self.clock.time())
        self.default_rate = {r: (broker_rate_limit_per_min if ROLE_KIND[r] in ("broker", "authx")
                                 else rate_limit_per_min) for r in API_ROLES}
        self.log: Callable[[str], None] | None = None
        self.urls: dict[str, str] = {}
        self._servers: dict[str, _Server] = {}
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        if port_base:
            self.urls = {role: self._url(port_base + i) for i, role in enumerate(ROLES)}

    # -- lifecycle ---------------------------------------------------------------------
    def _url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Emulator:
        if self._servers:
            return self
        self._stopping.clear()
        try:
            for i, role in enumerate(ROLES):
                port = self.port_base + i if self.port_base else 0
                self._servers[role] = _Server((self.host, port), self, role)
        except OSError as exc:
            for srv in self._servers.values():
                srv.server_close()
            self._servers.clear()
            raise EmulatorError(f"cannot listen on {self.host}:{port}: {exc.strerror or exc}") from None
        self.urls = {role: self._url(srv.server_address[1]) for role, srv in self._servers.items()}
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, name="alpaca-emulator", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        assert self._wake_r is not None
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        for srv in self._servers.values():
            sel.register(srv.socket, selectors.EVENT_READ, srv)
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select(timeout=1.0):
                    srv = key.data
                    if srv is None or self._stopping.is_set():
                        continue
                    try:
                        conn, addr = srv.get_request()
                    except OSError:
                        continue
                    try:
                        srv.process_request(conn, addr)
                    except Exception:
                        srv.shutdown_request(conn)
        finally:
            sel.close()

    def stop(self) -> None:
        """Stop serving and close every socket; quick and idempotent."""
        if not self._servers:
            return
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        for srv in self._servers.values():
            srv.server_close()
        self._servers.clear()
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Emulator({state}, {len(self.urls)} urls, {len(self.state.credentials)} credentials)"

    # -- time --------------------------------------------------------------------------
    def now(self) -> float:
        """The server's clock: ``clock.time()`` plus the clock-skew fault."""
        return self.clock.time() + self.state.skew

    # -- request pipeline --------------------------------------------------------------
    def rate_limit(self, role: str) -> int:
        return self.state.rate.get(role, self.default_rate.get(role, 200))

    def _serve(self, req: Request) -> Reply:
        role = req.role
        if role == ADMIN:
            from alpaca_tui.emulator import admin

            return admin.handle(self, req)
        self.state.count_request(role)
        latency = self.state.latency.get(role, 0.0)
        if latency > 0:
            self._stopping.wait(latency)
        if self.state.take_drop(role):
            return Reply(0, drop=True)
        status = self.state.take_fail(role)
        if status is not None:
            return self._fault_reply(role, status)
        try:
            if ROLE_KIND[role] == "authx":
                return self._serve_authx(req)
            return api.handle(self, req)
        except Exception as exc:  # never a traceback on the wire
            if self.log is not None:
                self.log(f"{role} internal error: {type(exc).__name__}: {exc}")
            if ROLE_KIND[role] == "authx":
                return oauth_error(500, "server_error")
            return alpaca_error(500, 50010000, "internal server error")

    def _serve_authx(self, req: Request) -> Reply:
        now = self.now()
        client = authx.client_id_of(req) if req.method == "POST" else None
        ident = f"client:{client}" if client else f"ip:{req.client}"
        allowed, lim, rem, reset = self.state.consume(req.role, ident, self.rate_limit(req.role), now)
        headers = {"X-RateLimit-Limit": str(lim), "X-RateLimit-Remaining": str(rem),
                   "X-RateLimit-Reset": str(reset)}
        if not allowed:
            # UNCONFIRMED: which body AuthX uses for throttling; quota_exceeded is in its vocabulary.
            reply = oauth_error(429, "quota_exceeded")
            reply.headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))
        else:
            reply = authx.handle(self, req)
        for k, v in headers.items():
            reply.headers.setdefault(k, v)
        return reply

    def _fault_reply(self, role: str, status: int) -> Reply:
        headers: dict[str, str] = {"X-Emulator-Reason": "injected fault"}
        if status == 429:
            headers["Retry-After"] = "1"
        if ROLE_KIND[role] == "authx":
            error = {429: "quota_exceeded", 503: "temporarily_unavailable"}.get(status, "server_error")
            reply = oauth_error(status, error)
            reply.headers.update(headers)
            return reply
        messages = {429: "rate limit exceeded", 500: "internal server error", 502: "bad gateway",
                    503: "service unavailable", 504: "gateway timeout"}
        return alpaca_error(status, status * 100_000 + 10_000, messages.get(status, "injected failure"),
                            headers)

    # -- endpoints ---------------------------------------------------------------------
    def endpoints_for(self, env: Env) -> dict[Api, str]:
        """Base URLs of this emulator for every API of ``env`` (per-profile endpoint overrides)."""
        if not self.urls:
            raise EmulatorError("the emulator is not started")
        return {api_: self.urls[role] for api_, role in ENV_ROLES[Env(env)].items()}

    def token_url(self, env: Env) -> str:
        from alpaca_tui.core.environments import TOKEN_PATH

        return self.endpoints_for(env)[Api.AUTH] + TOKEN_PATH

    # -- credentials (the admin surface) -----------------------------------------------
    def create_credential(self, env: Env, flow: Flow, *, access: AccessMatrix | None = None,
                          expires_at: datetime | str | float | None = None, key_id: str | None = None,
                          secret: str | None = None, public_key: str | None = None) -> IssuedCredential:
        """Register a credential; IDs and secrets are generated Alpaca-style when not given.

        private-key-jwt credentials have no secret: pass ``public_key`` (PEM or JWK) here or
        later with :meth:`register_public_key`.
        """
        cred = self.state.add_credential(Env(env), Flow(flow), now=self.now(), access=access,
                                         expires_at=parse_when(expires_at), key_id=key_id, secret=secret,
                                         public_key=public_key)
        return IssuedCredential(cred.key_id, cred.secret, cred.env, cred.flow)

    def revoke(self, key_id: str) -> None:
        self.state.revoke(key_id)

    def expire(self, key_id: str) -> None:
        """Make the credential expired now (by the emulator's clock)."""
        self.state.expire(key_id, self.now())

    def set_expiry(self, key_id: str, expires_at: datetime | str | float | None) -> None:
        self.state.set_expiry(key_id, parse_when(expires_at))

    def set_access(self, key_id: str, access: AccessMatrix) -> None:
        self.state.set_access(key_id, access)

    def register_public_key(self, key_id: str, pem_or_jwk: str) -> None:
        self.state.register_public_key(key_id, pem_or_jwk)

    def list_credentials(self) -> list[dict[str, Any]]:
        """Every credential without secret material."""
        return self.state.list_info(self.now())

    def credential_info(self, key_id: str) -> dict[str, Any]:
        return self.state.get(key_id).info(self.now())

    def rejections(self) -> list[dict[str, Any]]:
        """Why recent requests were refused (emulator-only notes: e.g. a paper key on live
        trading is answered with Alpaca's plain 401, and noted here with its real env)."""
        with self.state.lock:
            return list(self.state.rejections)

    # -- counters ----------------------------------------------------------------------
    def token_requests(self, client_id: str | None = None) -> int:
        with self.state.lock:
            return self.state.token_total if client_id is None else self.state.token_counts[client_id]

    def requests(self, role: str) -> int:
        check_role(role)
        with self.state.lock:
            return self.state.request_counts[role]

    def reset_counters(self) -> None:
        self.state.reset_counters()

    # -- faults ------------------------------------------------------------------------
    def _roles(self, role: str) -> tuple[str, ...]:
        return API_ROLES if role in ("*", "all") else (check_role(role),)

    def set_latency(self, role: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self.state.lock:
            for r in self._roles(role):
                self.state.latency[r] = float(seconds)

    def fail_next(self, role: str, n: int, status: int = 503) -> None:
        if n < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next needs n >= 0 and a 4xx/5xx status")
        with self.state.lock:
            for r in self._roles(role):
                self.state.fail[r] = [int(n), int(status)]

    def drop_next(self, role: str, n: int) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        with self.state.lock:
            for r in self._roles(role):
                self.state.drop[r] = int(n)

    def set_clock_skew(self, seconds: float) -> None:
        with self.state.lock:
            self.state.skew = float(seconds)

    def set_rate_limit(self, role: str, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        with self.state.lock:
            for r in self._roles(role):
                self.state.rate[r] = int(per_minute)

    def reset_faults(self) -> None:
        """Clear latency, pending failures/drops, clock skew, rate limits and rate windows."""
        self.state.reset_faults()


__all__ = ["JSON_CT", "Emulator", "EmulatorError", "IssuedCredential"]
