"""One proxied HTTP request: check, authenticate upstream, forward, stream the answer back.

For each request on an API port (:meth:`Forwarder.handle`):

1. the placeholder must be presented (APCA headers, Basic or Bearer; constant-time), else 401
   and nothing is sent;
2. :func:`.guard.check`: expiry, scope matrix, live-write guard, else 403 and nothing is sent;
3. the request goes upstream with the method, path, query and body as sent; hop-by-hop headers,
   ``Host`` and every credential header are dropped, the engine's auth headers added
   (:meth:`Engine.authorize <alpaca_tui.core.engine.Engine.authorize>`: the key pair, or a
   token refreshed ahead of expiry with single flight) over :mod:`.upstream` (keep-alive
   HTTP/1.1); no redirect is followed;
4. an OAuth 401 is retried once with the refused token passed back (one forced refresh
   shared by every caller refused the same token);
5. the answer is streamed back chunk by chunk, bytes unchanged (``Content-Encoding`` too),
   without hop-by-hop headers; the audit line is written when the body is done.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.auth.signing import UpstreamAuth
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api, resolve_endpoints
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.pathscopes import normalize_path
from alpaca_tui.core.proxy import guard
from alpaca_tui.core.proxy.http1 import Answer, BodyAborted, Incoming, json_answer
from alpaca_tui.core.proxy.placeholder import AUTH_HEADERS, Placeholder
from alpaca_tui.core.proxy.upstream import UpstreamError, UpstreamPool, UpstreamResponse
from alpaca_tui.core.wire import origin

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine

__all__ = ["HOP_BY_HOP", "Forwarder", "ProxyStats", "Record", "hop_by_hop"]

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"trailers", b"transfer-encoding",
                        b"upgrade"})
READ_TIMEOUT = 120.0         # a non-streaming answer must come within this
SMALL_BODY = 256 * 1024
_SSE = b"text/event-stream"


@dataclass
class ProxyStats:
    """Counters one proxy run shows (the TUI, ``proxy --json`` status, the bench)."""

    requests: int = 0            # HTTP requests and stream connections received
    forwarded: int = 0           # ... sent upstream
    refused: int = 0             # ... answered locally (401 / 403 / 413 / 502 ...)
    bytes_out: int = 0           # body bytes sent back to clients
    streams_open: int = 0        # WebSocket relays open now
    last_at: float | None = None


@dataclass
class Record:
    """One audit line (never a body, a header value, a secret or a token)."""

    method: str
    path: str
    api: str
    status: int = 0
    decision: str = "ok"
    scope: str | None = None
    ms: float = 0.0
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Record], None]


def hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The hop-by-hop header names of a message: the fixed set plus those its ``Connection``
    header lists (lower-case)."""
    named = {t.strip().lower() for k, v in headers if k.lower() == b"connection" for t in v.split(b",")}
    return HOP_BY_HOP | frozenset(n for n in named if n)


class Forwarder:
    """The request pipeline of one proxy run (module doc)."""

    def __init__(self, engine: Engine, name: str, placeholder: Placeholder, *, clock: Clock,
                 allow_live_writes: bool, stats: ProxyStats, audit: Sink, pool: UpstreamPool) -> None:
        self.engine = engine
        self.pool = pool
        self.name = name
        self.placeholder = placeholder
        self.clock = clock
        self.allow_live_writes = allow_live_writes
        self.stats = stats
        self.audit = audit

    async def handle(self, api: Api, req: Incoming) -> Answer:
        t0 = time.perf_counter()
        self.stats.requests += 1
        self.stats.last_at = self.clock.time()
        path = normalize_path(req.path)
        rec = Record(req.method, path, api.value)
        if not req.target.startswith("/") or req.target.startswith("//"):
            return self._local(rec, t0, 400, 40010000, "alpaca-tui proxy: send origin-form paths "
                               "(/v2/account), this is not a forward proxy", "bad-request")
        if not self.placeholder.presented_in(req.headers):
            denied = guard.unauthorized()
            return self._local(rec, t0, denied.status, denied.code, denied.message, denied.decision)
        base = ""
        try:
            profile = await self.engine.profile(self.name)
            rec.scope = guard.scope_label(profile, api, req.method, path)
            refusal = guard.check(profile, api, req.method, path, now=self.clock.now(),
                                  allow_live_writes=self.allow_live_writes)
            if refusal is not None:
                return self._local(rec, t0, refusal.status, refusal.code, refusal.message, refusal.decision)
            base = resolve_endpoints(profile.env, profile.endpoints)[api]
            resp = await self._exchange(profile, base + req.target, req)
        except ApiError as exc:
            status, code = _token_failure(exc)
            return self._local(rec, t0, status, code, f"alpaca-tui proxy: {exc.message}", "token-error",
                               retry_after=exc.retry_after)
        except AlpacaTuiError as exc:   # the profile is gone from the store, the store is locked ...
            return self._local(rec, t0, 502, 50210000, f"alpaca-tui proxy: {exc.message}", "error")
        except UpstreamError as exc:
            status, code = (504, 50410000) if exc.kind == "timeout" else (502, 50210000)
            return self._local(rec, t0, status, code, f"alpaca-tui proxy: {exc} ({origin(base)})",
                               "upstream-error")
        self.stats.forwarded += 1
        rec.status = resp.status
        rec.ms = (time.perf_counter() - t0) * 1000.0
        drop = hop_by_hop(resp.headers)
        headers = [(k, v) for k, v in resp.headers if k.lower() not in drop]
        done = lambda n, ok: self._done(rec, n, ok)  # noqa: E731
        if _small(resp):
            try:   # a small answer of known size goes out in one write
                body = await resp.read()
            except UpstreamError as exc:
                return self._local(rec, t0, 502, 50210000, f"alpaca-tui proxy: {exc}", "upstream-error")
            finally:
                await resp.aclose()
            return Answer(resp.status, headers, body, done=done)
        return Answer(resp.status, headers, _body(resp), done=done)

    async def _exchange(self, profile: Profile, url: str, req: Incoming) -> UpstreamResponse:
        """Send upstream with the credential's auth; an OAuth 401 is retried once."""
        drop = hop_by_hop(req.headers) | AUTH_HEADERS | {b"host", b"content-length"}
        headers = [(k, v) for k, v in req.headers if k not in drop]
        if req.header(b"accept-encoding") is None:
            headers.append((b"accept-encoding", b"identity"))  # no compression the client did not ask for
        if req.header(b"user-agent") is None:
            headers.append((b"user-agent", b"alpaca-tui-proxy"))
        streaming = _SSE in (req.header(b"accept") or b"") or "/events" in req.path
        timeout = None if streaming else READ_TIMEOUT
        auth: UpstreamAuth | None = None
        for attempt in (0, 1):
            auth = await self.engine.authorize(self.name, refused=auth if attempt else None)
            sent = headers + [(k.lower().encode(), v.encode()) for k, v in auth.headers.items()]
            resp = await self.pool.request(req.method, url, sent, req.body, read_timeout=timeout)
            if resp.status != 401 or not profile.flow.is_oauth or attempt:
                return resp
            await resp.read()        # drain it, so the connection is reused
            await resp.aclose()
        raise AssertionError("not reached")

    def _local(self, rec: Record, t0: float, status: int, code: int, message: str, decision: str, *,
               retry_after: float | None = None) -> Answer:
        """An answer made here (nothing, or nothing more, went upstream)."""
        self.stats.refused += 1
        rec.status, rec.decision = status, decision
        rec.ms = (time.perf_counter() - t0) * 1000.0
        extra = [(b"retry-after", str(max(1, int(retry_after + 0.999))).encode())] if retry_after else []
        return json_answer(status, {"code": code, "message": message}, extra,
                           done=lambda n, ok: self._done(rec, n, ok))

    def _done(self, rec: Record, sent: int, complete: bool) -> None:
        rec.bytes = sent
        self.stats.bytes_out += sent
        if not complete:
            rec.extra["incomplete"] = True
        self.audit(rec)


def _small(resp: UpstreamResponse) -> bool:
    """A sized answer under 256 KiB that is not an event stream: read whole, sent at once.
    Anything else (SSE, chunked, large) is streamed chunk by chunk as it arrives."""
    length = resp.header(b"content-length") or b""
    ctype = resp.header(b"content-type") or b""
    return length.isdigit() and int(length) <= SMALL_BODY and not ctype.startswith(_SSE)


async def _body(resp: UpstreamResponse) -> AsyncIterator[bytes]:
    """The upstream body as it arrives (bytes as sent); a broken upstream aborts the answer."""
    try:
        async for chunk in resp.chunks():
            yield chunk
    except UpstreamError:
        raise BodyAborted() from None
    finally:
        await resp.aclose()


def _token_failure(exc: ApiError) -> tuple[int, int]:
    """(HTTP status, Alpaca code) for a failed token request or other refusal with no answer."""
    cat = exc.category
    if cat in (ErrorCategory.BAD_CREDENTIALS, ErrorCategory.WRONG_ENVIRONMENT):
        return 401, 40110000
    if cat in (ErrorCategory.EXPIRED_CREDENTIAL, ErrorCategory.FORBIDDEN_SCOPE, ErrorCategory.FORBIDDEN):
        return 403, 40310000
    if cat is ErrorCategory.RATE_LIMITED:
        return 429, 42910000
    if cat is ErrorCategory.TIMEOUT:
        return 504, 50410000
    return 502, 50210000
