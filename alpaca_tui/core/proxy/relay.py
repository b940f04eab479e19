"""The WebSocket relay: Alpaca's streams through the proxy, with the placeholder in the client's
auth message replaced by the real credential.

Two protocols (the facts: alpaca-auth.md §1, "Market-data stream protocol" and "Trade-updates
stream protocol"):

* **Market data** (the data port; upstream the stream host at the same path: ``/v2/{feed}``,
  ``/v1beta3/crypto/us``, ...). The proxy greets the client itself (``[{"T":"success",
  "msg":"connected"}]``), waits (10 s) for ``{"action":"auth","key":K,"secret":S}``, checks
  the placeholder and the scope matrix, and only then connects upstream, swallows the
  upstream's greeting and authenticates with the real key pair, or for an OAuth broker
  credential with ``{"action":"auth","key":"access_token","secret":TOKEN}`` (the form
  Alpaca's market-data docs give for AuthX tokens; UNCONFIRMED against the live service:
  nobody here could try it). JSON or msgpack frames, as the client asked with
  ``Content-Type: application/msgpack``.
* **Trade updates** (the trading port, ``/stream``; upstream the trading host's ``/stream``):
  the client's first message is ``{"action":"authenticate","data":{"key_id":K,"secret_key":S}}``
  (or ``{"action":"auth","key":K,"secret":S}``); the same form goes upstream with the real
  pair. Broker credentials have no trade-updates stream (they have the SSE event streams), so
  an OAuth token is never sent on one: that combination is UNCONFIRMED at Alpaca and refused.

Nothing reaches the upstream before the placeholder checked out; after that, frames go both
ways unchanged, except that a second auth message from the client is answered locally (it
would carry the placeholder upstream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from alpaca_tui.core.clock import Clock
from alpaca_tui.core.environments import Api
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.pathscopes import normalize_path
from alpaca_tui.core.proxy import guard
from alpaca_tui.core.proxy.forward import ProxyStats, Record
from alpaca_tui.core.proxy.http1 import Incoming
from alpaca_tui.core.proxy.placeholder import Placeholder
from alpaca_tui.core.proxy.wsio import Message, WsError, WsPeer, refuse_handshake

if TYPE_CHECKING:
    from alpaca_tui.core.engine import Engine

__all__ = ["AUTH_TIMEOUT", "Relay", "stream_kind"]

AUTH_TIMEOUT = 10.0   # the market-data stream's own limit for the auth message
TRADE, MARKET = "trade_updates", "market_data"


def stream_kind(api: Api, path: str) -> str | None:
    """Which stream a WebSocket path on an API port is (None: no stream there)."""
    if api is Api.TRADING and normalize_path(path) == "/stream":
        return TRADE
    if api is Api.DATA:
        return MARKET
    return None


@dataclass
class _Wire:
    """How one client speaks: msgpack (market data, when asked for) or JSON."""

    msgpack: bool = False
    text: bool = True

    def decode(self, msg: Message) -> Any:
        try:
            if self.msgpack and not msg.text:
                return msgpack.unpackb(msg.data)
            return json.loads(msg.data)
        except (ValueError, TypeError, msgpack.UnpackException):
            return None

    def encode(self, obj: Any) -> Message:
        if self.msgpack:
            return Message(False, msgpack.packb(obj))
        return Message(self.text, json.dumps(obj, separators=(",", ":")).encode())


def _md_error(code: int, msg: str) -> list[dict[str, Any]]:
    return [{"T": "error", "code": code, "msg": msg}]


_UNAUTHORIZED = {"stream": "authorization", "data": {"action": "authenticate", "status": "unauthorized"}}


def _trade_pair(obj: Any) -> tuple[str, str | None, str | None] | None:
    """(form, key, secret) of a trade-updates auth message, or None when it is not one."""
    if not isinstance(obj, dict):
        return None
    if obj.get("action") == "authenticate" and isinstance(obj.get("data"), dict):
        data = obj["data"]
        return "authenticate", _str(data.get("key_id")), _str(data.get("secret_key"))
    if obj.get("action") == "auth":
        return "auth", _str(obj.get("key")), _str(obj.get("secret"))
    return None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


class Relay:
    """The stream relay of one proxy run (module doc)."""

    def __init__(self, engine: Engine, name: str, placeholder: Placeholder, *, clock: Clock,
                 stats: ProxyStats, audit: Callable[[Record], None]) -> None:
        self.engine = engine
        self.name = name
        self.placeholder = placeholder
        self.clock = clock
        self.stats = stats
        self.audit = audit

    async def serve(self, api: Api, upstream: str, req: Incoming, raw: bytes,
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client WebSocket on ``api``'s port; ``upstream`` is the ws(s):// base to relay to."""
        t0 = time.perf_counter()
        self.stats.requests += 1
        self.stats.last_at = self.clock.time()
        rec = Record("WS", normalize_path(req.path), api.value, status=101)
        kind = stream_kind(api, req.path)
        try:
            if kind is None:
                rec.status, rec.decision = 404, "no-stream"
                await refuse_handshake(writer, raw, 404, f"alpaca-tui proxy: no WebSocket stream at "
                                       f"{rec.path} on the {api.value} port (trade updates: /stream on the "
                                       f"trading port; market data: the data port)")
                return
            peer = await WsPeer.accept(reader, writer, raw)
            if peer is None:
                rec.status, rec.decision = 400, "bad-handshake"
                return
            self.stats.streams_open += 1
            try:
                if kind == TRADE:
                    await self._trade(peer, req, upstream, rec)
                else:
                    await self._market(peer, req, upstream, rec)
            finally:
                self.stats.streams_open -= 1
                await peer.close()
        finally:
            rec.ms = (time.perf_counter() - t0) * 1000.0
            if rec.decision == "ok":
                self.stats.forwarded += 1
            else:
                self.stats.refused += 1
            self.stats.bytes_out += rec.bytes
            self.audit(rec)

    async def _first(self, peer: WsPeer) -> Message | None:
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(peer.recv(), AUTH_TIMEOUT)
        return None

    async def _allowed(self, api: Api, path: str, rec: Record) -> str | None:
        """None when the credential may use this stream, else why not (scope, expiry)."""
        profile = await self.engine.profile(self.name)
        rec.scope = guard.scope_label(profile, api, "GET", path)
        refusal = guard.check(profile, api, "GET", path, now=self.clock.now(), allow_live_writes=True)
        if refusal is not None:
            rec.status, rec.decision = refusal.status, refusal.decision
            return refusal.message
        return None

    async def _market(self, peer: WsPeer, req: Incoming, upstream: str, rec: Record) -> None:
        wire = _Wire(msgpack=(req.header(b"content-type") or b"").lower().startswith(b"application/msgpack"))
        await peer.send(wire.encode([{"T": "success", "msg": "connected"}]))
        first = await self._first(peer)
        obj = wire.decode(first) if first is not None else None
        if not isinstance(obj, dict) or obj.get("action") != "auth":
            rec.status, rec.decision = 401, "unauthorized"
            await peer.send(wire.encode(_md_error(404, "auth timeout") if first is None
                                        else _md_error(401, "not authenticated")))
            return
        if not self.placeholder.matches(_str(obj.get("key")), _str(obj.get("secret"))):
            rec.status, rec.decision = 401, "unauthorized"
            await peer.send(wire.encode(_md_error(402, "auth failed")))
            return
        try:
            why = await self._allowed(Api.DATA, rec.path, rec)
            if why is not None:
                await peer.send(wire.encode(_md_error(402, f"auth failed: {why}")))
                return
            auth = await self.engine.authorize(self.name)
            if auth.token is not None:
                real = {"action": "auth", "key": "access_token", "secret": auth.token.value}
            else:
                key, secret = auth.key_pair or ("", "")
                real = {"action": "auth", "key": key, "secret": secret}
            up = await self._connect(upstream + req.target, wire)
        except (AlpacaTuiError, WsError) as exc:
            rec.status, rec.decision = 502, "upstream-error"
            await peer.send(wire.encode(_md_error(500, f"alpaca-tui proxy: {_words(exc)}")))
            return
        try:
            greeting = await up.recv()
            ok = wire.decode(greeting) if greeting is not None else None
            if not (isinstance(ok, list) and ok and isinstance(ok[0], dict) and ok[0].get("T") == "success"):
                if greeting is not None:
                    await peer.send(greeting)   # e.g. 406 connection limit exceeded
                rec.decision = "upstream-refused"
                return
            await up.send(wire.encode(real))
            already = wire.encode(_md_error(403, "already authenticated"))
            await self._pipe(peer, up, rec, lambda m: already if _is_md_auth(wire.decode(m)) else None)
        finally:
            await up.close()

    async def _trade(self, peer: WsPeer, req: Incoming, upstream: str, rec: Record) -> None:
        first = await self._first(peer)
        wire = _Wire(text=first.text if first is not None else True)
        pair = _trade_pair(wire.decode(first)) if first is not None else None
        if pair is None or not self.placeholder.matches(pair[1], pair[2]):
            rec.status, rec.decision = 401, "unauthorized"
            await peer.send(wire.encode(_UNAUTHORIZED))
            return
        try:
            why = await self._allowed(Api.TRADING, rec.path, rec)
            if why is not None:
                await peer.send(wire.encode(_UNAUTHORIZED))
                return
            auth = await self.engine.authorize(self.name)
            if auth.key_pair is None:
                # UNCONFIRMED: whether the trade-updates stream takes an AuthX token at all
                rec.status, rec.decision = 403, "unsupported"
                await peer.send(wire.encode(_UNAUTHORIZED))
                return
            key, secret = auth.key_pair
            real: dict[str, Any] = ({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}
                                    if pair[0] == "authenticate" else {"action": "auth", "key": key,
                                                                       "secret": secret})
            up = await self._connect(upstream + req.target, wire)
        except (AlpacaTuiError, WsError) as exc:
            rec.status, rec.decision = 502, "upstream-error"
            await peer.send(wire.encode({"stream": "error", "data": {"error": f"alpaca-tui proxy: "
                                                                              f"{_words(exc)}"}}))
            return
        try:
            await up.send(wire.encode(real))
            await self._pipe(peer, up, rec, lambda m: self._trade_again(wire, m))
        finally:
            await up.close()

    def _trade_again(self, wire: _Wire, m: Message) -> Message | None:
        """A later auth message on an authorized trade stream is answered here, never sent on."""
        pair = _trade_pair(wire.decode(m))
        if pair is None:
            return None
        ok = self.placeholder.matches(pair[1], pair[2])
        return wire.encode({"stream": "authorization", "data": {
            "action": "authenticate", "status": "authorized" if ok else "unauthorized"}})

    async def _connect(self, url: str, wire: _Wire) -> WsPeer:
        headers = {"User-Agent": "alpaca-tui-proxy"}
        if wire.msgpack:
            headers["Content-Type"] = "application/msgpack"
        return await WsPeer.connect(url, headers)

    async def _pipe(self, client: WsPeer, up: WsPeer, rec: Record,
                    local: Callable[[Message], Message | None]) -> None:
        """Frames both ways until either side closes; a client message for which ``local``
        gives an answer (a second auth) is answered here and not sent on."""
        async def upward() -> None:
            while (m := await client.recv()) is not None:
                answer = local(m)
                if answer is not None:
                    await client.send(answer)
                elif not await up.send(m):
                    return

        async def downward() -> None:
            while (m := await up.recv()) is not None:
                rec.bytes += len(m.data)
                if not await client.send(m):
                    return

        tasks = [asyncio.ensure_future(upward()), asyncio.ensure_future(downward())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _is_md_auth(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("action") == "auth"


def _words(exc: Exception) -> str:
    return exc.message if isinstance(exc, AlpacaTuiError) else str(exc)
