"""WebSocket on one of the emulator's connection threads (a blocking socket), with the same
``websockets`` Sans-I/O protocol the proxy uses (:mod:`alpaca_tui.core.proxy.wsio`).

The HTTP handler has already read the opening request; it passes the request line and headers
here as bytes, the protocol checks them and answers 101 (or an HTTP error). A WebSocket client
sends nothing before that answer (RFC 6455 §4.1), so nothing is left in the handler's read
buffer and the socket can be read directly.
"""

from __future__ import annotations

import contextlib
import http
import select
import socket
from collections import deque
from typing import Any

from websockets.http11 import Request

from alpaca_tui.core.proxy.wsio import Assembler, Message, queue_message, server_protocol

__all__ = ["SyncWs", "reject"]

TIMEOUT = object()   # recv(): nothing arrived within the timeout


def _flush(proto: Any, sock: socket.socket) -> bool:
    try:
        for data in proto.data_to_send():
            if data:
                sock.sendall(data)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
    except OSError:
        return False
    return True


def reject(sock: socket.socket, raw_request: bytes, status: int, text: str) -> None:
    """Answer the opening handshake with an HTTP error instead of a WebSocket."""
    proto = server_protocol()
    proto.receive_data(raw_request)
    proto.events_received()
    proto.send_response(proto.reject(http.HTTPStatus(status), text + "\n"))
    _flush(proto, sock)


class SyncWs:
    """One accepted WebSocket on a blocking socket."""

    def __init__(self, proto: Any, sock: socket.socket) -> None:
        self.proto = proto
        self.sock = sock
        self._events: deque[Any] = deque()
        self._messages = Assembler()
        self.open = True

    @classmethod
    def accept(cls, sock: socket.socket, raw_request: bytes) -> SyncWs | None:
        proto = server_protocol()
        proto.receive_data(raw_request)
        request = next((e for e in proto.events_received() if isinstance(e, Request)), None)
        if request is None:
            _flush(proto, sock)
            return None
        response = proto.accept(request)
        proto.send_response(response)
        if not _flush(proto, sock) or response.status_code != 101:
            return None
        return cls(proto, sock)

    def recv(self, timeout: float) -> Message | object | None:
        """The next message, :data:`TIMEOUT` when none came within ``timeout`` s, or None once
        the connection closed."""
        while True:
            while self._events:
                msg = self._messages.take(self._events.popleft())
                if msg is not None:
                    return msg
            if not self.open:
                return None
            try:
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    return TIMEOUT
                data = self.sock.recv(65536)
            except (OSError, ValueError):
                data = b""
            try:
                if data:
                    self.proto.receive_data(data)
                else:
                    self.proto.receive_eof()
                    self.open = False
            except Exception:  # a protocol error the library raised instead of recording
                self.open = False
                return None
            self._events.extend(self.proto.events_received())
            _flush(self.proto, self.sock)
            if str(getattr(self.proto.state, "name", "")) in ("CLOSING", "CLOSED"):
                self.open = False

    def send(self, msg: Message) -> bool:
        if not self.open:
            return False
        if not queue_message(self.proto, msg):  # the connection is closing
            self.open = False
            return False
        if not _flush(self.proto, self.sock):
            self.open = False
        return self.open

    def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            self.proto.send_close(code, reason)
        _flush(self.proto, self.sock)
        self.open = False
