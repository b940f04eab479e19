"""A driver module run in its own D-Bus session with its own, unlocked gnome-keyring (HOME and
XDG dirs in a temp dir), so what it does to that keyring (lock, kill, freeze, re-alias, flood
with clients) never disturbs the session the rest of the suite uses. The driver writes its
results as JSON for the test to assert on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]

needs_keyring_tools = pytest.mark.skipif(
    not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")),
    reason="needs dbus-run-session and gnome-keyring-daemon (apt: dbus gnome-keyring)")


def private_keyring_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    env = subprocess_env({
        "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_RUNTIME_DIR": str(run),
        "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "ALPACA_TUI_HOME": str(tmp_path / "alpaca"), "ALPACA_TUI_KEYRING": "system",
        "ALPACA_TUI_NO_DEMO_OFFER": "1", **(extra or {}),
    })
    for k in ("DBUS_SESSION_BUS_ADDRESS", "ALPACA_TUI_PASSPHRASE_FILE", "GNOME_KEYRING_CONTROL"):
        env.pop(k, None)
    return env


def run_in_private_keyring(tmp_path: Path, module: str, *args: str, extra: dict[str, str] | None = None,
                           timeout: float = 120, unlock: bool = True) -> dict[str, Any]:
    """``python -m module *args OUT.json`` in a private session; the JSON it wrote. ``unlock=False``
    starts the daemon without a password: no login keyring, so no default collection."""
    out = tmp_path / "result.json"
    start = ('printf "\\n" | gnome-keyring-daemon --unlock --components=secrets' if unlock
             else "gnome-keyring-daemon --start --components=secrets")
    script = f'{start} >/dev/null 2>&1; exec "$@"'
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", script, "sh", sys.executable, "-m",
                        module, *args, str(out)],
                       cwd=ROOT, env=private_keyring_env(tmp_path, extra), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0 and out.exists(), \
        f"driver failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-4000:]}"
    data: dict[str, Any] = json.loads(out.read_text())
    return data
