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
``client().send(request, stream=True)`` on the same client. The attempts' pieces (request,
failure, 429 decision, body cap) are :mod:`alpaca_tui.core.exchange`'s, shared with the
thread-based :class:`~alpaca_tui.core.syncwire.SyncWire`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from alpaca_tui import __version__
from alpaca_tui.core import deadline
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.exchange import (
    DEFAULT_MAX_BODY,
    MAX_BODY_ENV,
    Attempts,
    BodyReader,
    RequestParts,
    SendPolicy,
    Sent,
    max_body_from_env,
    net_reason,
    origin,
    parse_size,
    size_text,
)

__all__ = ["DEFAULT_MAX_BODY", "MAX_BODY_ENV", "RequestParts", "SendPolicy", "Sent", "Sleep", "Wire",
           "max_body_from_env", "net_reason", "origin", "parse_size", "size_text"]

Sleep = Callable[[float], Awaitable[None]]


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
        attempts = Attempts(self.policy, method, url, what=what, profile=profile, secrets=secrets,
                            seconds=budget.seconds, clock_time=self._clock.time, retries=retries,
                            max_body=max_body, keep=keep)
        while True:
            remaining = budget.left()
            request = attempts.request(client, build, remaining)
            body = attempts.body()
            try:
                async with asyncio.timeout(remaining):
                    resp = await _exchange(client, request, body)
            except (TimeoutError, httpx.HTTPError) as exc:
                raise attempts.failure(exc) from None
            answer = attempts.answered(resp, body, left=budget.left(), charge_waits=self._charge_waits)
            if isinstance(answer, Sent):
                return answer
            await self._sleep(answer)


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, body: BodyReader) -> httpx.Response:
    """Send ``request`` and read its (decoded) body into ``body``, up to the cap."""
    resp = await client.send(request, stream=True)
    try:
        async for chunk in resp.aiter_bytes():
            if body.feed(chunk):
                break
        return resp
    finally:
        await resp.aclose()


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

