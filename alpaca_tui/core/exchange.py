"""The parts of one HTTP send that do not depend on how it waits (asyncio or threads).

:class:`~alpaca_tui.core.wire.Wire` (``httpx.AsyncClient``, the engine) and
:class:`~alpaca_tui.core.syncwire.SyncWire` (``httpx.Client``, a one-shot ``check`` of key
pairs) are the same loop over these pieces: :class:`Attempts` builds each attempt's request
with what is left of the deadline, names a failed exchange (``timeout`` or
``network_error``, the reason redacted) and decides whether a 429 is waited for and retried;
:class:`BodyReader` reads an answer up to the body cap. No asyncio here (``check`` of key
pairs must not pay for importing it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx

from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.http import ApiError, ErrorCategory, retry_delay
from alpaca_tui.core.redact import redact, scrub

__all__ = ["DEFAULT_MAX_BODY", "MAX_BODY_ENV", "Attempts", "BodyReader", "RequestParts", "SendPolicy",
           "Sent", "max_body_from_env", "net_reason", "origin", "parse_size", "size_text"]

DEFAULT_MAX_BODY = 4 * 1024 * 1024   # bytes of an API answer read before it counts as too large
MAX_BODY_ENV = "ALPACA_TUI_MAX_BODY"
MAX_BODY_LIMIT = 1 << 30             # a cap of at most 1 GiB
_SIZE = re.compile(r"(\d{1,12})\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class RequestParts(TypedDict, total=False):
    """What varies per request (``httpx`` ``build_request`` keyword arguments)."""

    headers: dict[str, str]
    params: dict[str, str]
    data: dict[str, str]          # a form (the token request)
    json: Any                     # a JSON value (API request bodies)


@dataclass(frozen=True)
class SendPolicy:
    """How long a call may take, how 429 answers are retried, how much of a body is read."""

    timeout: float = 10.0         # the deadline of one send when the call set none
    max_retries: int = 3          # 429 retries per call
    max_retry_wait: float = 60.0  # cap on one wait the server asks for
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class Sent:
    """An answer: the response (status and headers; its body is :attr:`content`), the last
    attempt's latency, the attempts made, and whether the body went past the cap."""

    response: httpx.Response
    latency_ms: float
    attempts: int
    content: bytes = b""
    truncated: bool = False       # the body was longer than the cap; content holds its start
    cap: int = DEFAULT_MAX_BODY

    @property
    def text(self) -> str:
        return self.content.decode(self.response.encoding or "utf-8", "replace")


class BodyReader:
    """An answer's (decoded) body, read chunk by chunk up to ``cap`` bytes, ``keep`` of them held."""

    def __init__(self, cap: int, keep: int | None) -> None:
        self.cap = cap
        self._hold = cap if keep is None else min(cap, max(0, keep))
        self._chunks: list[bytes] = []
        self._held = self._read = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk; True once the body is past the cap (stop reading)."""
        if self._held < self._hold:
            piece = chunk[: self._hold - self._held]
            self._chunks.append(piece)
            self._held += len(piece)
        self._read += len(chunk)
        self.truncated = self._read > self.cap
        return self.truncated

    @property
    def content(self) -> bytes:
        return b"".join(self._chunks)


class Attempts:
    """One send's attempts: their requests, their failures, the 429 retries (see the module doc).

    ``seconds`` is the whole deadline (for messages); ``clock_time`` the clock 429 reset
    times are read against (the engine's injectable clock)."""

    def __init__(self, policy: SendPolicy, method: str, url: str, *, what: str, profile: str,
                 secrets: list[str | None], seconds: float, clock_time: Callable[[], float],
                 retries: int | None = None, max_body: int | None = None, keep: int | None = None) -> None:
        self.policy = policy
        self.method, self.url, self.what, self.profile = method, url, what, profile
        self._secrets = secrets
        self._seconds = seconds
        self._clock_time = clock_time
        self.cap = policy.max_body if max_body is None else max(0, max_body)
        self._keep = keep
        self._max_retries = policy.max_retries if retries is None else max(0, retries)
        self.made = 0
        self._started = 0.0

    def request(self, client: httpx.Client | httpx.AsyncClient, build: Callable[[], RequestParts],
                remaining: float) -> httpx.Request:
        """The next attempt's request (``build`` gives fresh parts), given no more than
        ``remaining`` seconds (ApiError timeout when nothing is left; UsageError when it cannot
        be sent at all)."""
        if remaining <= 0:
            raise self.late()
        parts = build()
        try:
            request = client.build_request(self.method, self.url, timeout=httpx.Timeout(remaining), **parts)
        except (httpx.InvalidURL, UnicodeEncodeError) as exc:  # checked at the door; never sent
            raise UsageError(f"{self.what}: the request cannot be sent: {type(exc).__name__}") from None
        self._started = time.perf_counter()
        return request

    def body(self) -> BodyReader:
        return BodyReader(self.cap, self._keep)

    def failure(self, exc: TimeoutError | httpx.HTTPError) -> ApiError:
        """No answer: the deadline passed (``timeout``), or the network failed (``network_error``)."""
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return self.late()
        return ApiError(ErrorCategory.NETWORK_ERROR, f"{self.what}: {net_reason(exc, self._secrets)} "
                        f"({origin(self.url)})", profile=self.profile)

    def late(self) -> ApiError:
        return ApiError(ErrorCategory.TIMEOUT, f"{self.what}: no complete answer from {origin(self.url)} "
                        f"within {self._seconds:g} s", profile=self.profile)

    def answered(self, response: httpx.Response, body: BodyReader, *, left: float,
                 charge_waits: bool) -> Sent | float:
        """The attempt's answer (:class:`Sent`), or the seconds to wait before retrying a 429
        (only when the wait ends within the deadline, ``left`` seconds away, unless waits are
        not charged to it)."""
        latency = (time.perf_counter() - self._started) * 1000.0
        self.made += 1
        if response.status_code == 429 and self.made <= self._max_retries:
            wait = retry_delay(response.headers, self._clock_time(), attempt=self.made - 1,
                               max_wait=self.policy.max_retry_wait)
            if not charge_waits or wait < left:
                return wait
        return Sent(response, latency, self.made, body.content, body.truncated, self.cap)


def parse_size(spec: str) -> int:
    """'4M', '512KiB', '1048576' -> bytes (binary units; 1 KiB to 1 GiB). UsageError otherwise."""
    m = _SIZE.fullmatch(spec.strip())
    if m is None:
        raise UsageError(f"invalid size {spec[:40]!r} (use e.g. 512K, 4M, 64M or a number of bytes)")
    n = int(m.group(1)) * _SIZE_UNITS[m.group(2)[:1].lower()]
    if not 1024 <= n <= MAX_BODY_LIMIT:
        raise UsageError(f"size {spec[:40]!r} is out of range (1K to 1G)")
    return n


def max_body_from_env() -> int:
    """The API body cap from ``$ALPACA_TUI_MAX_BODY``, or :data:`DEFAULT_MAX_BODY`."""
    import os

    env = os.environ.get(MAX_BODY_ENV)
    if not env:
        return DEFAULT_MAX_BODY
    try:
        return parse_size(env)
    except UsageError as exc:
        raise UsageError(f"{MAX_BODY_ENV}: {exc.message}") from None


def size_text(n: int) -> str:
    """``4 MiB``, ``64 KiB``, ``512 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def origin(url: str) -> str:
    """``host:port`` of a URL for messages ("?" when it cannot be parsed)."""
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "?"
    port = f":{u.port}" if u.port else ""
    return f"{u.host}{port}"


def net_reason(exc: httpx.HTTPError, secrets: list[str | None]) -> str:
    """A short, redacted reason for a failed exchange ("connection failed: ...")."""
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.RemoteProtocolError: "connection dropped by the server",
        httpx.ReadError: "connection dropped while reading",
        httpx.WriteError: "connection dropped while sending",
        httpx.ProxyError: "proxy error",
        httpx.UnsupportedProtocol: "unsupported URL scheme",
    }
    label = next((v for k, v in kind.items() if isinstance(exc, k)), "network error")
    detail = " ".join(scrub(redact(str(exc), secrets)).split())[:120]
    return f"{label}: {detail}" if detail else label
