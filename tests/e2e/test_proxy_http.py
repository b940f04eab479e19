"""The auth proxy over real loopback HTTP (issue 11): an in-process :class:`ProxyServer` in front of
the emulator, or of a small upstream written here that echoes what it received and answers
slowly, in pieces, with redirects and hop-by-hop headers.

What is refused (no placeholder, a scope the matrix forbids, a live write, an expired
credential) never reaches the upstream: the emulator's request counters say so.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, SecretBundle
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.proxy import ProxyServer
from alpaca_tui.core.proxy.audit import AUDIT_NAME, read_audit
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from tests.emulator_fixtures import make_profile

OPEN = 1_800_025_200.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(OPEN)) as e:
        yield e


async def running(
    profile: Profile,
    bundle: SecretBundle,
    *,
    home: Any = None,
    allow_live_writes: bool = False,
    clock: Any = None,
) -> tuple[ProxyServer, Engine]:
    engine = Engine(clock=clock) if clock is not None else Engine()
    engine.add_credential(profile, bundle)
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    server = await ProxyServer(
        engine, profile.name, home=home, allow_live_writes=allow_live_writes, **kwargs
    ).start()
    return server, engine


@pytest.fixture
async def stop_all() -> AsyncIterator[list[tuple[ProxyServer, Engine]]]:
    started: list[tuple[ProxyServer, Engine]] = []
    yield started
    for server, engine in started:
        await server.aclose()
        await engine.aclose()


def pair(server: ProxyServer) -> tuple[str, str]:
    assert server.placeholder is not None
    return server.placeholder.key_id, server.placeholder.secret


def apca(key: str, secret: str) -> dict[str, str]:
    return {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


async def test_no_placeholder_no_request_upstream(emu: Emulator, stop_all: list) -> None:
    profile, bundle = make_profile(emu, None, Env.PAPER, Flow.LEGACY, name="paper")
    server, engine = await running(profile, bundle)
    stop_all.append((server, engine))
    key, secret = pair(server)
    real = bundle.active
    base = server.urls[Api.TRADING]
    refused = [
        {},  # nothing
        apca(key, secret[:-1] + ("x" if secret[-1] != "x" else "y")),  # one character off
        apca(key, ""),
        apca("", secret),
        apca(real.key_id, real.secret or ""),  # the REAL pair is not this proxy's key
        basic(key, "wrong"),
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Token {secret}"},
        {"APCA_API_KEY_ID": key, "APCA_API_SECRET_KEY": secret},  # underscores: not the headers
        {"Authorization": "Basic !!!not-base64"},
    ]
    async with httpx.AsyncClient() as c:
        for headers in refused:
            r = await c.get(base + "/v2/account", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["code"] == 40110000 and "request is not authorized" in r.json()["message"]
        r = await c.get(server.urls[Api.DATA] + "/v2/stocks/AAPL/bars/latest")
        assert r.status_code == 401
        assert emu.requests("trading-paper") == 0 and emu.requests("data") == 0  # nothing forwarded
        for headers in (apca(key, secret), basic(key, secret), {"Authorization": f"Bearer {secret}"}):
            r = await c.get(base + "/v2/account", headers=headers)
            assert r.status_code == 200 and r.json()["account_number"] == "PALPACA_123"
        assert emu.requests("trading-paper") == 3
    assert server.stats.refused == len(refused) + 1 and server.stats.forwarded == 3


async def test_scope_refusals_never_reach_the_emulator(emu: Emulator, stop_all: list) -> None:
    access = AccessMatrix.full().with_level(Scope.FUNDING, Level.NONE).with_level(Scope.JOURNALING, Level.RO)
    profile, bundle = make_profile(
        emu, None, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, name="bx", access=access
    )
    server, engine = await running(profile, bundle)
    stop_all.append((server, engine))
    headers = basic(*pair(server))
    base = server.urls[Api.BROKER]
    async with httpx.AsyncClient() as c:
        accounts = (await c.get(base + "/v1/accounts", headers=headers)).json()
        assert emu.requests("broker-sandbox") == 1
        acct = accounts[0]["id"]
        for method, path, scope in (
            ("POST", f"/v1/accounts/{acct}/transfers", "Funding"),
            ("GET", f"/v1/accounts/{acct}/transfers", "Funding"),
            ("POST", "/v1/journals", "Journal"),
        ):
            r = await c.request(method, base + path, headers=headers, json={"amount": "10"})
            assert r.status_code == 403, (method, path, r.text)
            body = r.json()
            assert body["code"] == 40310000 and scope.lower() in body["message"].lower(), body
            assert "--force" not in body["message"] and "alpaca-tui proxy" in body["message"]
        assert emu.requests("broker-sandbox") == 1  # none of the three went out
        r = await c.get(base + "/v1/journals", headers=headers)  # read-only is enough to read
        assert r.status_code == 200 and emu.requests("broker-sandbox") == 2


async def test_live_writes_need_the_switch(emu: Emulator, stop_all: list) -> None:
    profile, bundle = make_profile(emu, None, Env.LIVE, Flow.LEGACY, name="live")
    order = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
    server, engine = await running(profile, bundle)
    stop_all.append((server, engine))
    headers = apca(*pair(server))
    base = server.urls[Api.TRADING]
    async with httpx.AsyncClient() as c:
        assert (await c.get(base + "/v2/account", headers=headers)).status_code == 200
        for method in ("POST", "DELETE", "PATCH"):
            r = await c.request(method, base + "/v2/orders", headers=headers, json=order)
            assert r.status_code == 403 and "--allow-live-writes" in r.json()["message"]
        assert emu.requests("trading-live") == 1
        allowed, engine2 = await running(profile, bundle, allow_live_writes=True)
        stop_all.append((allowed, engine2))
        r = await c.post(allowed.urls[Api.TRADING] + "/v2/orders", headers=apca(*pair(allowed)), json=order)
        assert r.status_code == 200 and r.json()["symbol"] == "AAPL"
        assert emu.requests("trading-live") == 2


async def test_an_expired_credential_is_refused_here(emu: Emulator, stop_all: list) -> None:
    profile, bundle = make_profile(emu, None, Env.PAPER, Flow.LEGACY, name="paper")
    profile = profile.with_changes(expires_at=datetime.fromtimestamp(OPEN, UTC) + timedelta(hours=1))
    clock = FakeClock(OPEN)
    server, engine = await running(profile, bundle, clock=clock)
    stop_all.append((server, engine))
    async with httpx.AsyncClient() as c:
        url = server.urls[Api.TRADING] + "/v2/account"
        assert (await c.get(url, headers=apca(*pair(server)))).status_code == 200
        clock.advance(3601)
        r = await c.get(url, headers=apca(*pair(server)))
        assert r.status_code == 403 and r.json()["code"] == 40310000 and "expired" in r.json()["message"]
    assert emu.requests("trading-paper") == 1


async def test_an_oauth_401_is_retried_once_with_a_new_token(emu: Emulator, stop_all: list) -> None:
    profile, bundle = make_profile(emu, None, Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, name="bx")
    clock = FakeClock(OPEN)
    server, engine = await running(profile, bundle, clock=clock)
    stop_all.append((server, engine))
    headers = basic(*pair(server))
    async with httpx.AsyncClient() as c:
        assert (await c.get(server.urls[Api.BROKER] + "/v1/accounts", headers=headers)).status_code == 200
        with emu.state.lock:
            emu.state.tokens.clear()  # the emulator forgets the token: the next call gets 401
        results = await asyncio.gather(
            *(c.get(server.urls[Api.BROKER] + "/v1/accounts", headers=headers) for _ in range(8))
        )
        assert [r.status_code for r in results] == [200] * 8
    assert emu.token_requests(bundle.active.key_id) == 2  # one shared forced refresh for all eight


async def test_audit_log_lines(emu: Emulator, stop_all: list, tmp_path: Any) -> None:
    home = tmp_path / "home"
    profile, bundle = make_profile(emu, None, Env.PAPER, Flow.LEGACY, name="paper")
    server, engine = await running(profile, bundle, home=home)
    stop_all.append((server, engine))
    key, secret = pair(server)
    async with httpx.AsyncClient() as c:
        await c.get(server.urls[Api.TRADING] + "/v2/account?x=" + secret, headers=apca(key, secret))
        await c.get(server.urls[Api.TRADING] + "/v2/account")
        await c.post(
            server.urls[Api.TRADING] + "/v2/orders",
            headers=apca(key, secret),
            json={"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"},
        )
    assert server.audit is not None
    await server.audit.flush()
    lines = read_audit(home, profile="paper")
    assert [(r["method"], r["path"], r["status"], r["decision"]) for r in lines] == [
        ("GET", "/v2/account", 200, "ok"),
        ("GET", "/v2/account", 401, "unauthorized"),
        ("POST", "/v2/orders", 200, "ok"),
    ]
    assert all(r["bytes"] > 0 and r["ms"] >= 0 and r["api"] == "trading" for r in lines)
    raw = (home / AUDIT_NAME).read_bytes()
    assert secret.encode() not in raw and (bundle.active.secret or "").encode() not in raw
    assert bundle.active.key_id.encode() not in raw
    assert (home / AUDIT_NAME).stat().st_mode & 0o777 == 0o600
    assert (home.stat().st_mode & 0o777) == 0o700


# -- an upstream that shows what the proxy sends ----------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        _Echo.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("latin-1"),
            }
        )
        route = self.path.split("?")[0]
        if route == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                chunk = f"data: {i} {time.monotonic()}\n\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n")
        elif route in ("/broken", "/broken-big"):
            self.send_response(200)
            self.send_header("Content-Length", "1000" if route == "/broken" else str(1 << 20))
            self.end_headers()
            self.wfile.write(b"only part of it")
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
        elif route == "/gzip":
            data = gzip.compress(b'{"zipped": true}')
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            data = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Connection", "keep-alive, X-Up-Hop")
            self.send_header("X-Up-Hop", "secret-of-the-hop")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("X-Kept", "yes")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


@pytest.fixture
def echo() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    _Echo.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


async def echo_proxy(emu: Emulator, echo: str, stop_all: list) -> tuple[ProxyServer, Any]:
    profile, bundle = make_profile(emu, None, Env.PAPER, Flow.LEGACY, name="paper")
    profile = profile.with_changes(endpoints={**profile.endpoints, Api.TRADING: echo})
    server, engine = await running(profile, bundle)
    stop_all.append((server, engine))
    return server, bundle


async def test_what_goes_upstream_and_what_comes_back(emu: Emulator, echo: str, stop_all: list) -> None:
    server, bundle = await echo_proxy(emu, echo, stop_all)
    key, secret = pair(server)
    headers = {
        **apca(key, secret),
        "Connection": "X-Hop",
        "X-Hop": "1",
        "Keep-Alive": "timeout=9",
        "TE": "trailers",
        "Proxy-Authorization": "Basic eDp5",
        "X-Kept": "yes",
        "User-Agent": "probe/1",
    }
    async with httpx.AsyncClient() as c:
        r = await c.patch(
            server.urls[Api.TRADING] + "/v2/orders/abc?a=1&b=%2F&c", headers=headers, content=b'{"qty": "2"}'
        )
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert r.headers["x-kept"] == "yes" and "x-up-hop" not in r.headers and "keep-alive" not in r.headers
    got = _Echo.seen[-1]
    sent = {k.lower(): v for k, v in got["headers"].items()}
    assert got["method"] == "PATCH" and got["path"] == "/v2/orders/abc?a=1&b=%2F&c"
    assert got["body"] == '{"qty": "2"}'
    assert (
        sent["apca-api-key-id"] == bundle.active.key_id
        and sent["apca-api-secret-key"] == bundle.active.secret
    )
    for hop in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert hop not in sent, hop
    assert (
        sent["x-kept"] == "yes" and sent["user-agent"] == "probe/1" and sent["host"] == echo[len("http://") :]
    )
    assert sent["accept-encoding"] == "gzip, deflate"  # as the client asked
    assert key not in json.dumps(got) and secret not in json.dumps(got)  # the placeholder never goes out
    # a client that asks for no compression gets none: the proxy says identity for it
    status, _ = await raw_request(
        server.urls[Api.TRADING],
        f"GET /plain HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: {key}\r\nAPCA-API-SECRET-KEY: {secret}\r\n\r\n",
    )
    assert status == 200
    assert {k.lower(): v for k, v in _Echo.seen[-1]["headers"].items()}["accept-encoding"] == "identity"


async def raw_request(url: str, head: str) -> tuple[int, bytes]:
    """One request written by hand (no client library adding headers); (status, raw answer)."""
    host, port = url[len("http://") :].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
    return int(data.split(b" ", 2)[1]), data


async def test_no_redirect_is_followed_and_bytes_pass_unchanged(
    emu: Emulator, echo: str, stop_all: list
) -> None:
    server, _ = await echo_proxy(emu, echo, stop_all)
    headers = apca(*pair(server))
    async with httpx.AsyncClient() as c:
        r = await c.get(server.urls[Api.TRADING] + "/redirect", headers=headers)
        assert r.status_code == 302 and r.headers["location"] == "http://127.0.0.1:9/elsewhere"
        assert len(_Echo.seen) == 1
        r = await c.get(server.urls[Api.TRADING] + "/gzip", headers={**headers, "Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.json() == {"zipped": True}
        # a broken upstream body is never made to look complete: a small answer becomes a 502 ...
        r = await c.get(server.urls[Api.TRADING] + "/broken", headers=headers)
        assert r.status_code == 502 and r.json()["code"] == 50210000
        with pytest.raises(httpx.HTTPError):  # ... a streamed one is cut off, not ended
            await c.get(server.urls[Api.TRADING] + "/broken-big", headers=headers)


async def test_a_stream_arrives_chunk_by_chunk(emu: Emulator, echo: str, stop_all: list) -> None:
    server, _ = await echo_proxy(emu, echo, stop_all)
    arrivals: list[tuple[float, float]] = []
    async with (
        httpx.AsyncClient() as c,
        c.stream(
            "GET",
            server.urls[Api.TRADING] + "/slow",
            headers={**apca(*pair(server)), "Accept": "text/event-stream"},
        ) as r,
    ):
        assert r.headers["content-type"] == "text/event-stream"
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                arrivals.append((float(line.split()[2]), time.monotonic()))
    assert len(arrivals) == 3
    # each event reached the client while the upstream was still sleeping before the next one
    first_sent, first_got = arrivals[0]
    assert first_got - first_sent < 0.35 and arrivals[2][0] - first_got > 0.5


async def test_a_body_over_the_cap_is_refused(emu: Emulator, stop_all: list) -> None:
    profile, bundle = make_profile(emu, None, Env.PAPER, Flow.LEGACY, name="paper")
    server, engine = await running(profile, bundle)
    stop_all.append((server, engine))
    key, secret = pair(server)
    status, data = await raw_request(
        server.urls[Api.TRADING],
        f"POST /v2/orders HTTP/1.1\r\nHost: x\r\n"
        f"APCA-API-KEY-ID: {key}\r\nAPCA-API-SECRET-KEY: {secret}\r\n"
        f"Content-Length: {20 * 1024 * 1024}\r\n\r\n",
    )
    assert status == 413 and b"41310000" in data and emu.requests("trading-paper") == 0
