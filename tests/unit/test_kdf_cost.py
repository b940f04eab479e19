"""alpaca-tui itself writes and reads the encrypted file only at scrypt n = 2^15.

The suite runs at a test cost (tests/fastkdf/sitecustomize.py); this test runs the real CLI
in a child without that hook and checks the real parameter, both ways: its file says 2^15,
and neither side accepts the other's file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alpaca_tui.core.store import filecrypt
from tests.conftest import TEST_PASSPHRASE

REPO = Path(__file__).resolve().parents[2]


def _clean_env(home: Path, passfile: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k not in ("PYTHONPATH", "ALPACA_TUI_TEST_FAST_KDF")}
    env.update({"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": "file",
                "ALPACA_TUI_PASSPHRASE_FILE": str(passfile), "PYTHONPATH": str(REPO)})
    return env


def _cli(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alpaca_tui", *argv], env=env, input=stdin, text=True,
                          capture_output=True, timeout=60, cwd=REPO)


def test_the_real_cost_is_written_and_only_it_is_read(tmp_path: Path, alpaca_home: Path) -> None:
    passfile = tmp_path / "passphrase"  # alpaca_home's
    real_home = tmp_path / "real"
    env = _clean_env(real_home, passfile)
    add = ["profiles", "add", "p", "--env", "paper", "--flow", "legacy", "--key-id", "PKTEST00000000000001",
           "--secret-stdin"]
    res = _cli(env, *add, stdin="S" * 40 + "\n")
    assert res.returncode == 0, res.stderr
    header = (real_home / "secrets.enc").read_bytes()[:11]
    assert header[8:11] == bytes([15, 8, 1])  # log2 n, r, p (filecrypt's header table)
    assert _cli(env, "exec", "p", "--", sys.executable, "-c", "pass").returncode == 0  # reads the secret

    # this process (test cost) refuses the real file; the real CLI refuses a test-cost file
    assert filecrypt.SCRYPT_LOG2_N == 10
    try:
        path = real_home / "secrets.enc"
        backend = filecrypt.FileBackend(path, _lock(real_home), passphrase=TEST_PASSPHRASE)
        backend.read_all()
    except Exception as exc:  # the one-line refusal of parameters it does not write
        assert "scrypt" in str(exc)
    else:
        raise AssertionError("a file at n = 2^15 was read by a process that writes 2^10")
    test_home = alpaca_home
    env_test = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    made = subprocess.run([sys.executable, "-m", "alpaca_tui", *add], env=env_test, input="S" * 40 + "\n",
                          text=True, capture_output=True, timeout=60, cwd=REPO)
    assert made.returncode == 0, made.stderr
    assert (test_home / "secrets.enc").read_bytes()[8] == 10
    refused = _cli(_clean_env(test_home, passfile), "exec", "p", "--", sys.executable, "-c", "pass")
    assert refused.returncode != 0
    assert "scrypt" in refused.stderr and "Traceback" not in refused.stderr


def _lock(home: Path):  # noqa: ANN202
    from alpaca_tui.core.store.fsutil import HomeLock

    return HomeLock(home)
