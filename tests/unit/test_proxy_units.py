"""The proxy's parts one by one: the placeholder, the child's variables (which client reads which),
the local refusals, hop-by-hop headers, the audit log's file rules and the status files."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alpaca_tui.core.clientenv import (
    MANAGED_VARS,
    ClientAuth,
    ClientTargets,
    client_environment,
    real_targets,
    stream_base,
    ws_url,
)
from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.proxy import guard
from alpaca_tui.core.proxy.audit import AUDIT_NAME, AuditLog, append_lines, audit_files, line_for, read_audit
from alpaca_tui.core.proxy.forward import Record, hop_by_hop
from alpaca_tui.core.proxy.placeholder import new_placeholder
from alpaca_tui.core.proxy.status import ProxyStatus, remove_status, running_proxies, write_status
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def profile(env: Env, flow: Flow = Flow.LEGACY, **kw: object) -> Profile:
    return Profile("p", env, flow, "PK…ABCD", **kw)  # type: ignore[arg-type]


# -- placeholder ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "prefix"),
    [(Env.PAPER, "PK"), (Env.LIVE, "AK"), (Env.BROKER_SANDBOX, "CK"), (Env.BROKER_LIVE, "CK")],
)
def test_placeholders_are_shaped_like_alpaca_keys(env: Env, prefix: str) -> None:
    made = {new_placeholder(env) for _ in range(50)}
    assert len(made) == 50  # random per run
    for ph in made:
        assert len(ph.key_id) == 20 and ph.key_id.startswith(prefix)
        assert ph.key_id.isalnum() and ph.key_id.upper() == ph.key_id
        assert len(ph.secret) == 40 and ph.secret.isalnum()
        assert ph.secret not in repr(ph) and ph.key_id not in repr(ph)


def test_the_placeholder_is_accepted_as_apca_headers_basic_or_bearer_only() -> None:
    ph = new_placeholder(Env.PAPER)
    k, s = ph.key_id.encode(), ph.secret.encode()
    b64 = base64.b64encode(k + b":" + s)
    ok = [
        [(b"apca-api-key-id", k), (b"apca-api-secret-key", s)],
        [(b"authorization", b"Basic " + b64)],
        [(b"authorization", b"basic " + b64)],
        [(b"authorization", b"Bearer " + s)],
    ]
    bad = [
        [],
        [(b"apca-api-key-id", k)],
        [(b"apca-api-key-id", k), (b"apca-api-secret-key", s + b"x")],
        [(b"authorization", b"Bearer " + k)],
        [(b"authorization", b"Basic " + base64.b64encode(k + b":"))],
        [(b"authorization", b"Basic " + base64.b64encode(s))],
        [(b"authorization", b"Digest " + s)],
        # APCA headers decide when present, even if a right Bearer follows
        [(b"apca-api-key-id", k), (b"apca-api-secret-key", b"wrong"), (b"authorization", b"Bearer " + s)],
        [(b"authorization", "Bearer é".encode())],
    ]
    assert all(ph.presented_in(h) for h in ok)
    assert not any(ph.presented_in(h) for h in bad)
    assert ph.matches(ph.key_id, ph.secret) and not ph.matches(ph.key_id, None) and not ph.matches("", "")


# -- the child's variables --------------------------------------------------------------------


def test_trading_profiles_get_trading_data_and_stream_urls() -> None:
    p = profile(Env.PAPER)
    env = client_environment(p, real_targets(p), ClientAuth("PKXXXX", "sec"), now=0)
    assert env["APCA_API_BASE_URL"] == env["ALPACA_BASE_URL"] == "https://paper-api.alpaca.markets"
    assert (
        env["APCA_API_DATA_URL"]
        == env["ALPACA_DATA_URL"]
        == env["DATA_API_URL"]
        == "https://data.alpaca.markets"
    )
    assert env["APCA_API_STREAM_URL"] == "wss://stream.data.alpaca.markets"
    assert env["ALPACA_PAPER_TRADE"] == "true" and "ALPACA_BROKER_BASE_URL" not in env
    assert env["APCA_API_KEY_ID"] == env["ALPACA_API_KEY"] == "PKXXXX"
    live = profile(Env.LIVE)
    assert (
        client_environment(live, real_targets(live), ClientAuth("AK", "s"), now=0)["ALPACA_PAPER_TRADE"]
        == "false"
    )


def test_broker_profiles_never_get_a_trading_url() -> None:
    p = profile(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    tok = AccessToken("tok-value", expires_at=1000.0, issued_at=101.0)
    env = client_environment(p, real_targets(p), ClientAuth(token=tok), now=100)
    assert env["ALPACA_BROKER_BASE_URL"] == "https://broker-api.sandbox.alpaca.markets"
    assert env["APCA_API_DATA_URL"] == "https://data.sandbox.alpaca.markets"
    assert env["APCA_API_STREAM_URL"] == "wss://stream.data.sandbox.alpaca.markets"
    for var in (
        "APCA_API_BASE_URL",
        "ALPACA_BASE_URL",
        "ALPACA_PAPER_TRADE",
        "DATA_API_URL",
        "APCA_API_KEY_ID",
    ):
        assert var not in env
    assert env["APCA_API_OAUTH_TOKEN"] == env["APCA_API_OAUTH"] == "tok-value"
    assert env["ALPACA_TUI_TOKEN_EXPIRES_IN"] == "900"


def test_proxied_children_get_loopback_urls_and_only_the_placeholder() -> None:
    p = profile(Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT)
    ph = new_placeholder(p.env)
    targets = ClientTargets(
        broker="http://127.0.0.1:1", data="http://127.0.0.1:2", stream="http://127.0.0.1:2"
    )
    env = client_environment(p, targets, ClientAuth(ph.key_id, ph.secret), now=0, proxied=True)
    assert (
        env["ALPACA_BROKER_BASE_URL"] == "http://127.0.0.1:1"
        and env["APCA_API_STREAM_URL"] == "http://127.0.0.1:2"
    )
    assert env["APCA_API_KEY_ID"] == ph.key_id and env["APCA_API_SECRET_KEY"] == ph.secret
    assert env["ALPACA_TUI_PROXY"] == "1" and "APCA_API_OAUTH_TOKEN" not in env
    assert set(env) <= set(MANAGED_VARS)


def test_stream_hosts() -> None:
    assert stream_base("https://data.alpaca.markets/") == "wss://stream.data.alpaca.markets"
    assert stream_base("http://127.0.0.1:5000") == "http://127.0.0.1:5000"  # the emulator / the proxy
    assert stream_base(None) is None
    assert (
        ws_url("https://h") == "wss://h"
        and ws_url("http://h:1") == "ws://h:1"
        and ws_url("wss://x") == "wss://x"
    )


# -- local refusals ---------------------------------------------------------------------------


def test_guard_refuses_expired_scope_and_live_writes() -> None:
    expired = profile(Env.PAPER, expires_at=NOW - timedelta(minutes=1))
    r = guard.check(expired, Api.TRADING, "GET", "/v2/account", now=NOW, allow_live_writes=False)
    assert r is not None and r.status == 403 and r.decision == "expired" and "expired" in r.message
    limited = profile(Env.BROKER_SANDBOX, access=AccessMatrix.full().with_level(Scope.FUNDING, Level.RO))
    r = guard.check(limited, Api.BROKER, "POST", "/v1/accounts/x/transfers", now=NOW, allow_live_writes=False)
    assert r is not None and r.decision == "scope" and "Funding" in r.message and "--force" not in r.message
    assert r.body() == {"code": 40310000, "message": r.message}
    assert (
        guard.check(limited, Api.BROKER, "GET", "/v1/accounts/x/transfers", now=NOW, allow_live_writes=False)
        is None
    )
    live = profile(Env.LIVE)
    r = guard.check(live, Api.TRADING, "POST", "/v2/orders", now=NOW, allow_live_writes=False)
    assert r is not None and r.decision == "live-write" and "--allow-live-writes" in r.message
    assert guard.check(live, Api.TRADING, "POST", "/v2/orders", now=NOW, allow_live_writes=True) is None
    assert guard.check(live, Api.TRADING, "GET", "/v2/orders", now=NOW, allow_live_writes=False) is None
    assert (
        guard.check(profile(Env.PAPER), Api.TRADING, "DELETE", "/v2/orders", now=NOW, allow_live_writes=False)
        is None
    )
    assert guard.scope_label(limited, Api.BROKER, "POST", "/v1/journals") == "journaling:rw"
    # the spec-complete guard: a write to a path the Broker API does not have is refused (deny by
    # default), a read of one goes through and is labelled so in the audit log
    full = profile(Env.BROKER_SANDBOX)
    r = guard.check(full, Api.BROKER, "POST", "/v1/no_such_thing", now=NOW, allow_live_writes=False)
    assert r is not None and r.decision == "scope" and "--force" not in r.message
    assert guard.check(full, Api.BROKER, "GET", "/v1/no_such_thing", now=NOW, allow_live_writes=False) is None
    assert guard.scope_label(full, Api.BROKER, "GET", "/v1/no_such_thing") == "unknown"
    assert guard.scope_label(live, Api.TRADING, "POST", "/v2/orders") is None


def test_hop_by_hop_includes_what_connection_names() -> None:
    names = hop_by_hop([(b"Connection", b"keep-alive, X-Secret-Hop , "), (b"x-secret-hop", b"1")])
    assert {b"x-secret-hop", b"keep-alive", b"transfer-encoding", b"upgrade", b"te"} <= names
    assert b"content-type" not in names


# -- the audit log ----------------------------------------------------------------------------


def rec(path: str = "/v2/account", status: int = 200) -> Record:
    return Record("GET", path, "trading", status=status, ms=1.5, bytes=10, scope=None)


def test_audit_file_rules_and_rotation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    line = line_for("p", rec(), 1_800_000_000.0)
    assert json.loads(line)["time"] == "2027-01-15T08:00:00.000Z" and line.endswith(b"\n")
    for _ in range(40):
        append_lines(home, [line], max_bytes=len(line) * 10, keep=2)
    assert (home.stat().st_mode & 0o777) == 0o700 and ((home / AUDIT_NAME).stat().st_mode & 0o777) == 0o600
    files = [p for p in audit_files(home, keep=2) if p.exists()]
    assert [p.name for p in files] == [f"{AUDIT_NAME}.2", f"{AUDIT_NAME}.1", AUDIT_NAME]
    assert all(p.stat().st_size <= len(line) * 10 for p in files)
    assert not (home / f"{AUDIT_NAME}.3").exists()  # older parts are dropped
    (home / AUDIT_NAME).chmod(0o644)
    append_lines(home, [line], max_bytes=len(line) * 10, keep=2)
    assert ((home / AUDIT_NAME).stat().st_mode & 0o777) == 0o600


def _writer(home: str, n: int, tag: str) -> None:
    for i in range(n):
        append_lines(Path(home), [line_for(tag, rec(f"/v2/{tag}/{i}" + "x" * 300), 1_800_000_000.0 + i)])


def test_concurrent_writers_never_tear_lines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(home), 150, f"proc{i}")) for i in range(3)]
    threads = [threading.Thread(target=_writer, args=(str(home), 150, f"thread{i}")) for i in range(2)]
    for w in (*procs, *threads):
        w.start()
    for w in (*procs, *threads):
        w.join(60)
    raw = (home / AUDIT_NAME).read_bytes().splitlines()
    assert len(raw) == 750 and all(json.loads(x)["path"].endswith("x" * 300) for x in raw)
    assert all(p.exitcode == 0 for p in procs)


def test_read_audit_filters_and_skips_garbage(tmp_path: Path) -> None:
    home = tmp_path / "home"
    append_lines(
        home,
        [
            line_for("a", rec(), 100.0),
            line_for("b", rec(), 200.0),
            b"not json\n",
            b"[1]\n",
            line_for("a", rec(status=401), 300.0),
        ],
    )
    assert [r["status"] for r in read_audit(home, profile="a")] == [200, 401]
    assert [r["profile"] for r in read_audit(home, since=150.0)] == ["b", "a"]
    assert read_audit(tmp_path / "nowhere") == []


async def test_audit_log_batches_and_flushes_on_close(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = AuditLog(home, "p", interval=60)
    log.start()
    for i in range(5):
        log.record(rec(f"/v2/{i}"))
    assert not (home / AUDIT_NAME).exists()  # nothing written on the request's path
    await log.aclose()
    assert [r["path"] for r in read_audit(home)] == [f"/v2/{i}" for i in range(5)]


# -- running proxies --------------------------------------------------------------------------


def test_status_files_show_live_fresh_proxies_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mine = ProxyStatus(
        pid=os.getpid(),
        profile="p",
        env="paper",
        started_at=1.0,
        updated_at=100.0,
        urls={"trading": "http://127.0.0.1:4100", "data": "http://127.0.0.1:4101"},
        requests=3,
    )
    dead = ProxyStatus(
        pid=2**22 + 12345,
        profile="p",
        env="paper",
        started_at=1.0,
        updated_at=100.0,
        urls={"trading": "http://127.0.0.1:4200"},
    )
    other = ProxyStatus(
        pid=os.getpid(),
        profile="q",
        env="live",
        started_at=2.0,
        updated_at=100.0,
        urls={"trading": "http://127.0.0.1:4300"},
    )
    for st in (mine, dead, other):
        write_status(home, st)
    assert ((home / "proxies" / f"{mine.key}.json").stat().st_mode & 0o777) == 0o600
    assert mine.key == f"{os.getpid()}-4100"
    assert [s.profile for s in running_proxies(home, 105.0)] == ["p", "q"]
    assert [s.requests for s in running_proxies(home, 105.0, profile="p")] == [3]
    assert running_proxies(home, 100.0 + 60) == []  # stale: no update for a minute
    (home / "proxies" / "junk.json").write_text("{not json")
    remove_status(home, mine.key)
    assert [s.profile for s in running_proxies(home, 105.0)] == ["q"]
