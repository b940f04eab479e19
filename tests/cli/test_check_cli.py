"""``alpaca-tui check`` against the emulator: lines, --json, exit codes, warnings, cache, no TTY."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env, run_cli, run_sub

__all__ = ["emu"]
Cap = pytest.CaptureFixture[str]

RESULT_KEYS = {"profile", "env", "api", "ok", "status", "latency_ms", "category", "message", "request_id",
               "skipped"}


def test_all_pass(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    code, out, err = run_cli(capsys, "check")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("✓ bx     broker   200  ") and lines[0].endswith(" ms")
    assert lines[1].startswith("✓ bx     data     200")
    assert lines[2].startswith("✓ paper  trading  200")
    assert lines[3].startswith("✓ paper  data     200")
    p = Store.open().get_profile("paper")
    assert p.last_check_ok is True and p.last_verified_at is not None


def test_json_and_failure_exit_code(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    bad = add_profile(emu, "live", Env.LIVE)
    emu.revoke(bad.key_id)
    code, out, _err = run_cli(capsys, "check", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and isinstance(doc["warnings"], list)
    assert all(set(r) >= RESULT_KEYS for r in doc["results"])
    by = {(r["profile"], r["api"]): r for r in doc["results"]}
    assert by[("paper", "trading")]["ok"] is True and by[("paper", "trading")]["status"] == 200
    assert isinstance(by[("paper", "trading")]["latency_ms"], float)
    failed = by[("live", "trading")]
    assert failed["ok"] is False and failed["status"] == 401 and failed["category"] == "bad_credentials"
    assert failed["request_id"] and failed["env"] == "live"
    assert "request is not authorized" in failed["message"]
    # human form: one line per result, ✗ with the server's message and request id
    code, out, _ = run_cli(capsys, "check", "live")
    assert code == 1
    assert out.splitlines()[0].startswith("✗ live  trading  401")
    assert "bad credentials: request is not authorized" in out and "request-id" in out
    code, out, _ = run_cli(capsys, "check", "paper")
    assert code == 0


def test_wrong_environment_message(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    add_profile(emu, "mixup", Env.PAPER, profile_env=Env.LIVE)
    code, out, _ = run_cli(capsys, "check", "mixup")
    assert code == 1
    assert "wrong environment" in out and "this looks like a paper key" in out and "used against live" in out


def test_expired_and_expiring(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    now = datetime.now(UTC)
    add_profile(emu, "soon", Env.PAPER, expires_at=now + timedelta(days=3))
    add_profile(emu, "gone", Env.PAPER, expires_at=now - timedelta(days=1))
    before = emu.requests("trading-paper")
    code, out, err = run_cli(capsys, "check")
    assert code == 1
    assert "warning: soon expires in 2d" in err or "warning: soon expires in 3d" in err
    gone = [line for line in out.splitlines() if " gone " in line]
    assert len(gone) == 2 and all(line.startswith("✗") and "expired credential" in line for line in gone)
    assert "'gone'" in gone[0]
    assert emu.requests("trading-paper") == before + 1  # only "soon" was sent


def test_usage_errors(alpaca_home: Path, emu: Emulator, capsys: Cap) -> None:
    code, _, err = run_cli(capsys, "check")
    assert code == 1 and "no profiles" in err
    add_profile(emu, "paper", Env.PAPER)
    code, _, err = run_cli(capsys, "check", "nope")
    assert code == 2 and "no profile named 'nope'" in err
    code, _, err = run_cli(capsys, "check", "paper", "--all")
    assert code == 2
    code, _, err = run_cli(capsys, "check", "--timeout", "abc")
    assert code == 2


def test_token_cache_across_runs_and_no_cache(alpaca_home: Path, emu: Emulator,
                                              capsys: Cap) -> None:
    secret = add_profile(emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    for _ in range(3):
        assert run_cli(capsys, "check", "bj")[0] == 0
    assert emu.token_requests(secret.key_id) == 1
    assert run_cli(capsys, "check", "bj", "--no-cache")[0] == 0
    assert emu.token_requests(secret.key_id) == 2


def test_subprocess_without_tty(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    bad = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    proc = run_sub("check", "--json", env=home_env(alpaca_home))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    emu.revoke(bad.key_id)
    proc = run_sub("check", "bx", "--no-cache", env=home_env(alpaca_home))
    assert proc.returncode == 1
    assert proc.stdout.startswith("✗ bx  auth     401  bad credentials")
    assert "invalid_client" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_long_retry_after_is_capped_by_timeout(alpaca_home: Path, emu: Emulator) -> None:
    """A token endpoint answering 429 with Retry-After ~60 s must not hold a script for minutes:
    with --timeout S no single wait is longer than S."""
    import time

    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    emu.set_retry_after(True)   # the emulator sends Retry-After only behind this switch
    emu.set_rate_limit("authx-sandbox", 1)
    first = run_sub("check", "bx", "--no-cache", "--timeout", "0.5", env=home_env(alpaca_home))
    assert first.returncode == 0, first.stderr
    started = time.monotonic()
    res = run_sub("check", "bx", "--no-cache", "--timeout", "0.5", env=home_env(alpaca_home))
    elapsed = time.monotonic() - started
    assert res.returncode == 1
    assert "rate limited" in res.stdout + res.stderr
    assert elapsed < 15, elapsed  # 3 retries x 0.5 s + start-up, not 3 x 60 s
