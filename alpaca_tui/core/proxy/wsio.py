"""WebSocket connections on asyncio streams, with the ``websockets`` library's Sans-I/O protocol.

The proxy serves HTTP and WebSocket on the same port (alpaca-trade-api derives its trade-
updates stream from ``APCA_API_BASE_URL``), so the opening handshake arrives through the
proxy's HTTP server and is handed to :meth:`WsPeer.accept` as raw bytes. ``websockets``
does the protocol (handshake checks, framing, masking, ping/pong, the closing handshake); this
module only moves bytes between it and the sockets.

Compatibility: ``websockets`` 10.4 (what alpaca-trade-api pins) names the protocol classes
``ServerConnection`` / ``ClientConnection``; 11 and later ``ServerProtocol`` /
``ClientProtocol``. Both have the same Sans-I/O methods, which is all this module uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any

import websockets.client as _client
import websockets.server as _server
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

__all__ = ["MAX_MESSAGE", "Message", "WsError", "WsPeer", "client_protocol", "handshake_bytes",
           "refuse_handshake", "server_protocol"]

MAX_MESSAGE = 16 * 1024 * 1024       # one message (a large subscription answer fits)
_SERVER: Any = getattr(_server, "ServerProtocol", None) or _server.ServerConnection
_CLIENT: Any = getattr(_client, "ClientProtocol", None) or _client.ClientConnection


class WsError(Exception):
    """The WebSocket could not be opened (refused handshake, bad URL, connection failed)."""


@dataclass(frozen=True)
class Message:
    """One complete message: text (UTF-8 bytes) or binary."""

    text: bool
    data: bytes


class Assembler:
    """Whole messages from websockets' frames (a fragmented message is TEXT/BINARY then CONT
    frames); control frames give None, as the protocol has answered them. Shared by the
    proxy's :class:`WsPeer` and the emulator's blocking socket."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._text = False

    def take(self, event: Any) -> Message | None:
        if not isinstance(event, Frame):
            return None
        if event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._text = event.opcode is Opcode.TEXT
            self._parts = [event.data]
        elif event.opcode is Opcode.CONT:
            self._parts.append(event.data)
        else:
            return None  # ping, pong, close: the protocol answered them
        if not event.fin:
            return None
        data, self._parts = b"".join(self._parts), []
        return Message(self._text, data)


def queue_message(proto: Any, msg: Message) -> bool:
    """Give ``msg`` to the protocol to send (the caller flushes); False when it is closing."""
    try:
        if msg.text:
            proto.send_text(msg.data)
        else:
            proto.send_binary(msg.data)
    except Exception:  # websockets' InvalidState: the connection is closing
        return False
    return True


def server_protocol() -> Any:
    return _SERVER(max_size=MAX_MESSAGE)


def client_protocol(url: str) -> Any:
    return _CLIENT(parse_uri(url), max_size=MAX_MESSAGE)


def handshake_bytes(method: str, target: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The opening request as it was on the wire (from the proxy's parsed HTTP request)."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1")]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def refuse_handshake(writer: asyncio.StreamWriter, raw_request: bytes, status: int, text: str) -> None:
    """Answer an opening handshake with an HTTP error (``status``, plain ``text``) instead."""
    proto = server_protocol()
    proto.receive_data(raw_request)
    proto.events_received()
    proto.send_response(proto.reject(http.HTTPStatus(status), text + "\n"))
    with contextlib.suppress(OSError, RuntimeError):
        await _flush(proto, writer)


class WsPeer:
    """One open WebSocket: :meth:`recv` whole messages, :meth:`send`, :meth:`close`."""

    def __init__(self, proto: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 events: list[Any] | None = None) -> None:
        self.proto = proto
        self._reader = reader
        self._writer = writer
        self._events: deque[Any] = deque(events or [])
        self._messages = Assembler()
        self.request_headers: Any = None

    # -- opening -----------------------------------------------------------------------
    @classmethod
    async def accept(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     raw_request: bytes) -> WsPeer | None:
        """Answer the opening handshake in ``raw_request`` (plus any bytes after it); None when
        ``websockets`` refused it (its 4xx answer has been sent)."""
        proto = server_protocol()
        proto.receive_data(raw_request)
        events = proto.events_received()
        request = next((e for e in events if isinstance(e, Request)), None)
        if request is None:
            await _flush(proto, writer)
            return None
        response = proto.accept(request)
        proto.send_response(response)
        await _flush(proto, writer)
        if response.status_code != 101:
            return None
        peer = cls(proto, reader, writer, [e for e in events if not isinstance(e, Request)])
        peer.request_headers = request.headers
        return peer

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str], *, timeout: float = 10.0) -> WsPeer:
        """Open ``url`` (ws:// or wss://, certificates verified) with extra ``headers``."""
        try:
            return await asyncio.wait_for(cls._connect(url, headers), timeout)
        except TimeoutError:
            raise WsError(f"no WebSocket answer within {timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise WsError(f"connection failed: {exc.strerror or exc}" if isinstance(exc, OSError)
                          else f"TLS error: {exc}") from None

    @classmethod
    async def _connect(cls, url: str, headers: dict[str, str]) -> WsPeer:
        try:
            proto = client_protocol(url)
        except Exception as exc:  # websockets' InvalidURI
            raise WsError(f"invalid stream URL: {exc}") from None
        uri = proto.wsuri if hasattr(proto, "wsuri") else proto.uri
        tls = ssl.create_default_context() if uri.secure else None
        reader, writer = await asyncio.open_connection(uri.host, uri.port, ssl=tls,
                                                       server_hostname=uri.host if tls else None)
        request = proto.connect()
        for name, value in headers.items():
            request.headers[name] = value
        proto.send_request(request)
        await _flush(proto, writer)
        while True:
            data = await reader.read(65536)
            try:
                if data:
                    proto.receive_data(data)
                else:
                    proto.receive_eof()
            except Exception:   # websockets 10.4 lets a truncated answer's EOFError through
                writer.close()
                raise WsError("the stream closed the connection during the handshake") from None
            events = proto.events_received()
            response = next((e for e in events if isinstance(e, Response)), None)
            if response is not None or not data:
                break
        if response is None or proto.handshake_exc is not None:
            writer.close()
            status = response.status_code if response is not None else "no answer"
            raise WsError(f"the stream refused the WebSocket handshake ({status})")
        return cls(proto, reader, writer, [e for e in events if not isinstance(e, Response)])

    # -- messages ----------------------------------------------------------------------
    async def recv(self) -> Message | None:
        """The next whole message; None once the connection is closed (or broke)."""
        while True:
            while self._events:
                msg = self._messages.take(self._events.popleft())
                if msg is not None:
                    return msg
                if self.closed:
                    await self._safe_flush()
                    return None
            try:
                data = await self._reader.read(65536)
            except (OSError, asyncio.IncompleteReadError):
                data = b""
            try:
                if data:
                    self.proto.receive_data(data)
                else:
                    self.proto.receive_eof()
            except Exception:  # a protocol error the library raised instead of recording
                return None
            self._events.extend(self.proto.events_received())
            await self._safe_flush()   # pongs, the closing handshake
            if not data and not self._events:
                return None

    @property
    def closed(self) -> bool:
        return str(getattr(self.proto.state, "name", self.proto.state)) in ("CLOSING", "CLOSED")

    async def send(self, msg: Message) -> bool:
        """Send one message; False when the connection is no longer open."""
        if not queue_message(self.proto, msg):
            return False
        return await self._safe_flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or finish) the closing handshake and drop the connection."""
        with contextlib.suppress(Exception):
            self.proto.send_close(code, reason)
        await self._safe_flush()
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)

    async def _safe_flush(self) -> bool:
        try:
            await _flush(self.proto, self._writer)
        except (OSError, RuntimeError):
            return False
        return True


async def _flush(proto: Any, writer: asyncio.StreamWriter) -> None:
    for data in proto.data_to_send():
        if data:
            writer.write(data)
        elif writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()  # the protocol half-closes the TCP connection
    await writer.drain()
