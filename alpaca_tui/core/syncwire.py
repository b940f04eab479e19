"""A blocking sender for callers without an event loop: the one-shot ``check`` of key pairs.

:class:`SyncWire` is :class:`~alpaca_tui.core.wire.Wire` over ``httpx.Client``, safe to use
from several threads at once: the same attempts (:class:`~alpaca_tui.core.exchange.Attempts`:
the request given what is left of the deadline, 429 retries honouring ``Retry-After`` /
``X-RateLimit-Reset`` when the wait ends in time, the body cap, failures named and redacted),
the same lazy TLS (no TLS context is built for plain-http loopback hosts), no redirects, no
proxy variables.

The deadline (:class:`~alpaca_tui.core.deadline.Deadline`, on ``time.monotonic``) holds as
the engine's ``asyncio.timeout`` does: httpx's per-operation timeouts alone would let a
server that drips a byte now and then, or stalls after its headers, run far past it, so
every socket wait of an exchange (connect, TLS handshake, each read and write) is given no
more than what is left of the deadline of the call running in that thread
(:class:`DeadlineBackend`, httpcore's network backend seam, :meth:`Deadline.clamp
<alpaca_tui.core.deadline.Deadline.clamp>`), and none starts once it has passed. Name
resolution, which no socket timeout bounds, runs in a helper thread that is waited for only
as long.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from alpaca_tui import __version__
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.deadline import Deadline
from alpaca_tui.core.exchange import Attempts, BodyReader, RequestParts, SendPolicy, Sent
from alpaca_tui.core.threads import helper_thread

__all__ = ["DeadlineBackend", "SyncWire"]

# the deadline of the exchange this thread runs (each thread has its own context)
_CURRENT: ContextVar[Deadline | None] = ContextVar("alpaca_tui_sync_deadline", default=None)


@contextmanager
def _bounded(deadline: Deadline) -> Iterator[None]:
    token = _CURRENT.set(deadline)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _within(timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to what is left of this thread's deadline; ``late`` once nothing is."""
    deadline = _CURRENT.get()
    return timeout if deadline is None else deadline.clamp(timeout, late)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by the deadline of the call using it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _within(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, each wait bounded by the calling thread's deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        limit = _within(timeout, httpcore.ConnectTimeout)

        def connect() -> httpcore.NetworkStream:
            return self._inner.connect_tcp(host, port, limit, local_address, socket_options)

        try:
            stream = connect() if _is_address(host) else _in_time(connect, limit)
        except httpcore.ConnectError as exc:
            if isinstance(exc.__cause__, socket.gaierror):
                raise   # the resolver's words (as the engine's)
            # the engine's connect (anyio) says this whatever the addresses tried answered
            raise httpcore.ConnectError("All connection attempts failed") from exc
        return DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _in_time(connect: Callable[[], httpcore.NetworkStream], limit: float | None) -> httpcore.NetworkStream:
    """``connect`` (to a host name: resolved first) in a helper thread, waited for ``limit``
    seconds; a connection made after that is closed by the helper."""
    lock = threading.Lock()
    done, abandoned = threading.Event(), threading.Event()
    outcome: list[httpcore.NetworkStream | Exception] = []

    def run() -> None:
        try:
            result: httpcore.NetworkStream | Exception = connect()
        except Exception as exc:  # handed to the waiting thread
            result = exc
        with lock:
            if not abandoned.is_set():
                outcome.append(result)
        done.set()
        if abandoned.is_set() and isinstance(result, httpcore.NetworkStream):
            result.close()

    helper_thread(run, "alpaca-tui-connect").start()
    done.wait(limit)
    with lock:
        if not outcome:
            abandoned.set()
            raise httpcore.ConnectTimeout("name resolution and connect did not finish in time")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's blocking transport over :class:`DeadlineBackend` (httpx takes no network
    backend, so its pool is replaced by one of the same settings that has it)."""

    def __init__(self, limits: httpx.Limits, *, verify: bool) -> None:
        context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=DeadlineBackend())


class _LazyTLS(httpx.BaseTransport):
    """One :class:`_DeadlineTransport` per scheme, made on first use: the TLS context (CA bundle
    load, ~50 ms) only for https://, plain http:// (loopback only) never negotiates TLS."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._by_tls: dict[bool, _DeadlineTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        tls = request.url.scheme == "https"
        with self._lock:
            transport = self._by_tls.get(tls)
            if transport is None:
                transport = self._by_tls[tls] = _DeadlineTransport(self._limits, verify=tls)
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports, self._by_tls = list(self._by_tls.values()), {}
        for t in transports:
            t.close()


class SyncWire:
    """A blocking HTTP client for many threads (created on first use, closed by :meth:`close`)."""

    def __init__(self, policy: SendPolicy, *, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def __enter__(self) -> SyncWire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.policy.timeout), follow_redirects=False,
                    transport=_LazyTLS(limits), headers={"User-Agent": f"alpaca-tui/{__version__}"},
                    limits=limits)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def send(self, method: str, url: str, *, build: Callable[[], RequestParts], secrets: list[str | None],
             what: str, profile: str, deadline: Deadline | None = None) -> Sent:
        """:meth:`Wire.send <alpaca_tui.core.wire.Wire.send>`, blocking, within ``deadline``
        (default: ``policy.timeout`` from now)."""
        client = self.client()
        budget = deadline or Deadline.after(self.policy.timeout)
        attempts = Attempts(self.policy, method, url, what=what, profile=profile, secrets=secrets,
                            seconds=budget.seconds, clock_time=self._clock.time)
        with _bounded(budget):
            while True:
                request = attempts.request(client, build, budget.left())
                body = attempts.body()
                try:
                    resp = _exchange(client, request, body)
                except (TimeoutError, httpx.HTTPError) as exc:
                    raise attempts.failure(exc) from None
                answer = attempts.answered(resp, body, left=budget.left(), charge_waits=True)
                if isinstance(answer, Sent):
                    return answer
                time.sleep(answer)


def _exchange(client: httpx.Client, request: httpx.Request, body: BodyReader) -> httpx.Response:
    """Send ``request`` and read its (decoded) body into ``body``, up to the cap."""
    resp = client.send(request, stream=True)
    try:
        for chunk in resp.iter_bytes():
            if body.feed(chunk):
                break
        return resp
    finally:
        resp.close()
