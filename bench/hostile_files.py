#!/usr/bin/env python3
"""What hostile files in a home cost a command (issue 12, item 5): wall time and peak RSS.

Builds a home with one real profile in the encrypted file, then runs ``alpaca-tui exec NAME --
true`` (opens the store, decrypts the secrets, execs ``true``) as a child process against:

1. ``baseline``: the intact file;
2. ``crafted_kdf``: the file's header rewritten to scrypt n=2**22, r=8 (what the header may
   claim; the file is otherwise untouched, so only the key derivation costs);
3. ``sparse_1g``: the intact file extended to 1 GiB with a hole (costs no disk);
4. ``fifo_index``: ``index.json`` replaced by a FIFO nobody writes (capped at 10 s here).

Prints ``name=value`` lines: ``<case>_seconds``, ``<case>_max_rss_mib``, ``<case>_exit``.
Usage: python bench/hostile_files.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.store import Store  # noqa: E402

PASSPHRASE = "bench passphrase"


def _home(base: Path, name: str) -> tuple[Path, dict[str, str]]:
    home = base / name
    passfile = base / "passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    env = {**os.environ, "ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": "file",
           "ALPACA_TUI_PASSPHRASE_FILE": str(passfile)}
    env.pop("ALPACA_TUI_EXEC_PROFILE", None)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        bundle = SecretBundle(Secret("PKBENCHBENCHBENCH001", "bench-secret-0123456789ab"))
        Store.open(home).add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKBE…0001"), bundle)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return home, env


def _run(env: dict[str, str], timeout: float = 120.0) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one ``exec p -- true`` in a fresh process."""
    argv = [sys.executable, "-c",
            "import resource, subprocess, sys; "
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, "
            f"timeout={timeout}); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            sys.executable, "-m", "alpaca_tui", "exec", "p", "--", "true"]
    start = time.monotonic()
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout + 5).stdout
    except subprocess.TimeoutExpired:
        return time.monotonic() - start, float("nan"), -1
    elapsed = time.monotonic() - start
    try:
        code, rss_kib = out.split()
    except ValueError:  # the child hit the timeout inside the wrapper
        return elapsed, float("nan"), -1
    return elapsed, int(rss_kib) / 1024, int(code)


def main() -> int:
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    with tempfile.TemporaryDirectory(prefix="alpaca-bench-") as tmp:
        base = Path(tmp)
        cases: dict[str, tuple[dict[str, str], float]] = {}
        home, env = _home(base, "baseline")
        cases["baseline"] = (env, 60.0)

        home, env = _home(base, "crafted")
        raw = bytearray((home / "secrets.enc").read_bytes())
        raw[8], raw[9], raw[10] = 22, 8, 1
        (home / "secrets.enc").write_bytes(bytes(raw))
        cases["crafted_kdf"] = (env, 120.0)

        home, env = _home(base, "sparse")
        with (home / "secrets.enc").open("r+b") as fh:
            fh.truncate(1 << 30)
        cases["sparse_1g"] = (env, 120.0)

        home, env = _home(base, "fifo")
        (home / "index.json").unlink()
        os.mkfifo(home / "index.json", 0o600)
        cases["fifo_index"] = (env, 10.0)

        for name, (env, timeout) in cases.items():
            seconds, rss, code = _run(env, timeout)
            print(f"{name}_seconds={seconds:.2f}")
            print(f"{name}_max_rss_mib={rss:.0f}")
            print(f"{name}_exit={code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
