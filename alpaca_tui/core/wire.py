"""The wire: one ``httpx.AsyncClient`` per engine, one HTTP exchange at a time.

:class:`Wire` is the only place that talks to the network. Token requests
(:mod:`alpaca_tui.core.auth.endpoint`) and API calls (:mod:`alpaca_tui.core.api`) both go
through :meth:`Wire.send`, which

* builds a fresh request per attempt (a new client assertion, fresh headers),
* keeps to one deadline (:mod:`alpaca_tui.core.deadline`): the call's, or
  ``SendPolicy.timeout`` from now when there is none. Connect, headers, body and the
  429 waits all come out of it; httpx is never given more than what is left, the whole
  exchange runs under ``asyncio.timeout`` (a server dripping one byte a second is cut off
  on time), and a wait the server asks for that would end past the deadline is not
  waited: the 429 is the answer,
* retries a 429 answer up to ``retries`` times, waiting as the server says
  (``Retry-After`` / ``X-RateLimit-Reset``, capped) with the injectable ``sleep``,
* streams the body and stops at a cap (``SendPolicy.max_body``, or per call: 64 KiB for
  the token endpoint): :attr:`Sent.truncated` says when the answer was longer, and at most
  ``keep`` bytes are held (``request --repeat`` keeps statistics, not bodies),
* turns "no answer" into :class:`~alpaca_tui.core.http.ApiError` (``timeout`` or
  ``network_error``, the reason redacted of the credential's secrets).

An injected ``sleep`` (tests on a ``FakeClock``) keeps its own time: its waits are not
charged to the deadline. A streamed exchange (the auth proxy, issue 11) is
``client().send(request, stream=True)`` on the same client.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx

from alpaca_tui import __version__
from alpaca_tui.core import deadline
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.http import ApiError, ErrorCategory, retry_delay
from alpaca_tui.core.redact import redact, scrub

__all__ = ["DEFAULT_MAX_BODY", "MAX_BODY_ENV", "RequestParts", "SendPolicy", "Sent", "Sleep", "Wire",
           "max_body_from_env", "parse_size", "size_text"]

Sleep = Callable[[float], Awaitable[None]]

DEFAULT_MAX_BODY = 4 * 1024 * 1024   # bytes of an API answer read before it counts as too large
MAX_BODY_ENV = "ALPACA_TUI_MAX_BODY"
MAX_BODY_LIMIT = 1 << 30             # a cap of at most 1 GiB
_SIZE = re.compile(r"(\d{1,12})\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class RequestParts(TypedDict, total=False):
    """What varies per request (``httpx.AsyncClient.build_request`` keyword arguments)."""

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


class Wire:
    """The engine's HTTP client (created on first use, closed by :meth:`aclose`)."""

    def __init__(self, policy: SendPolicy, *, clock: Clock, sleep: Sleep | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._charge_waits = sleep is None   # a real sleep spends the deadline; an injected one not
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    def client(self) -> httpx.AsyncClient:
        if self._closed:
            raise AlpacaTuiError("the auth engine is closed")
        if self._client is None:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.policy.timeout), follow_redirects=False,
                transport=self._transport or LazyTLSTransport(limits),
                headers={"User-Agent": f"alpaca-tui/{__version__}"}, limits=limits)
        return self._client

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def send(self, method: str, url: str, *, build: Callable[[], RequestParts],
                   secrets: list[str | None], what: str, profile: str,
                   retries: int | None = None, max_body: int | None = None,
                   keep: int | None = None) -> Sent:
        """Send (``build`` gives fresh request parts per attempt); retry 429 up to ``retries``
        (default ``policy.max_retries``) times, waiting as the server says, within the deadline.

        ``max_body``: bytes read before the answer counts as truncated (default
        ``policy.max_body``); ``keep``: bytes of it held (default all that is read). Raises
        ApiError (network_error / timeout) when no complete answer arrives in time; ``what``
        names the call in that message ("token request for 'bx'", "GET /v2/account").
        """
        client = self.client()
        budget = deadline.left(self.policy.timeout)
        cap = self.policy.max_body if max_body is None else max(0, max_body)
        max_retries = self.policy.max_retries if retries is None else max(0, retries)
        attempt = 0
        while True:
            remaining = budget.left()
            if remaining <= 0:
                raise self._late(what, url, budget, profile)
            parts = build()
            try:
                request = client.build_request(method, url, timeout=httpx.Timeout(remaining), **parts)
            except (httpx.InvalidURL, UnicodeEncodeError) as exc:  # checked at the door; never sent
                raise UsageError(f"{what}: the request cannot be sent: {type(exc).__name__}") from None
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(remaining):
                    resp, content, truncated = await _exchange(client, request, cap, keep)
            except (TimeoutError, httpx.TimeoutException):
                raise self._late(what, url, budget, profile) from None
            except httpx.HTTPError as exc:
                raise ApiError(ErrorCategory.NETWORK_ERROR, f"{what}: {net_reason(exc, secrets)} "
                               f"({origin(url)})", profile=profile) from None
            latency = (time.perf_counter() - t0) * 1000.0
            attempt += 1
            if resp.status_code == 429 and attempt <= max_retries:
                wait = retry_delay(resp.headers, self._clock.time(), attempt=attempt - 1,
                                   max_wait=self.policy.max_retry_wait)
                if not self._charge_waits or wait < budget.left():
                    await self._sleep(wait)
                    continue
            return Sent(resp, latency, attempt, content, truncated, cap)

    @staticmethod
    def _late(what: str, url: str, budget: deadline.Budget, profile: str) -> ApiError:
        return ApiError(ErrorCategory.TIMEOUT, f"{what}: no complete answer from {origin(url)} within "
                        f"{budget.seconds:g} s", profile=profile)


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, cap: int,
                    keep: int | None) -> tuple[httpx.Response, bytes, bool]:
    """Send ``request``, read at most ``cap`` bytes of the (decoded) body, hold ``keep`` of them."""
    hold = cap if keep is None else min(cap, max(0, keep))
    resp = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        held = read = 0
        truncated = False
        async for chunk in resp.aiter_bytes():
            if held < hold:
                piece = chunk[: hold - held]
                chunks.append(piece)
                held += len(piece)
            read += len(chunk)
            if read > cap:
                truncated = True
                break
        return resp, b"".join(chunks), truncated
    finally:
        await resp.aclose()


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


class LazyTLSTransport(httpx.AsyncBaseTransport):
    """httpx's transport, but the TLS context (CA bundle load, ~50 ms) is only built on the
    first https:// request: plain-HTTP loopback calls (the emulator) never pay for it.
    Certificate verification for https:// is httpx's default (verify=True)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._https: httpx.AsyncHTTPTransport | None = None
        self._http: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._https is None:
                self._https = httpx.AsyncHTTPTransport(limits=self._limits)
            return await self._https.handle_async_request(request)
        if self._http is None:
            # plain http:// (validate_url allows it for loopback only): no TLS is ever negotiated
            self._http = httpx.AsyncHTTPTransport(limits=self._limits, verify=False)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        for t in (self._https, self._http):
            if t is not None:
                await t.aclose()
        self._https = self._http = None


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
