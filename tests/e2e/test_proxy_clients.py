"""``alpaca-tui exec NAME --proxy`` with the real SDKs in a real child process (issue 11):
alpaca-py's BrokerClient with the placeholder pair on OAuth broker credentials (client secret
and private-key JWT), alpaca-py's Trading / data clients and alpaca-trade-api's REST() and
Stream built from their own variables on a paper key, and the child's /proc/<pid>/environ
holding nothing real."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("alpaca")
pytest.importorskip("alpaca_trade_api")

from alpaca_tui.core.clock import FakeClock  # noqa: E402
from alpaca_tui.core.credentials import Flow  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.proxy.audit import read_audit  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402
from tests.cli.enginecli_support import add_profile, home_env, run_sub  # noqa: E402
from tests.conftest import cli_argv, subprocess_env  # noqa: E402

CHILD = str(Path(__file__).with_name("proxy_child.py"))
OPEN = 1_800_025_200.0  # 2027-01-15 10:00 New York: market orders fill


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(OPEN)) as e:
        e.stream_interval = 0.2
        yield e


@pytest.fixture
def broker_emu() -> Iterator[Emulator]:
    """On the system clock: the child's proxy signs JWT assertions with the real time."""
    with Emulator() as e:
        yield e


def proxied(home: Path, name: str, *args: str, timeout: float = 90) -> dict:
    proc = run_sub(
        "exec", name, "--proxy", "--", sys.executable, CHILD, *args, env=home_env(home), timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("flow", [Flow.CLIENT_SECRET, Flow.PRIVATE_KEY_JWT])
def test_broker_client_with_the_placeholder_on_an_oauth_credential(
    alpaca_home: Path, broker_emu: Emulator, flow: Flow
) -> None:
    emu = broker_emu
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, flow)
    out = proxied(alpaca_home, "bx", "broker")
    assert out["accounts_after"] == out["accounts_before"] + 1 and out["created_status"] == "ACTIVE"
    assert out["transfers"] >= 1 and out["transfer"]
    assert out["journal_status"] and out["order_status"] == "filled"
    assert len(out["events"]) == 2 and all("account_id" in e for e in out["events"])
    # one token for the whole run (refreshed ahead, shared), none of it in the child
    assert emu.token_requests(secret.key_id) == 1
    lines = read_audit(alpaca_home, profile="bx")
    assert {(r["method"], r["status"], r["decision"]) for r in lines} >= {
        ("GET", 200, "ok"),
        ("POST", 200, "ok"),
    }
    assert any(r["path"] == "/v1/events/accounts/status" for r in lines)
    assert all(r["decision"] == "ok" for r in lines)


def test_trading_and_data_clients_and_alpaca_trade_api_on_a_paper_key(
    alpaca_home: Path, emu: Emulator
) -> None:
    add_profile(emu, "paper", Env.PAPER)
    out = proxied(alpaca_home, "paper", "trading")
    assert out["account"] == out["ata_account"] == "PALPACA_123"
    assert out["order_status"] == "filled" and out["bar_symbols"] == ["AAPL", "MSFT"]
    assert ["MSFT", "2"] in [list(p) for p in out["ata_positions"]] and out["ata_bar_close"] > 0


def test_streams_receive_trade_updates_and_bars_through_the_proxy(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    out = proxied(alpaca_home, "paper", "streams", timeout=120)
    assert out["py_updates"][:2] == [["new", "NVDA"], ["fill", "NVDA"]]
    assert len(out["py_bars"]) == 3 and {b[0] for b in out["py_bars"]} == {"AAPL"}
    assert ["new", "TSLA"] in out["ata_updates"] and ["fill", "TSLA"] in out["ata_updates"]
    assert len(out["ata_bars"]) >= 2 and {b[0] for b in out["ata_bars"]} == {"SPY"}
    streams = [r for r in read_audit(alpaca_home, profile="paper") if r["method"] == "WS"]
    assert {r["path"] for r in streams} == {"/stream", "/v2/iex"} and all(
        r["decision"] == "ok" for r in streams
    )


def _waiting_child(home: Path, name: str) -> subprocess.Popen[str]:
    """``exec NAME --proxy`` running CHILD in its waiting mode (pipes for its stdio)."""
    return subprocess.Popen(cli_argv("exec", name, "--proxy", "--", sys.executable, CHILD, "wait"),
                            env=subprocess_env(home_env(home)), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.parametrize(
    ("env", "flow"),
    [
        (Env.PAPER, Flow.LEGACY),
        (Env.BROKER_SANDBOX, Flow.CLIENT_SECRET),
        (Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT),
    ],
)
def test_the_childs_environ_holds_nothing_real(
    alpaca_home: Path, broker_emu: Emulator, env: Env, flow: Flow
) -> None:
    emu = broker_emu
    secret = add_profile(emu, "p", env, flow)
    proc = _waiting_child(alpaca_home, "p")
    try:
        assert proc.stdout is not None and proc.stdin is not None
        pid = json.loads(proc.stdout.readline())["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        tokens = [t for t in list(emu.state.tokens)]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    variables = dict(v.split(b"=", 1) for v in environ.split(b"\0") if b"=" in v)
    real = [secret.key_id, secret.secret or "", *tokens]
    real += (secret.private_key_pem or "").splitlines()[1:-1]
    for value in filter(None, real):
        assert value.encode() not in environ
    assert b"ALPACA_TUI_PASSPHRASE_FILE" not in variables
    assert variables[b"ALPACA_TUI_PROXY"] == b"1"
    key = variables[b"APCA_API_KEY_ID"].decode()
    assert (
        len(key) == 20 and key[:2] == ("PK" if env is Env.PAPER else "CK") and key.isalnum() and key.isupper()
    )
    assert len(variables[b"APCA_API_SECRET_KEY"]) == 40
    assert variables[b"APCA_API_KEY_ID"] == variables[b"ALPACA_API_KEY"]
    assert b"APCA_API_OAUTH_TOKEN" not in variables
    base = variables[b"ALPACA_BROKER_BASE_URL" if env.is_broker else b"APCA_API_BASE_URL"]
    assert base.startswith(b"http://127.0.0.1:")
    # the proxy run is over: its placeholder is worthless now and its status file is gone
    assert not list((alpaca_home / "proxies").glob("*.json"))


def test_a_refused_credential_fails_before_the_child_starts(alpaca_home: Path, broker_emu: Emulator) -> None:
    emu = broker_emu
    bad = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    emu.revoke(bad.key_id)
    proc = run_sub(
        "exec", "bx", "--proxy", "--", sys.executable, "-c", "print('ran')", env=home_env(alpaca_home)
    )
    assert proc.returncode == 1 and "invalid_client" in proc.stderr and "ran" not in proc.stdout
    assert "Traceback" not in proc.stderr


def test_exit_code_and_signals_pass_through(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    proc = run_sub(
        "exec",
        "paper",
        "--proxy",
        "--",
        sys.executable,
        "-c",
        "import sys; sys.exit(7)",
        env=home_env(alpaca_home),
    )
    assert proc.returncode == 7
    proc = run_sub("exec", "paper", "--proxy", "--", "no-such-command-alpaca-tui", env=home_env(alpaca_home))
    assert proc.returncode == 127 and "command not found" in proc.stderr
    child = _waiting_child(alpaca_home, "paper")
    assert child.stdout is not None
    json.loads(child.stdout.readline())
    time.sleep(0.2)
    child.terminate()  # SIGTERM to exec: passed to the command
    assert child.wait(30) == 128 + 15
