"""The scope guard and the error explanations through the real CLI against the emulator:
``request`` refuses what the access matrix forbids and unknown writes (``--force`` sends),
warns on unknown reads; ``request``, ``check`` and ``token`` print cause + fix lines."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env, issue_credential, run_cli
from tests.conftest import cli_argv
from tests.ptydrive import Terminal

__all__ = ["emu"]
Cap = pytest.CaptureFixture[str]
ACC = "7d6b1f6e-33c5-4c1f-9d6a-0b3c5a1e2f40"
WITHDRAW = f"/v1beta/accounts/{ACC}/funding_wallet/withdrawal"


def _no_funding() -> AccessMatrix:
    return AccessMatrix.full().with_level(Scope.FUNDING, Level.NONE)


def test_funding_at_no_access_cannot_withdraw(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=_no_funding())
    broker, data = emu.requests("broker-sandbox"), emu.requests("data-sandbox")
    code, out, err = run_cli(capsys, "request", "bx", "POST", WITHDRAW, "--data", '{"amount": "10"}')
    assert code == 2 and out == ""
    assert f"POST {WITHDRAW} needs Funding (read-write)" in err and "Funding: no access" in err
    assert "--force" in err and err.count("\n") == 1
    assert (emu.requests("broker-sandbox"), emu.requests("data-sandbox")) == (broker, data)  # nothing sent
    # --repeat is guarded the same way
    code, _, err = run_cli(capsys, "request", "bx", "GET", f"/v1/accounts/{ACC}/transfers", "--repeat", "3")
    assert code == 2 and "needs Funding (read-only)" in err
    assert emu.requests("broker-sandbox") == broker
    # --force sends it, to the broker host (a /v1beta/ broker path is not market data)
    code, _, err = run_cli(capsys, "request", "bx", "POST", WITHDRAW, "--data", '{"amount": "10"}', "--force")
    assert "warning: sent with --force" in err
    assert emu.requests("broker-sandbox") == broker + 1 and emu.requests("data-sandbox") == data


def test_unknown_writes_are_refused_unless_forced(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    """PATCH /v1/correspondents/me: the emulator serves it, Alpaca's Broker API has no such path."""
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)   # full access
    before = emu.requests("broker-sandbox")
    body = '{"name": "x"}'
    code, _, err = run_cli(capsys, "request", "bx", "PATCH", "/v1/correspondents/me", "--data", body)
    assert code == 2
    assert "is not an operation of Alpaca's Broker API 1.1.1" in err and "--force" in err
    assert emu.requests("broker-sandbox") == before
    code, out, err = run_cli(capsys, "request", "bx", "PATCH", "/v1/correspondents/me", "--data", body,
                             "--force", "--json")
    assert code == 0, err
    assert emu.requests("broker-sandbox") == before + 1
    assert any("sent with --force" in w for w in json.loads(out)["warnings"])


def test_unknown_reads_warn_and_are_sent(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=AccessMatrix.read_only())
    code, out, err = run_cli(capsys, "request", "bx", "GET", "/v1/correspondents", "--json")
    assert code == 0
    assert err.startswith("warning: GET /v1/correspondents is not an operation of Alpaca's Broker API")
    doc = json.loads(out)
    assert doc["status"] == 200 and len(doc["warnings"]) == 1 and "sent anyway" in doc["warnings"][0]
    # reference data needs no scope and draws no warning
    code, _, err = run_cli(capsys, "request", "bx", "GET", "/v1/assets")
    assert code == 0 and "warning" not in err


def test_request_explains_a_401(alpaca_home: Path, emu: Emulator, capsys: Cap,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret = add_profile(emu, "paper", Env.PAPER)
    emu.revoke(secret.key_id)
    code, _, err = run_cli(capsys, "request", "paper", "GET", "/v2/account")
    assert code == 1 and err.count("\n") == 1           # not a terminal: the one-line contract
    monkeypatch.setenv("ALPACA_TUI_EXPLAIN", "1")
    code, _, err = run_cli(capsys, "request", "paper", "GET", "/v2/account")
    lines = err.splitlines()
    assert code == 1 and len(lines) == 3 and lines[0].startswith("alpaca-tui: error: bad credentials")
    assert lines[1].startswith("  cause: ") and "paper key used on live" in lines[1] and "revoked" in lines[1]
    assert lines[2].startswith("  fix:   ") and "alpaca-tui check paper" in lines[2]
    monkeypatch.setenv("ALPACA_TUI_EXPLAIN", "0")
    code, out, err = run_cli(capsys, "request", "paper", "GET", "/v2/account", "--json")
    assert err == "" and json.loads(out)["error"]["cause"].startswith("the API did not accept")


def test_check_and_token_explain(alpaca_home: Path, emu: Emulator, capsys: Cap,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    emu.revoke(secret.key_id)
    monkeypatch.setenv("ALPACA_TUI_EXPLAIN", "1")
    code, out, err = run_cli(capsys, "token", "bx", "--no-cache")
    lines = err.splitlines()
    assert code == 1 and out == "" and len(lines) == 3
    assert "invalid_client" in lines[0] and lines[1].startswith("  cause: client authentication failed")
    assert "alpaca-tui rotate bx" in lines[2]
    code, out, err = run_cli(capsys, "check", "bx", "--no-cache")
    assert code == 1 and len(out.splitlines()) == 1      # the table is unchanged
    assert err.splitlines()[0] == "bx auth:" and "  cause: client authentication failed" in err
    code, out, _ = run_cli(capsys, "check", "bx", "--no-cache", "--json")
    res = json.loads(out)["results"][0]
    assert res["cause"].startswith("client authentication failed") and "rotate bx" in res["fix"]


class _Subscription(BaseHTTPRequestHandler):
    """A market-data host whose plan stops at IEX: Alpaca's answer to a SIP query."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"message": "subscription does not permit querying recent SIP data"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sip_refusing_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Subscription)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_subscription_limit_is_not_called_a_bad_key(alpaca_home: Path, emu: Emulator, capsys: Cap,
                                                      sip_refusing_host: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    profile, bundle = issue_credential(emu, "paper", Env.PAPER)
    endpoints = {**dict(profile.endpoints or {}), Api.DATA: sip_refusing_host}
    Store.open().add_profile(replace(profile, endpoints=endpoints), bundle)
    monkeypatch.setenv("ALPACA_TUI_EXPLAIN", "1")
    code, _, err = run_cli(capsys, "request", "paper", "GET", "/v2/stocks/AAPL/bars?feed=sip")
    assert code == 1
    first, cause, fix = err.splitlines()
    assert first.startswith("alpaca-tui: error: forbidden: subscription does not permit")
    assert "not a credential problem" in first and "bad credentials" not in first
    assert "data subscription rather than the key" in cause and "feed=iex" in fix


def test_at_a_terminal_errors_explain_themselves(alpaca_home: Path, emu: Emulator) -> None:
    """A real pty: no ALPACA_TUI_EXPLAIN, stderr is a terminal, so cause + fix follow the error."""
    secret = add_profile(emu, "paper", Env.PAPER)
    emu.revoke(secret.key_id)
    env = {k: v for k, v in home_env(alpaca_home).items()}
    with Terminal(cli_argv("request", "paper", "GET", "/v2/account"), size=(160, 20), extra_env=env) as term:
        assert term.wait_exit(timeout=30) == 1
        screen = term.text()
    assert "alpaca-tui: error: bad credentials" in screen
    assert "  cause: the API did not accept the credential" in screen
    assert "  fix:   check that the profile's environment matches the key" in screen
