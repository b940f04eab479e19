"""The proxy's upstream hop: HTTP/1.1 over keep-alive connections, ``h11`` on asyncio streams.

Why not the engine's httpx client: on this project's 2-core machines one httpx exchange costs
about 0.6-0.9 ms of CPU (httpcore, anyio, tracing), a plain ``h11`` exchange about a tenth of
that, and the proxy's goal is at most 1 ms added latency and 0.8x the direct throughput
(``bench/proxy_bench.py``). ``h11`` is the HTTP/1.1 protocol library httpcore itself is built
on; this module only adds the connections: a small idle pool per origin, TLS with the
system's certificate store and hostname checks (``ssl.create_default_context``), a connect
timeout and a read timeout. No redirect is ever followed (the proxy passes 3xx answers back);
proxy environment variables (``HTTPS_PROXY``) are not used: the auth proxy talks to Alpaca
directly.

A connection that was reused and closed by the server before any byte of the answer arrived
(an idle keep-alive the server dropped) is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

__all__ = ["UpstreamError", "UpstreamPool", "UpstreamResponse"]

MAX_IDLE_PER_ORIGIN = 32
IDLE_FOR = 20.0            # an idle connection older than this is not reused (servers drop them)


class UpstreamError(Exception):
    """No (complete) answer: ``kind`` is ``timeout``, ``connect`` or ``broken``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Conn:
    origin: tuple[str, str, int]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


class UpstreamResponse:
    """An answer whose body is read with :meth:`read` or :meth:`chunks`, then :meth:`aclose`."""

    def __init__(self, pool: UpstreamPool, conn: _Conn, event: h11.Response,
                 read_timeout: float | None) -> None:
        self.status = event.status_code
        self.headers: list[tuple[bytes, bytes]] = list(event.headers.raw_items())
        self._pool = pool
        self._conn: _Conn | None = conn
        self._timeout = read_timeout
        self._done = False

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (bytes as sent); UpstreamError when it breaks off."""
        conn = self._conn
        if conn is None:
            return
        while not self._done:
            event = await _next_event(conn, self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
            else:
                raise UpstreamError("broken", "the upstream closed the connection mid-answer")

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        """Give the connection back when the exchange ended cleanly, else close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, reusable=self._done)


class UpstreamPool:
    """Keep-alive connections to the upstream origins of one proxy run."""

    def __init__(self, *, connect_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes, *,
                      read_timeout: float | None) -> UpstreamResponse:
        """Send one request (``url`` absolute, its path and query sent as they are)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError("connect", f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1].encode("idna")
        sent = [(b"host", host), *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            sent.append((b"content-length", str(len(body)).encode()))
        for _attempt in (0, 1):
            conn = await self._connection(origin)
            try:
                return await self._exchange(conn, method, target, sent, body, read_timeout)
            except _Stale:
                conn.close()        # a kept-alive connection the server had dropped: once more, fresh
        raise UpstreamError("broken", "the upstream closed the connection")

    async def _exchange(self, conn: _Conn, method: str, target: str, headers: list[tuple[bytes, bytes]],
                        body: bytes, read_timeout: float | None) -> UpstreamResponse:
        c = conn.h11
        try:
            data = c.send(h11.Request(method=method, target=target, headers=headers)) or b""
            if body:
                data += c.send(h11.Data(data=body)) or b""
            data += c.send(h11.EndOfMessage()) or b""
            conn.writer.write(data)
            await conn.writer.drain()
            while True:
                event = await _next_event(conn, read_timeout)
                if isinstance(event, h11.Response):
                    return UpstreamResponse(self, conn, event, read_timeout)
                if not isinstance(event, h11.InformationalResponse):
                    raise UpstreamError("broken", "the upstream closed the connection without an answer")
        except (UpstreamError, OSError, h11.ProtocolError) as exc:
            conn.close()
            timed_out = isinstance(exc, UpstreamError) and exc.kind == "timeout"
            if conn.reused and not timed_out:
                raise _Stale() from None   # nothing of an answer came: the server had dropped it
            if isinstance(exc, UpstreamError):
                raise UpstreamError("broken" if exc.kind == "eof" else exc.kind, str(exc)) from None
            raise UpstreamError("broken", f"connection dropped: {exc}") from None

    async def _connection(self, origin: tuple[str, str, int]) -> _Conn:
        idle = self._idle.get(origin, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing() or now - conn.idle_since > IDLE_FOR:
                conn.close()
                continue
            conn.reused = True
            return conn
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None),
                self.connect_timeout)
        except TimeoutError:
            wait = self.connect_timeout
            raise UpstreamError("timeout", f"no connection to {host}:{port} within {wait:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError("connect", f"cannot connect to {host}:{port}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
        return _Conn(origin, reader, writer)

    def release(self, conn: _Conn, *, reusable: bool) -> None:
        c = conn.h11
        if reusable and c.our_state is h11.DONE and c.their_state is h11.DONE:
            with contextlib.suppress(h11.ProtocolError):
                c.start_next_cycle()
                idle = self._idle.setdefault(conn.origin, [])
                if len(idle) < MAX_IDLE_PER_ORIGIN:
                    conn.idle_since = time.monotonic()
                    idle.append(conn)
                    return
        conn.close()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _Stale(Exception):
    pass


async def _next_event(conn: _Conn, timeout: float | None) -> object:
    c = conn.h11
    while True:
        try:
            event = c.next_event()
        except h11.RemoteProtocolError as exc:
            raise UpstreamError("broken", f"malformed answer from the upstream: {exc}") from None
        if event is not h11.NEED_DATA:
            if isinstance(event, h11.ConnectionClosed):
                raise UpstreamError("eof", "the upstream closed the connection")
            return event
        try:
            async with asyncio.timeout(timeout):    # a cancel scope: no task per read
                data = await conn.reader.read(65536)
        except TimeoutError:
            conn.close()
            raise UpstreamError("timeout", f"no answer within {timeout:g} s") from None
        c.receive_data(data)
