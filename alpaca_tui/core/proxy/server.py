"""One proxy run for one credential: a loopback port per API, the placeholder, the audit log.

Ports (one per API role, in this order; ``port=N`` gives the first N, the next N + 1):

====================  ===============  ===================================================
profile               port             serves
====================  ===============  ===================================================
live, paper           trading          Trading API; WebSocket ``/stream`` (trade updates)
                      data             Market Data API; its WebSocket streams (``/v2/{feed}``,
                                       ``/v1beta3/crypto/us``, ...) relayed to the stream host
broker-*              broker           Broker API (SSE event streams stream through)
                      data             as above
====================  ===============  ===================================================

One port per API, not path prefixes, because the clients build their URLs from a base:
alpaca-trade-api appends ``/stream`` to ``APCA_API_BASE_URL`` for trade updates and
``/v2/{feed}`` to ``APCA_API_STREAM_URL``; alpaca-py's ``url_override`` is a bare origin for
REST clients (it appends ``/v2/...`` itself) and the full ``ws://.../v2/iex`` URL for a
stream. So ``APCA_API_STREAM_URL`` is the data port too: the stream host's paths are the
WebSocket requests on it.

The upstream of each port is the profile's own host for that API (read again for every
request, so an endpoint edit is followed); the stream upstream is derived from the data host
(:func:`~alpaca_tui.core.clientenv.stream_base`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from alpaca_tui.core.clientenv import ClientAuth, ClientTargets, client_environment, stream_base, ws_url
from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api, apis_for, resolve_endpoints
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.proxy.audit import AuditLog
from alpaca_tui.core.proxy.forward import Forwarder, ProxyStats, Record
from alpaca_tui.core.proxy.http1 import Answer, Incoming, serve_connection
from alpaca_tui.core.proxy.placeholder import Placeholder, new_placeholder
from alpaca_tui.core.proxy.relay import Relay
from alpaca_tui.core.proxy.status import ProxyStatus, remove_status, write_status
from alpaca_tui.core.proxy.upstream import UpstreamPool

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine

__all__ = ["LOOPBACK", "ProxyServer"]

LOOPBACK = ("127.0.0.1", "::1")
STATUS_INTERVAL = 2.0


class ProxyServer:
    """The proxy for credential ``name`` of ``engine`` (see the module doc).

    ``home``: where the audit log and the status file go (None: neither, e.g. a bench).
    """

    def __init__(self, engine: Engine, name: str, *, host: str = "127.0.0.1", port: int = 0,
                 allow_live_writes: bool = False, home: Path | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if host not in LOOPBACK:
            raise UsageError(f"the proxy binds loopback only ({', '.join(LOOPBACK)}), not {host!r}")
        if port and not 1024 <= port <= 65000:
            raise UsageError("--port must be between 1024 and 65000")
        self.engine = engine
        self.name = name
        self.host = host
        self.port = port
        self.allow_live_writes = allow_live_writes
        self.home = home
        self.clock = clock
        self.stats = ProxyStats()
        self.started_at = 0.0
        self.profile: Profile | None = None
        self.placeholder: Placeholder | None = None
        self.urls: dict[Api, str] = {}
        self.audit: AuditLog | None = AuditLog(home, name, clock=clock) if home is not None else None
        self.pool = UpstreamPool()
        self._servers: list[asyncio.Server] = []
        self._conns: set[asyncio.Task[None]] = set()
        self._status_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> ProxyServer:
        """Load the credential, make the placeholder, listen on a port per API."""
        profile = await self.engine.profile(self.name)
        self.profile = profile
        placeholder = self.placeholder = new_placeholder(profile.env)
        forwarder = Forwarder(self.engine, self.name, placeholder, clock=self.clock,
                              allow_live_writes=self.allow_live_writes, stats=self.stats, audit=self._record,
                              pool=self.pool)
        relay = Relay(self.engine, self.name, placeholder, clock=self.clock, stats=self.stats,
                      audit=self._record)
        try:
            for i, api in enumerate(apis_for(profile.env)):
                server = await asyncio.start_server(self._on_connection(api, forwarder, relay), self.host,
                                                    self.port + i if self.port else 0)
                self._servers.append(server)
                port = server.sockets[0].getsockname()[1]
                host = f"[{self.host}]" if ":" in self.host else self.host
                self.urls[api] = f"http://{host}:{port}"
        except OSError as exc:
            await self.aclose()
            raise AlpacaTuiError(f"cannot listen on {self.host}: {exc.strerror or exc}") from None
        self.started_at = self.clock.time()
        if self.audit is not None:
            self.audit.start()
        if self.home is not None:
            self._status_task = asyncio.ensure_future(self._heartbeat())
        return self

    async def aclose(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        await self.pool.aclose()
        if self._status_task is not None:
            self._status_task.cancel()
            await asyncio.gather(self._status_task, return_exceptions=True)
            self._status_task = None
        if self.audit is not None:
            await self.audit.aclose()
        if self.home is not None:
            remove_status(self.home, self.status().key)

    async def __aenter__(self) -> ProxyServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- what a child gets ---------------------------------------------------------------
    def targets(self) -> ClientTargets:
        data = self.urls.get(Api.DATA)
        return ClientTargets(trading=self.urls.get(Api.TRADING), data=data, stream=data,
                             broker=self.urls.get(Api.BROKER))

    def child_environment(self) -> dict[str, str]:
        """The variables for a child: the proxy's URLs and the placeholder pair, nothing real."""
        assert self.profile is not None and self.placeholder is not None, "start() first"
        auth = ClientAuth(key_id=self.placeholder.key_id, secret=self.placeholder.secret)
        return client_environment(self.profile, self.targets(), auth, now=self.clock.time(), proxied=True)

    # -- serving -------------------------------------------------------------------------
    def _on_connection(self, api: Api, forwarder: Forwarder, relay: Relay) -> Callable[
            [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(req: Incoming) -> Answer:
            return await forwarder.handle(api, req)

        async def upgrade(req: Incoming, raw: bytes, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
            await relay.serve(api, await self._stream_upstream(api), req, raw, reader, writer)

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._conns.add(task)
            try:
                await serve_connection(reader, writer, handle, upgrade)
            except asyncio.CancelledError:
                pass  # the proxy is stopping: this connection ends with it
            finally:
                if task is not None:
                    self._conns.discard(task)

        return on_connection

    async def _stream_upstream(self, api: Api) -> str:
        """The ws(s):// base a WebSocket on ``api``'s port is relayed to."""
        profile = await self.engine.profile(self.name)
        hosts = resolve_endpoints(profile.env, profile.endpoints)
        if api is Api.DATA:
            return ws_url(stream_base(hosts[Api.DATA]) or hosts[Api.DATA])
        return ws_url(hosts.get(api, ""))

    def _record(self, rec: Record) -> None:
        if self.audit is not None:
            self.audit.record(rec)

    # -- status --------------------------------------------------------------------------
    def status(self) -> ProxyStatus:
        st = self.stats
        tok = self.engine.token_state(self.name)
        token = None
        if tok is not None and tok.expires_at is not None:
            token = {"expires_at": tok.expires_at, "issued_at": tok.issued_at,
                     "refresh_count": tok.refresh_count, "token_requests": tok.token_requests,
                     "last_error": tok.last_error}
        env = self.profile.env.value if self.profile is not None else ""
        return ProxyStatus(pid=os.getpid(), profile=self.name, env=env, started_at=self.started_at,
                           updated_at=self.clock.time(), urls={a.value: u for a, u in self.urls.items()},
                           requests=st.requests, forwarded=st.forwarded, refused=st.refused,
                           bytes_out=st.bytes_out, streams_open=st.streams_open,
                           allow_live_writes=self.allow_live_writes, token=token)

    async def _heartbeat(self) -> None:
        assert self.home is not None
        while True:
            with contextlib.suppress(OSError, AlpacaTuiError):
                await asyncio.to_thread(write_status, self.home, self.status())
            await asyncio.sleep(STATUS_INTERVAL)
