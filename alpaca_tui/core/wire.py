"""The wire: one ``httpx.AsyncClient`` per engine, one HTTP exchange at a time.

:class:`Wire` is the only place that talks to the network. Token requests
(:mod:`alpaca_tui.core.auth.endpoint`) and API calls (:mod:`alpaca_tui.core.api`) both go
through :meth:`Wire.send`, which

* builds a fresh request per attempt (a new client assertion, fresh headers),
* retries a 429 answer up to ``retries`` times, waiting as the server says
  (``Retry-After`` / ``X-RateLimit-Reset``, capped) with the injectable ``sleep``,
* turns "no answer" into :class:`~alpaca_tui.core.http.ApiError` (``timeout`` or
  ``network_error``, the reason redacted of the credential's secrets).

It is also the place for what issue 12 asks of every call: one overall deadline covering
connect, body read and the retries (today each phase has ``SendPolicy.timeout``), and a
body-size cap (today httpx reads the whole body). Both belong in :meth:`Wire.send`, the
single loop that waits and reads. A streamed exchange (the auth proxy, issue 11) is
``client().send(request, stream=True)`` on the same client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx

from alpaca_tui import __version__
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.http import ApiError, ErrorCategory, retry_delay
from alpaca_tui.core.redact import redact, scrub

__all__ = ["RequestParts", "SendPolicy", "Sent", "Sleep", "Wire"]

Sleep = Callable[[float], Awaitable[None]]


class RequestParts(TypedDict, total=False):
    """What varies per request (``httpx.AsyncClient.build_request`` keyword arguments)."""

    headers: dict[str, str]
    params: dict[str, str]
    data: dict[str, str]          # a form (the token request)
    json: Any                     # a JSON value (API request bodies)


@dataclass(frozen=True)
class SendPolicy:
    """How long one attempt may wait, and how 429 answers are retried."""

    timeout: float = 10.0         # httpx timeout per phase (connect, read, write, pool)
    max_retries: int = 3          # 429 retries per call
    max_retry_wait: float = 60.0  # cap on one wait the server asks for


@dataclass(frozen=True)
class Sent:
    """An answer: the response (body read), the last attempt's latency, the attempts made."""

    response: httpx.Response
    latency_ms: float
    attempts: int


class Wire:
    """The engine's HTTP client (created on first use, closed by :meth:`aclose`)."""

    def __init__(self, policy: SendPolicy, *, clock: Clock, sleep: Sleep | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
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
                   retries: int | None = None) -> Sent:
        """Send (``build`` gives fresh request parts per attempt); retry 429 up to ``retries``
        (default ``policy.max_retries``) times, waiting as the server says.

        Raises ApiError (network_error / timeout) when no response arrives; ``what`` names
        the call in that message ("token request for 'bx'", "GET /v2/account").
        """
        client = self.client()
        max_retries = self.policy.max_retries if retries is None else max(0, retries)
        attempt = 0
        while True:
            parts = build()
            t0 = time.perf_counter()
            try:
                resp = await client.send(client.build_request(method, url, **parts))
            except httpx.TimeoutException as exc:
                raise ApiError(ErrorCategory.TIMEOUT,
                               f"{what}: no answer from {origin(url)} within {self.policy.timeout:g} s "
                               f"({type(exc).__name__})", profile=profile) from None
            except httpx.HTTPError as exc:
                raise ApiError(ErrorCategory.NETWORK_ERROR, f"{what}: {net_reason(exc, secrets)} "
                               f"({origin(url)})", profile=profile) from None
            latency = (time.perf_counter() - t0) * 1000.0
            attempt += 1
            if resp.status_code == 429 and attempt <= max_retries:
                await self._sleep(retry_delay(resp.headers, self._clock.time(), attempt=attempt - 1,
                                              max_wait=self.policy.max_retry_wait))
                continue
            return Sent(resp, latency, attempt)


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
