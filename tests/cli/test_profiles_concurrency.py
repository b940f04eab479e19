"""20 separate ``alpaca-tui profiles add`` processes at once lose nothing (encrypted-file backend)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import alpaca_tui.cli.main as cli_main
from alpaca_tui.core.store import Store
from tests.conftest import cli_argv, subprocess_env

N = 20
# While other commands are still being written, run main() with the modules that exist.
RUNNER = ("import importlib.util as u, sys, alpaca_tui.cli.main as m; "
          "m.COMMAND_MODULES = tuple(x for x in m.COMMAND_MODULES if u.find_spec(x)); "
          "raise SystemExit(m.main(sys.argv[1:]))")


def _argv(*args: str) -> list[str]:
    if all(importlib.util.find_spec(m) for m in cli_main.COMMAND_MODULES):
        return cli_argv(*args)  # python -m alpaca_tui ...
    return [sys.executable, "-c", RUNNER, *args]


def test_twenty_parallel_adds_all_survive(alpaca_home: Path) -> None:
    env = subprocess_env()
    secrets = {f"p{i:02d}": f"parallel-secret-{i:02d}-" + "k" * 24 for i in range(N)}
    procs = []
    t0 = time.monotonic()
    for i, (name, secret) in enumerate(secrets.items()):
        key_id = f"PKPARALLEL{i:010d}"
        p = subprocess.Popen(_argv("profiles", "add", name, "--env", "paper", "--flow", "legacy",
                                   "--key-id", key_id, "--secret-stdin"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
        procs.append((name, p, secret))
    for name, p, secret in procs:
        out, err = p.communicate(secret + "\n", timeout=120)
        assert p.returncode == 0, f"{name}: {err}"
        assert secret not in out + err
    elapsed = time.monotonic() - t0

    store = Store.open()
    assert [p.name for p in store.list_profiles()] == sorted(secrets), f"lost profiles after {elapsed:.1f}s"
    for name, secret in secrets.items():
        assert store.load_bundle(name).active.secret == secret
    assert not [p for p in alpaca_home.iterdir() if p.name.endswith(".tmp")]
