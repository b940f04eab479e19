"""``alpaca-tui proxy NAME`` and ``alpaca-tui audit`` as real processes: the printed URLs and
variables work (with httpx and with curl, as the README's recipes say), Ctrl-C / SIGTERM stop
it cleanly, a running proxy shows in its status file, and the audit log lists what it did."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.proxy.status import running_proxies
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env, run_sub
from tests.conftest import cli_argv, subprocess_env

__all__ = ["emu"]


@pytest.fixture
def start_proxy(alpaca_home: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            cli_argv("proxy", *args),
            env=subprocess_env(home_env(alpaca_home)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, proc.stderr.read() if proc.stderr else ""
        return proc, first

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def free_port_pair() -> int:
    """A port N with N + 1 free as well (the proxy takes one per API)."""
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
            if port >= 65000:
                continue
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two free ports in a row")


def test_proxy_json_then_calls_then_sigterm_then_audit(
    alpaca_home: Path, emu: Emulator, start_proxy: Any
) -> None:
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    proc, first = start_proxy("bx", "--json")
    info = json.loads(first)
    env = info["environment"]
    assert info["profile"] == "bx" and set(info["urls"]) == {"broker", "data"}
    assert env["ALPACA_BROKER_BASE_URL"] == info["urls"]["broker"] and "APCA_API_BASE_URL" not in env
    assert secret.secret not in first and secret.key_id not in first  # nothing real printed
    auth = (env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"])
    r = httpx.get(env["ALPACA_BROKER_BASE_URL"] + "/v1/accounts", auth=auth)
    assert r.status_code == 200 and r.json()[0]["status"] == "ACTIVE"
    assert httpx.get(env["ALPACA_BROKER_BASE_URL"] + "/v1/accounts").status_code == 401
    time.sleep(2.5)  # the status file is rewritten every 2 s
    running = running_proxies(alpaca_home, time.time(), profile="bx")
    assert len(running) == 1 and running[0].pid == info["pid"] and running[0].requests == 2
    assert running[0].token is not None and running[0].token["token_requests"] == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert running_proxies(alpaca_home, time.time()) == []
    out = run_sub("audit", "bx", "--json", env=home_env(alpaca_home))
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [(x["method"], x["path"], x["status"], x["decision"]) for x in lines] == [
        ("GET", "/v1/accounts", 200, "ok"),
        ("GET", "/v1/accounts", 401, "unauthorized"),
    ]
    assert all(x["profile"] == "bx" for x in lines) and lines[0]["scope"] == "accounts:ro"
    assert lines[1]["scope"] is None  # refused before anything about the call was looked at
    table = run_sub("audit", "--since", "1h", env=home_env(alpaca_home))
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:4] == [
        "TIME",
        "PROFILE",
        "METHOD",
        "PATH",
    ]
    assert "unauthorized" in table.stdout and "/v1/accounts" in table.stdout
    none = run_sub("audit", "nobody", env=home_env(alpaca_home))
    assert none.returncode == 0 and none.stdout.strip() == "no proxied calls for 'nobody'"
    bad = run_sub("audit", "--since", "soon", env=home_env(alpaca_home))
    assert bad.returncode == 2 and "invalid duration" in bad.stderr


def test_proxy_text_output_port_and_ctrl_c(alpaca_home: Path, emu: Emulator, start_proxy: Any) -> None:
    add_profile(emu, "paper", Env.PAPER)
    port = free_port_pair()
    proc, first = start_proxy("paper", "--port", str(port))
    assert first.startswith("alpaca-tui proxy for 'paper' (Paper trading, Key ID + secret) on 127.0.0.1")
    assert proc.stdout is not None
    lines = [proc.stdout.readline().rstrip("\n") for _ in range(2)]
    assert lines[0].split()[:2] == ["trading", f"http://127.0.0.1:{port}"]
    assert f"ws://127.0.0.1:{port}/stream" in lines[0]
    assert lines[1].split()[:2] == ["data", f"http://127.0.0.1:{port + 1}"]
    exports: dict[str, str] = {}
    while "ALPACA_SECRET_KEY" not in exports:  # the last line
        line = proc.stdout.readline()
        if line.startswith("export "):
            key, _, value = line[len("export ") :].strip().partition("=")
            exports[key] = value
    assert exports["APCA_API_BASE_URL"] == f"http://127.0.0.1:{port}"
    assert exports["APCA_API_STREAM_URL"] == exports["APCA_API_DATA_URL"] == f"http://127.0.0.1:{port + 1}"
    if shutil.which("curl"):  # the README's curl recipe, for real
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-H",
                f"APCA-API-KEY-ID: {exports['APCA_API_KEY_ID']}",
                "-H",
                f"APCA-API-SECRET-KEY: {exports['APCA_API_SECRET_KEY']}",
                exports["APCA_API_BASE_URL"] + "/v2/account",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert json.loads(out.stdout)["account_number"] == "PALPACA_123"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    assert proc.stderr is not None and "proxy stopped:" in proc.stderr.read()


def test_proxy_usage_errors(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    proc = run_sub("proxy", "nobody", env=home_env(alpaca_home))
    assert proc.returncode == 2 and "no profile named 'nobody'" in proc.stderr
    proc = run_sub("proxy", "paper", "--port", "80", env=home_env(alpaca_home))
    assert proc.returncode == 2 and "--port" in proc.stderr and proc.stderr.count("\n") == 1
    proc = run_sub("exec", "paper", "--allow-live-writes", "--", "true", env=home_env(alpaca_home))
    assert proc.returncode == 2 and "goes with --proxy" in proc.stderr
