"""The proxy's HTTP/1.1 server side: ``h11`` parses and frames, asyncio moves the bytes.

:func:`serve_connection` runs one client connection: requests one after another (keep-alive),
each body read whole (capped: Alpaca's request bodies are small JSON), the answer written as
it comes (a streamed body chunk by chunk, with backpressure, so Server-Sent Events reach the
client as the upstream sends them). A WebSocket opening handshake leaves HTTP: the connection
goes to the ``upgrade`` callback with the raw handshake bytes (:mod:`.wsio` takes it from
there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import h11

from alpaca_tui.core.proxy.wsio import handshake_bytes

__all__ = ["Answer", "BodyAborted", "Incoming", "json_answer", "serve_connection"]

MAX_BODY = 10 * 1024 * 1024
MAX_HEADERS = 64 * 1024
IDLE_TIMEOUT = 75.0          # a keep-alive connection with no request for this long is closed
HEADER_TIMEOUT = 30.0        # a request's head and body must arrive within this


@dataclass
class Incoming:
    """One request as the client sent it (header names lower-case)."""

    method: str
    target: str                              # origin-form: /path?query, as sent
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def is_upgrade(self) -> bool:
        conn = (self.header(b"connection") or b"").lower()
        return (self.header(b"upgrade") or b"").lower() == b"websocket" and b"upgrade" in conn


@dataclass
class Answer:
    """A response: status, headers, and a body (bytes, or chunks as they come). ``done`` is
    called once with the body bytes sent and whether the whole body went out."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | AsyncIterator[bytes] = b""
    done: Callable[[int, bool], None] | None = None
    close: bool = False
    _finished: bool = field(default=False, repr=False)

    def finish(self, sent: int, complete: bool) -> None:
        if not self._finished and self.done is not None:
            self._finished = True
            self.done(sent, complete)


def json_answer(status: int, obj: object, headers: list[tuple[bytes, bytes]] | None = None,
                done: Callable[[int, bool], None] | None = None) -> Answer:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Answer(status, [(b"content-type", b"application/json; charset=UTF-8"), *(headers or [])], body,
                  done)


Handler = Callable[[Incoming], Awaitable[Answer]]
Upgrade = Callable[[Incoming, bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class _Closed(Exception):
    pass


class BodyAborted(Exception):
    """Raised by a streamed body whose source broke: the connection is dropped without the
    end of the message, so the client sees a truncated answer, never a complete-looking one."""


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           handler: Handler, upgrade: Upgrade | None) -> None:
    """Serve requests on one connection until either side closes it."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
    try:
        while True:
            try:
                req = await _read_request(conn, reader, writer)
            except _Closed:
                return
            except h11.RemoteProtocolError as exc:
                await _refuse(conn, writer, exc.error_status_hint, "malformed HTTP request")
                return
            if req.is_upgrade:
                if upgrade is None:
                    await _refuse(conn, writer, 400, "WebSocket is not served here")
                    return
                data, _closed = conn.trailing_data
                raw = handshake_bytes(req.method, req.target, req.headers) + data
                await upgrade(req, raw, reader, writer)
                return
            answer = await handler(req)
            if not await _send_answer(conn, writer, req, answer) or conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (OSError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2.0)


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader, timeout: float) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            async with asyncio.timeout(timeout):    # a cancel scope: no task per read
                data = await reader.read(65536)
        except TimeoutError:
            raise _Closed() from None
        conn.receive_data(data)


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> Incoming:
    event = await _next_event(conn, reader, IDLE_TIMEOUT)
    if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
        raise _Closed()
    if not isinstance(event, h11.Request):
        raise h11.RemoteProtocolError("expected a request", error_status_hint=400)
    req = Incoming(event.method.decode("ascii").upper(), event.target.decode("latin-1"), list(event.headers))
    length = req.header(b"content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        await _refuse(conn, writer, 413, f"request body over {MAX_BODY // (1024 * 1024)} MiB")
        raise _Closed()
    if conn.they_are_waiting_for_100_continue:
        writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next_event(conn, reader, HEADER_TIMEOUT)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_BODY:
                await _refuse(conn, writer, 413, f"request body over {MAX_BODY // (1024 * 1024)} MiB")
                raise _Closed()
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            break
        elif isinstance(event, h11.ConnectionClosed):
            raise _Closed()
    req.body = b"".join(chunks)
    return req


async def _send_answer(conn: h11.Connection, writer: asyncio.StreamWriter, req: Incoming,
                       answer: Answer) -> bool:
    """Write ``answer``; False when the connection must be closed afterwards."""
    headers = list(answer.headers)
    if answer.close:
        headers.append((b"connection", b"close"))
    sent, complete = 0, False
    try:
        head = conn.send(h11.Response(status_code=answer.status, headers=headers))
        if isinstance(answer.body, bytes):
            body = answer.body if req.method != "HEAD" else b""
            tail = conn.send(h11.Data(data=body)) if body else b""
            writer.write(b"".join((head or b"", tail or b"", conn.send(h11.EndOfMessage()) or b"")))
            sent = len(body)
            await writer.drain()
        else:
            writer.write(head or b"")
            await writer.drain()
            async for chunk in answer.body:
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)) or b"")
                    sent += len(chunk)
                    await writer.drain()
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        complete = True
    except (BodyAborted, h11.LocalProtocolError, OSError, asyncio.IncompleteReadError):
        return False
    finally:
        if not isinstance(answer.body, bytes):
            aclose = getattr(answer.body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        answer.finish(sent, complete)
    return not answer.close


async def _refuse(conn: h11.Connection, writer: asyncio.StreamWriter, status: int, message: str) -> None:
    """An Alpaca-shaped error answer when the connection is still able to carry one, then close."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = json.dumps({"code": status * 100_000 + 10_000, "message": f"alpaca-tui proxy: {message}"}).encode()
    with contextlib.suppress(Exception):
        writer.write(conn.send(h11.Response(status_code=status, headers=[
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", str(len(body)).encode()), (b"connection", b"close")])) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
