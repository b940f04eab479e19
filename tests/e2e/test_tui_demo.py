"""``alpaca-tui demo`` end to end: the installed console script in a real pseudo-terminal,
driven by tests/ptydrive.py (keys in, VT100 screen out), against the in-process emulator
over loopback HTTP. Create a credential with the wizard, watch its token count
down, send a request (200), rotate it, quit; the throwaway demo home is gone afterwards.
The demo never touches the OS keyring: no D-Bus in its environment, and (checked by an import
watch in the child, ``sitecustomize`` on PYTHONPATH) no keyring / Secret Service / D-Bus module
is ever imported."""

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


def ptydrive() -> Path:
    """The driver as a command (``python tests/ptydrive.py --size .. -- CMD :: STEPS``)."""
    return REPO / "tests" / "ptydrive.py"


def console_script() -> str:
    exe = Path(sys.executable).with_name("alpaca-tui")
    if exe.exists():
        return str(exe)
    found = shutil.which("alpaca-tui")
    if not found:
        pytest.fail("the alpaca-tui console script is not installed (pip install -e .)")
    return found


# Loaded by every Python started with it on PYTHONPATH: notes the D-Bus variables it was given
# and every import of a module that could reach the OS keyring, one line each, in AUDIT_ENV.
AUDIT_ENV = "ALPACA_TUI_TEST_KEYRING_AUDIT"
AUDIT_SITECUSTOMIZE = f"""
import os, sys
_out = os.environ.get({AUDIT_ENV!r})
if _out:
    def _note(line):
        with open(_out, "a", encoding="utf-8") as fh:
            fh.write(f"{{os.getpid()}}\\t{{' '.join(sys.argv)}}\\t{{line}}\\n")
    _note("started")
    for _k in os.environ:
        if _k.startswith("DBUS_"):
            _note("env " + _k)
    class _KeyringImportWatch:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("keyring", "secretstorage", "jeepney", "dbus", "gi"):
                _note("import " + name)
            return None
    sys.meta_path.insert(0, _KeyringImportWatch())
"""


def demo_env(tmp_path: Path, tmpdir: Path, **extra: str) -> tuple[dict[str, str], Path]:
    """The child's environment: no D-Bus session (nothing to find a keyring with), TMPDIR for
    the demo home, and the keyring audit; the audit's log."""
    site = tmp_path / "audit-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT_SITECUSTOMIZE)
    log = tmp_path / "keyring-audit.log"
    env = subprocess_env({"TMPDIR": str(tmpdir), AUDIT_ENV: str(log), **extra})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    for k in [k for k in env if k.startswith("DBUS_")]:
        del env[k]
    env.pop("ALPACA_TUI_PASSPHRASE_FILE", None)
    return env, log


def audit(log: Path, program: str) -> list[str]:
    """What the audit noted in the processes running ``program`` (the demo): D-Bus variables,
    keyring imports. Fails when the demo's process was not watched at all."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    ours = [line.split("\t") for line in lines if line.split("\t")[1].endswith(program)]
    assert any(what == "started" for _, _, what in ours), lines
    return [what for _, _, what in ours if what != "started"]


def run(steps: list[str], *, size: str = "100x30", timeout: float = 20.0,
        env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ptydrive()), "--size", size, "--timeout", str(timeout), "--",
         console_script(), "demo", "::", *steps],
        capture_output=True, text=True, env=env, timeout=240)


def screens(out: str) -> list[str]:
    """Split ptydrive output into the screens printed by 'screen' steps (marked before each)."""
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
        # wizard: broker sandbox, OAuth client secret (preselected), name, 1 week, read only, save,
        # check now
        "keys:n", "wait:step 1/", "keys:down,down,down,enter", "wait:· Flow",
        "keys:enter", "wait:· Identifiers", "keys:e2e-oauth,enter", "wait:· Expiration",
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
    env, log = demo_env(tmp_path, tmpdir)
    out = run(steps, env=env)
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
    # wizard, check, tester and rotation ran without the OS keyring
    assert audit(log, "/alpaca-tui demo") == []


def test_readme_first_command_dev_demo(tmp_path: Path) -> None:
    """README's first command, `./dev demo`, as typed: the wrapper (set-up check) starts the
    demo at 80x24 and quits on ctrl+q. The virtualenv is this one. No D-Bus session is given
    and the wrapper starts none (the demo needs no keyring)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env, log = demo_env(tmp_path, tmpdir, ALPACA_TUI_VENV=sys.prefix)
    if not shutil.which("gnome-keyring-daemon", path=env.get("PATH")):
        # as on a desktop: a keyring daemon on PATH (a stand-in), which the wrapper must not start
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "gnome-keyring-daemon").write_text("#!/bin/sh\ncat >/dev/null\n")
        (fake / "gnome-keyring-daemon").chmod(0o755)
        env["PATH"] = os.pathsep.join([str(fake), env.get("PATH", os.defpath)])
    out = subprocess.run(
        [sys.executable, str(ptydrive()), "--size", "80x24", "--timeout", "30", "--",
         str(REPO / "dev"), "demo", "::", "wait:8 credentials · secrets", "screen", "keys:ctrl+q",
         "sleep:1.5"],
        capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Broker sandbox" in out.stdout and "not found" not in out.stdout + out.stderr
    assert not list(tmpdir.glob("alpaca-tui-demo-*")), list(tmpdir.iterdir())
    assert audit(log, "/alpaca-tui demo") == []
