"""The :class:`Emulator`: one stdlib HTTP server per Alpaca host role on loopback, plus an
admin port, all served by a single accept thread (so start and stop are fast) with one
thread per connection.

This module is only HTTP and lifecycle: the handler reads a request into a
:class:`~.wire.Request`, :class:`~.dispatch.Dispatcher` answers it from the role's route
table (:mod:`.routes`), and the handler writes the :class:`~.wire.Reply`. Credentials,
counters and faults are the :class:`~.control.Control` surface the Emulator inherits.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from alpaca_tui.core.clock import Clock
from alpaca_tui.emulator.control import Control, EmulatorError
from alpaca_tui.emulator.records import TOKEN_LIFETIME, IssuedCredential
from alpaca_tui.emulator.roles import BROKER_DEFAULT_RATE, ROLES
from alpaca_tui.emulator.wire import JSON_CT, Reply, Request, alpaca_error

if TYPE_CHECKING:
    from alpaca_tui.emulator.dispatch import Dispatcher

MAX_BODY = 1 << 20


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
        if "websocket" in (self.headers.get("Upgrade") or "").lower() and self.command == "GET":
            self._stream()
            return
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
        reply = emu.dispatcher.serve(req)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply, close=reply.close)

    def _stream(self) -> None:
        """A WebSocket stream (:mod:`.streams`) on this connection's thread, to its end."""
        from alpaca_tui.emulator import streams

        self.close_connection = True
        parts = urlsplit(self.path)
        headers = list(self.headers.items())
        req = Request(role=self.server.role, method="GET", path=parts.path or "/",
                      query=parse_qs(parts.query, keep_blank_values=True),
                      headers={k.lower(): v for k, v in headers}, header_names=[k for k, _ in headers],
                      body=b"", client=self.client_address[0])
        raw = f"GET {self.path} HTTP/1.1".encode("latin-1", "replace") + b"\r\n" + b"".join(
            f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in headers) + b"\r\n"
        emu = self.server.emulator
        streams.serve(emu, self.server.role, req, raw, self.connection, emu._stopping)

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


class Emulator(Control):
    """A local Alpaca: trading (live, paper), data (prod, sandbox), broker (live, sandbox),
    AuthX (live, sandbox) and an admin port, each a real HTTP server on ``host``.

    ``port_base=0`` lets the OS pick free ports; ``port_base=N`` uses ``N + i`` for role *i*
    in :data:`~alpaca_tui.emulator.roles.ROLES` order. ``clock`` drives token lifetimes,
    credential expiry, assertion checks and rate-limit windows (default: the system clock).
    ``retry_after=True`` adds ``Retry-After`` to 429 answers (off by default: Alpaca's specs list
    only ``X-RateLimit-*``); ``token_lifetime`` is the access tokens' life in seconds (899);
    ``revoked_error`` what AuthX answers a revoked client (``invalid_client`` or ``token_inactive``).
    """

    def __init__(self, *, host: str = "127.0.0.1", port_base: int = 0, state_dir: Path | None = None,
                 clock: Clock | None = None, rate_limit_per_min: int = 200,
                 broker_rate_limit_per_min: int = BROKER_DEFAULT_RATE, retry_after: bool = False,
                 token_lifetime: int = TOKEN_LIFETIME, revoked_error: str = "invalid_client") -> None:
        if port_base < 0 or port_base + len(ROLES) > 65536:
            raise EmulatorError(f"invalid port base {port_base}")
        super().__init__(state_dir=state_dir, clock=clock, rate_limit_per_min=rate_limit_per_min,
                         broker_rate_limit_per_min=broker_rate_limit_per_min, retry_after=retry_after,
                         token_lifetime=token_lifetime, revoked_error=revoked_error)
        self.host = host
        self.port_base = port_base
        self._servers: dict[str, _Server] = {}
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        self._dispatcher: Dispatcher | None = None
        self._dispatcher_lock = threading.Lock()
        if port_base:
            self.urls = {role: self._url(port_base + i) for i, role in enumerate(ROLES)}

    @property
    def dispatcher(self) -> Dispatcher:
        """The request pipeline, built on first use: its route tables import every handler
        (~80 ms), which a process that only issues credentials never needs before it serves
        (the demo's child seeds the store first; requests wait in the listen backlog meanwhile)."""
        if self._dispatcher is None:
            with self._dispatcher_lock:
                if self._dispatcher is None:
                    from alpaca_tui.emulator.dispatch import Dispatcher

                    self._dispatcher = Dispatcher(self, self._stopping.wait)
        return self._dispatcher

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


__all__ = ["JSON_CT", "Emulator", "EmulatorError", "IssuedCredential"]
