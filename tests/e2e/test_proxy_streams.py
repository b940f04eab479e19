"""WebSocket streams over real loopback: the emulator's trade-updates and market-data streams, and
the proxy's relay in front of them (placeholder in the auth message replaced by the real key
pair or, for an OAuth broker credential, the AuthX token; nothing upstream before that)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgpack
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.proxy import ProxyServer, relay
from alpaca_tui.core.proxy.wsio import Message, WsError, WsPeer
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from tests.emulator_fixtures import make_profile

OPEN = 1_800_025_200.0
MSGPACK = {"Content-Type": "application/msgpack"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(OPEN)) as e:
        e.stream_interval = 0.1
        yield e


@pytest.fixture
async def proxies() -> AsyncIterator[Any]:
    made: list[tuple[ProxyServer, Engine]] = []

    async def start(emu: Emulator, env: Env, flow: Flow, **kw: Any) -> ProxyServer:
        profile, bundle = make_profile(emu, None, env, flow, name="p", **kw)
        engine = Engine()
        engine.add_credential(profile, bundle)
        server = await ProxyServer(engine, "p").start()
        made.append((server, engine))
        return server

    yield start
    for server, engine in made:
        await server.aclose()
        await engine.aclose()


def ws(url: str) -> str:
    return url.replace("http://", "ws://")


async def recv_json(peer: WsPeer, mp: bool = False) -> Any:
    msg = await asyncio.wait_for(peer.recv(), 10)
    assert msg is not None, "the stream closed"
    return msgpack.unpackb(msg.data) if mp else json.loads(msg.data)


def text(obj: Any) -> Message:
    return Message(True, json.dumps(obj).encode())


async def test_trade_updates_through_the_proxy(emu: Emulator, proxies: Any) -> None:
    server = await proxies(emu, Env.PAPER, Flow.LEGACY)
    key, secret = server.placeholder.key_id, server.placeholder.secret
    url = ws(server.urls[Api.TRADING]) + "/stream"
    bad = await WsPeer.connect(url, {})
    await bad.send(text({"action": "authenticate", "data": {"key_id": key, "secret_key": secret + "x"}}))
    assert (await recv_json(bad))["data"]["status"] == "unauthorized"
    assert await bad.recv() is None  # closed by the proxy
    assert emu.requests("trading-paper") == 0  # nothing went upstream
    peer = await WsPeer.connect(url, {})
    await peer.send(text({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}))
    assert (await recv_json(peer))["data"] == {"action": "authenticate", "status": "authorized"}
    await peer.send(text({"action": "listen", "data": {"streams": ["trade_updates"]}}))
    assert (await recv_json(peer)) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    await peer.send(text({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}))
    assert (await recv_json(peer))["data"]["status"] == "authorized"  # answered here, not sent on
    async with httpx.AsyncClient() as c:
        r = await c.post(
            server.urls[Api.TRADING] + "/v2/orders",
            headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret},
            json={"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"},
        )
        assert r.status_code == 200
    events = [(await recv_json(peer))["data"] for _ in range(2)]
    assert [e["event"] for e in events] == ["new", "fill"] and events[1]["qty"] == "3"
    assert {e["order"]["id"] for e in events} == {r.json()["id"]}
    await peer.close()


async def test_market_data_msgpack_with_an_oauth_token(emu: Emulator, proxies: Any) -> None:
    server = await proxies(emu, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    key, secret = server.placeholder.key_id, server.placeholder.secret
    peer = await WsPeer.connect(ws(server.urls[Api.DATA]) + "/v2/iex", MSGPACK)
    assert await recv_json(peer, True) == [{"T": "success", "msg": "connected"}]  # the proxy's own greeting
    assert emu.requests("data-sandbox") == 0
    await peer.send(Message(False, msgpack.packb({"action": "auth", "key": key, "secret": secret})))
    assert await recv_json(peer, True) == [{"T": "success", "msg": "authenticated"}]
    assert emu.requests("data-sandbox") == 1 and emu.token_requests() == 1  # the AuthX token, upstream
    await peer.send(
        Message(False, msgpack.packb({"action": "subscribe", "bars": ["AAPL"], "trades": ["MSFT"]}))
    )
    sub = (await recv_json(peer, True))[0]
    assert sub["T"] == "subscription" and sub["bars"] == ["AAPL"] and sub["trades"] == ["MSFT"]
    ticks = await recv_json(peer, True)
    bar = next(m for m in ticks if m["T"] == "b")
    assert bar["S"] == "AAPL" and bar["l"] <= bar["c"] <= bar["h"]
    assert isinstance(bar["t"], msgpack.Timestamp)  # what the SDKs' to_datetime() reads
    await peer.close()


async def test_market_data_refusals_stay_local(emu: Emulator, proxies: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(relay, "AUTH_TIMEOUT", 0.5)
    server = await proxies(emu, Env.PAPER, Flow.LEGACY)
    key = server.placeholder.key_id
    url = ws(server.urls[Api.DATA]) + "/v2/iex"
    for first, code in (
        (None, 404),
        ({"action": "subscribe", "bars": ["*"]}, 401),
        ({"action": "auth", "key": key, "secret": "nope"}, 402),
    ):
        peer = await WsPeer.connect(url, {})
        await recv_json(peer)
        if first is not None:
            await peer.send(text(first))
        assert (await recv_json(peer))[0]["code"] == code
        assert await peer.recv() is None
    assert emu.requests("data") == 0


async def test_a_data_scope_at_no_access_refuses_the_stream(emu: Emulator, proxies: Any) -> None:
    access = AccessMatrix.full().with_level(Scope.DATA, Level.NONE)
    server = await proxies(emu, Env.BROKER_SANDBOX, Flow.LEGACY, access=access)
    peer = await WsPeer.connect(ws(server.urls[Api.DATA]) + "/v2/iex", {})
    await recv_json(peer)
    await peer.send(
        text({"action": "auth", "key": server.placeholder.key_id, "secret": server.placeholder.secret})
    )
    error = (await recv_json(peer))[0]
    assert error["code"] == 402 and "data: no access" in error["msg"].lower()
    assert emu.requests("data-sandbox") == 0


async def test_no_websocket_on_the_broker_port(emu: Emulator, proxies: Any) -> None:
    server = await proxies(emu, Env.BROKER_SANDBOX, Flow.LEGACY)
    with pytest.raises(WsError, match="404"):
        await WsPeer.connect(ws(server.urls[Api.BROKER]) + "/stream", {})
    assert emu.requests("broker-sandbox") == 0


# -- the emulator's streams themselves ---------------------------------------------------------


async def test_emulator_market_data_checks_keys_like_its_http_api(emu: Emulator) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    # paper keys work on the production stream host and fail on the sandbox one (alpaca-auth.md §1)
    for role, expected in (("data", "authenticated"), ("data-sandbox", "auth failed")):
        peer = await WsPeer.connect(ws(emu.urls[role]) + "/v2/iex", {})
        assert await recv_json(peer) == [{"T": "success", "msg": "connected"}]
        await peer.send(text({"action": "auth", "key": paper.key_id, "secret": paper.secret}))
        assert (await recv_json(peer))[0]["msg"] == expected
        await peer.close()
    peer = await WsPeer.connect(ws(emu.urls["data"]) + "/v1beta3/crypto/us", {})
    await recv_json(peer)
    await peer.send(text({"action": "auth", "key": paper.key_id, "secret": paper.secret}))
    await recv_json(peer)
    await peer.send(text({"action": "auth", "key": paper.key_id, "secret": paper.secret}))
    assert (await recv_json(peer))[0]["code"] == 403  # already authenticated
    await peer.send(text({"action": "subscribe", "bars": ["BTC/USD"]}))
    assert (await recv_json(peer))[0]["bars"] == ["BTC/USD"]
    bar = (await recv_json(peer))[0]
    assert bar["T"] == "b" and bar["S"] == "BTC/USD" and isinstance(bar["t"], str)
    await peer.close()
    with pytest.raises(WsError, match="404"):
        await WsPeer.connect(ws(emu.urls["data"]) + "/v2/nosuchfeed", {})
    assert emu.requests("data") >= 2 and emu.requests("data-sandbox") == 1


async def test_emulator_trade_stream_refuses_a_wrong_key(emu: Emulator) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    peer = await WsPeer.connect(ws(emu.urls["trading-paper"]) + "/stream", {})
    await peer.send(text({"action": "auth", "key": paper.key_id, "secret": "wrong"}))
    msg = await asyncio.wait_for(peer.recv(), 10)
    assert msg is not None and not msg.text  # paper sends binary frames
    assert json.loads(msg.data)["data"]["status"] == "unauthorized"
    assert await peer.recv() is None
