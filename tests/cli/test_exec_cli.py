"""``alpaca-tui exec`` in real child processes: the environment per flow, no secrets for OAuth,
nesting refused, exit codes passed through."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env, run_sub

__all__ = ["emu"]

PRINT_ENV = ("import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
             "if k.startswith(('APCA_', 'ALPACA_', 'DATA_API_URL'))}))")


def child_env(home: Path, name: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, str]:
    proc = run_sub("exec", name, *extra, "--", sys.executable, "-c", PRINT_ENV,
                   env=home_env(home) | (env or {}))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_legacy_paper_and_live(alpaca_home: Path, emu: Emulator) -> None:
    paper = add_profile(emu, "paper", Env.PAPER)
    live = add_profile(emu, "live", Env.LIVE)
    env = child_env(alpaca_home, "paper")
    assert env["APCA_API_KEY_ID"] == paper.key_id == env["ALPACA_API_KEY"]
    assert env["APCA_API_SECRET_KEY"] == paper.secret == env["ALPACA_SECRET_KEY"]
    assert env["APCA_API_BASE_URL"] == emu.urls["trading-paper"] == env["ALPACA_BASE_URL"]
    assert env["APCA_API_DATA_URL"] == emu.urls["data"] == env["DATA_API_URL"]
    assert env["ALPACA_PAPER_TRADE"] == "true"
    assert env["APCA_API_STREAM_URL"] == emu.urls["data"]   # the emulator's data port serves the streams
    assert env["ALPACA_TUI_EXEC_PROFILE"] == "paper" and env["ALPACA_TUI_EXEC_ENV"] == "paper"
    assert "APCA_API_OAUTH_TOKEN" not in env
    # the variables really authenticate, the way alpaca-trade-api would use them
    r = httpx.get(env["APCA_API_BASE_URL"] + "/v2/account",
                  headers={"APCA-API-KEY-ID": env["APCA_API_KEY_ID"],
                           "APCA-API-SECRET-KEY": env["APCA_API_SECRET_KEY"]})
    assert r.status_code == 200
    env = child_env(alpaca_home, "live")
    assert env["ALPACA_PAPER_TRADE"] == "false" and env["APCA_API_KEY_ID"] == live.key_id
    assert env["APCA_API_BASE_URL"] == emu.urls["trading-live"]


@pytest.mark.parametrize("flow", [Flow.CLIENT_SECRET, Flow.PRIVATE_KEY_JWT])
def test_oauth_gets_a_token_not_the_secret(alpaca_home: Path, emu: Emulator, flow: Flow) -> None:
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, flow)
    inherited = {"APCA_API_SECRET_KEY": "stale-parent-secret", "ALPACA_API_KEY": "stale-parent-key"}
    env = child_env(alpaca_home, "bx", env=inherited)
    values = "\n".join(env.values())
    for s in secret.values():
        assert s not in values
    for line in (secret.private_key_pem or "").splitlines()[1:-1]:
        assert line not in values
    assert "APCA_API_SECRET_KEY" not in env and "ALPACA_API_KEY" not in env  # stale parent vars removed
    assert "APCA_API_KEY_ID" not in env
    token = env["APCA_API_OAUTH_TOKEN"]
    assert token and env["APCA_API_OAUTH"] == token
    exp = datetime.fromisoformat(env["ALPACA_TUI_TOKEN_EXPIRES_AT"].replace("Z", "+00:00"))
    assert timedelta(minutes=13) < exp - datetime.now(UTC) <= timedelta(seconds=899)
    assert 780 < int(env["ALPACA_TUI_TOKEN_EXPIRES_IN"]) <= 899
    assert env["ALPACA_BROKER_BASE_URL"] == emu.urls["broker-sandbox"]
    # issue 13: a Trading API variable never points at a broker host (alpaca-trade-api would send
    # /v2/account there and get 404)
    assert "APCA_API_BASE_URL" not in env and "ALPACA_BASE_URL" not in env
    assert env["APCA_API_DATA_URL"] == emu.urls["data-sandbox"]
    r = httpx.get(env["ALPACA_BROKER_BASE_URL"] + "/v1/accounts",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    # a second exec reuses the cached token
    assert child_env(alpaca_home, "bx")["APCA_API_OAUTH_TOKEN"] == token
    assert emu.token_requests(secret.key_id) == 1


def test_broker_basic_profile(alpaca_home: Path, emu: Emulator) -> None:
    secret = add_profile(emu, "bb", Env.BROKER_LIVE)
    env = child_env(alpaca_home, "bb")
    assert env["APCA_API_KEY_ID"] == secret.key_id and env["APCA_API_SECRET_KEY"] == secret.secret
    assert env["ALPACA_BROKER_BASE_URL"] == emu.urls["broker-live"]
    assert "ALPACA_PAPER_TRADE" not in env
    assert "APCA_API_BASE_URL" not in env and "DATA_API_URL" not in env
    assert env["APCA_API_DATA_URL"] == emu.urls["data"] == env["ALPACA_DATA_URL"]


def test_nesting_refused(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    proc = run_sub("exec", "paper", "--", sys.executable, "-c", "print('ran')",
                   env=home_env(alpaca_home) | {"ALPACA_TUI_EXEC_PROFILE": "outer"})
    assert proc.returncode == 2 and "ran" not in proc.stdout
    assert "already inside 'alpaca-tui exec' for profile 'outer'" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_exit_codes(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    henv = home_env(alpaca_home)
    proc = run_sub("exec", "paper", "--", sys.executable, "-c", "import sys; sys.exit(7)", env=henv)
    assert proc.returncode == 7
    proc = run_sub("exec", "paper", "--", "no-such-command-alpaca-tui", env=henv)
    assert proc.returncode == 127
    assert proc.stderr == "alpaca-tui: error: command not found: no-such-command-alpaca-tui\n"
    proc = run_sub("exec", "paper", env=henv)
    assert proc.returncode == 2 and "no command given" in proc.stderr
    proc = run_sub("exec", "nobody", "--", "true", env=henv)
    assert proc.returncode == 2 and "no profile named 'nobody'" in proc.stderr
    # our options may also follow NAME (before "--"); the command's own "--" stays the command's
    proc = run_sub("exec", "paper", "--no-cache", "--", sys.executable, "-c",
                   "import sys; print(sys.argv[1:])", "--", "x", env=henv)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['--', 'x']"
    proc = run_sub("exec", "paper", "--bogus", "--", "true", env=henv)
    assert proc.returncode == 2 and "unknown option '--bogus'" in proc.stderr


def test_expired_refused_and_token_failure(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "old", Env.PAPER, expires_at=datetime.now(UTC) - timedelta(hours=1))
    bad = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    emu.revoke(bad.key_id)
    henv = home_env(alpaca_home)
    proc = run_sub("exec", "old", "--", sys.executable, "-c", "print('ran')", env=henv)
    assert proc.returncode == 1 and "expired" in proc.stderr and "ran" not in proc.stdout
    proc = run_sub("exec", "bx", "--", sys.executable, "-c", "print('ran')", env=henv)
    assert proc.returncode == 1 and "invalid_client" in proc.stderr and "ran" not in proc.stdout
    assert "Traceback" not in proc.stderr
