"""``alpaca-tui demo`` end to end: the installed console script in a real pseudo-terminal,
driven by ../shared/tools/ttydrive.py (keys in, VT100 screen out), against the in-process
emulator over loopback HTTP. Create a credential with the wizard, watch its token count
down, send a request (200), rotate it, quit; the throwaway demo home is gone afterwards."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def ttydrive() -> Path:
    env = os.environ.get("ALPACA_TUI_TTYDRIVE")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "tools" / "ttydrive.py"
    if not path.exists():
        pytest.fail(f"ttydrive not found at {path} (set ALPACA_TUI_TTYDRIVE)")
    return path


def console_script() -> str:
    exe = Path(sys.executable).with_name("alpaca-tui")
    if exe.exists():
        return str(exe)
    found = shutil.which("alpaca-tui")
    if not found:
        pytest.fail("the alpaca-tui console script is not installed (pip install -e .)")
    return found


def run(steps: list[str], *, size: str = "100x30", timeout: float = 20.0,
        tmpdir: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env({"TMPDIR": str(tmpdir)})
    env.pop("ALPACA_TUI_PASSPHRASE_FILE", None)
    return subprocess.run(
        [sys.executable, str(ttydrive()), "--size", size, "--timeout", str(timeout), "--",
         console_script(), "demo", "::", *steps],
        capture_output=True, text=True, env=env, timeout=240)


def screens(out: str) -> list[str]:
    """Split ttydrive output into the screens printed by 'screen' steps (marked before each)."""
    parts = re.split(r"^@@ (\w+): [\d.]+s$", out, flags=re.M)
    return [parts[i + 1] for i in range(1, len(parts) - 1, 2)]


def countdown(screen: str) -> int:
    m = re.search(r"│ (\d\d):(\d\d) left", screen)
    assert m, f"no token countdown on screen:\n{screen}"
    return int(m.group(1)) * 60 + int(m.group(2))


def test_demo_wizard_countdown_request_rotate(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    steps = [
        "wait:8 credentials · secrets", "gone:loading auth engine",
        # wizard: broker sandbox, OAuth client secret, name, 1 week, read only, save, check now
        "keys:n", "wait:step 1/", "keys:down,down,down,enter", "wait:· Flow",
        "keys:down,enter", "wait:· Identifiers", "keys:e2e-oauth,enter", "wait:· Expiration",
        "keys:down,enter", "wait:· Access", "keys:enter", "wait:· Review", "keys:enter",
        "wait:connectivity check", "keys:y", "wait:check e2e-oauth", "wait:e2e-oauth .* ✓ now",
        # details of the new credential: the token panel counts down
        "keys:/,e2e,enter", "wait:1 match", "keys:enter", "wait:details · e2e-oauth",
        r"wait:│ \d\d:\d\d left", "mark:@@ countdown1", "screen", "sleep:1.6", "mark:@@ countdown2", "screen",
        # request tester: GET /v1/accounts -> 200
        "keys:t", "wait:tester · e2e-oauth", "keys:ctrl+s", "wait:200 OK", "mark:@@ tester", "screen",
        # rotation: the emulator issues a new key, verify, promote
        "keys:esc", "wait:details · e2e-oauth", "keys:r", "wait:rotate · e2e-oauth", "keys:ctrl+s",
        "wait:✓ Rotated", "mark:@@ rotated", "screen",
        "keys:ctrl+q", "sleep:1.5",
    ]
    out = run(steps, tmpdir=tmpdir)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    shots = dict(zip(re.findall(r"^@@ (\w+):", out.stdout, flags=re.M), screens(out.stdout), strict=True))
    first, second = countdown(shots["countdown1"]), countdown(shots["countdown2"])
    assert 0 < first - second <= 4, (first, second)  # it ticks, in real seconds
    assert "issued" in shots["countdown1"] and "refreshed 0×" in shots["countdown1"]
    tester = shots["tester"]
    assert "GET" in tester and "/v1/accounts" in tester and "✓ 200 OK" in tester
    rotated = shots["rotated"]
    assert "promoted" in rotated and "kept for rollback until" in rotated
    # the throwaway demo home was removed on exit
    assert not list(tmpdir.glob("alpaca-tui-demo-*")), list(tmpdir.iterdir())
    # nothing secret on any screen: every key ID shown is masked
    assert not re.search(r"\bCK[A-Z0-9]{20,}\b", out.stdout)


def test_readme_first_command_dev_demo(tmp_path: Path) -> None:
    """README's first command, `./dev demo`, as typed: the wrapper (set-up check, keyring
    session) starts the demo at 80x24 and quits on ctrl+q. The virtualenv is this one."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = subprocess_env({"TMPDIR": str(tmpdir), "ALPACA_TUI_VENV": sys.prefix})
    env.pop("ALPACA_TUI_PASSPHRASE_FILE", None)
    out = subprocess.run(
        [sys.executable, str(ttydrive()), "--size", "80x24", "--timeout", "30", "--",
         str(REPO / "dev"), "demo", "::", "wait:8 credentials · secrets", "screen", "keys:ctrl+q",
         "sleep:1.5"],
        capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Broker sandbox" in out.stdout and "not found" not in out.stdout + out.stderr
    assert not list(tmpdir.glob("alpaca-tui-demo-*")), list(tmpdir.iterdir())
