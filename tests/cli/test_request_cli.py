"""``alpaca-tui request`` against the emulator: output, --json, exit codes, live-write guard,
scope pre-flight, --repeat load check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env, run_cli, run_sub

__all__ = ["emu"]
Cap = pytest.CaptureFixture[str]


def test_get_prints_status_headers_and_body(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    code, out, err = run_cli(capsys, "request", "paper", "GET", "/v2/account")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("200 OK  ") and " ms  GET http://127.0.0.1:" in lines[0]
    assert lines[1].startswith("request-id: ")
    assert lines[2].startswith("rate limit: 199/200 left, resets ")
    body = json.loads(out.split("\n\n", 1)[1])
    assert body["account_number"]


def test_json_output_query_and_data_api(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    code, out, _ = run_cli(capsys, "request", "paper", "GET", "/v2/stocks/AAPL/bars/latest?feed=iex",
                           "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["status"] == 200 and doc["api"] == "data"
    assert doc["json"]["symbol"] == "AAPL" and doc["request_id"] and doc["rate_limit"]["limit"] == 200
    assert "feed=iex" in doc["url"] or doc["url"].endswith("/v2/stocks/AAPL/bars/latest")
    code, out, _ = run_cli(capsys, "request", "paper", "GET", "/v2/orders", "--query", "status=all", "--json")
    assert code == 0 and json.loads(out)["status"] == 200


def test_non_2xx_exits_1_with_one_line_error(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    code, out, err = run_cli(capsys, "request", "paper", "GET", "/v2/orders/0000-0000")
    assert code == 1
    assert out.startswith("404 Not Found")
    assert err.count("\n") == 1 and err.startswith("alpaca-tui: error: client error:")
    code, out, _ = run_cli(capsys, "request", "paper", "GET", "/v2/orders/nope", "--json")
    assert code == 1 and json.loads(out)["error"]["category"] == "client_error"


def test_live_write_needs_yes(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "live", Env.LIVE)
    order = json.dumps({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                        "time_in_force": "day"})
    before = emu.requests("trading-live")
    proc = run_sub("request", "live", "POST", "/v2/orders", "--data", order, env=home_env(alpaca_home))
    assert proc.returncode == 2
    assert "writes to a live environment need --yes" in proc.stderr and proc.stderr.count("\n") == 1
    assert emu.requests("trading-live") == before  # nothing was sent
    code, out, err = run_cli(capsys, "request", "live", "POST", "/v2/orders", "--data", order, "--yes")
    assert code == 0, err
    assert json.loads(out.split("\n\n", 1)[1])["symbol"] == "AAPL"
    # paper writes need no confirmation
    add_profile(emu, "paper", Env.PAPER)
    assert run_cli(capsys, "request", "paper", "POST", "/v2/orders", "--data", order)[0] == 0


def test_scope_preflight_and_force(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "ro", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
                access=AccessMatrix({Scope.ACCOUNTS: Level.RO, Scope.JOURNALING: Level.RO}))
    before = emu.requests("broker-sandbox")
    code, _, err = run_cli(capsys, "request", "ro", "POST", "/v1/journals", "--data", '{"amount": "5"}')
    assert code == 2
    assert "needs Journaling (read-write)" in err and "--force" in err
    assert emu.requests("broker-sandbox") == before
    code, out, err = run_cli(capsys, "request", "ro", "POST", "/v1/journals", "--data", '{"amount": "5"}',
                             "--force")
    assert code == 1 and out.startswith("403 Forbidden")
    assert "forbidden scope" in err and "Journaling (read-write)" in err


def test_repeat_load_check_uses_one_token(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    code, out, err = run_cli(capsys, "request", "bx", "GET", "/v1/accounts", "--repeat", "40",
                             "--concurrency", "8")
    assert code == 0, err
    assert out.startswith("40 requests (GET /v1/accounts), concurrency 8: 40 ok, 0 failed  [200: 40]")
    assert "latency p50 " in out and "token requests: 1" in out
    assert emu.token_requests(secret.key_id) == 1
    code, out, _ = run_cli(capsys, "request", "bx", "GET", "/v1/accounts", "--repeat", "10", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["count"] == 10 and doc["ok"] == 10 and doc["by_status"] == {"200": 10}
    assert doc["token_requests"] == 0  # the cached token from the previous run was reused
    assert doc["p50_ms"] <= doc["p95_ms"] <= doc["max_ms"]


def test_repeat_counts_rate_limited(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    emu.fail_next("trading-paper", 40, status=503)
    code, out, _ = run_cli(capsys, "request", "paper", "GET", "/v2/clock", "--repeat", "5", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["errors"] == 5 and doc["by_category"] == {"server_error": 5}


@pytest.mark.parametrize(("args", "fragment"), [
    (["GET", "v2/account"], "must start with '/'"),
    (["BREW", "/v2/account"], "unsupported HTTP method"),
    (["POST", "/v2/orders", "--data", "{nope"], "not valid JSON"),
    (["GET", "/v2/account", "--data", "{}"], "takes no request body"),
    (["GET", "/v2/account", "--query", "novalue"], "expected KEY=VALUE"),
    (["GET", "/v2/account", "--api", "broker"], "has no broker API"),
    (["GET", "/v2/account", "--api", "auth"], "token endpoint"),
])
def test_usage_errors(alpaca_home: Path, emu: Emulator, capsys: Cap, args: list[str], fragment: str) -> None:
    add_profile(emu, "paper", Env.PAPER)
    code, _, err = run_cli(capsys, "request", "paper", *args)
    assert code == 2 and fragment in err and err.count("\n") == 1


def test_data_file_from_stdin(alpaca_home: Path, emu: Emulator, capsys: Cap,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    add_profile(emu, "paper", Env.PAPER)
    body = {"symbol": "MSFT", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    code, out, _ = run_cli(capsys, "request", "paper", "POST", "/v2/orders", "--data-file", "-", "--json")
    assert code == 0 and json.loads(out)["json"]["symbol"] == "MSFT"


def test_token_command(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    import httpx

    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    add_profile(emu, "paper", Env.PAPER)
    code, out, _ = run_cli(capsys, "token", "bx")
    assert code == 0
    token = out.strip()
    assert "\n" not in token and secret.secret not in out
    r = httpx.get(emu.urls["broker-sandbox"] + "/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    code, out, _ = run_cli(capsys, "token", "bx", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["access_token"] == token and doc["source"] == "cache"
    assert doc["token_type"] == "Bearer" and 800 < doc["expires_in"] <= 899
    assert doc["expires_at"].endswith("+00:00")
    code, out, _ = run_cli(capsys, "token", "bx", "--no-cache")
    assert out.strip() != token and emu.token_requests(secret.key_id) == 2
    code, _, err = run_cli(capsys, "token", "paper")
    assert code == 2 and "uses key ID + secret; there is no access token" in err
    emu.revoke(secret.key_id)
    code, out, err = run_cli(capsys, "token", "bx", "--no-cache")
    assert code == 1 and out == "" and "invalid_client" in err and err.count("\n") == 1
