"""``alpaca-tui check`` as a process vs a bare ``python -c`` httpx script making the same two
GETs, for each secret store a user would run it with, interleaved in the same rounds:

- ``passfile``: the encrypted file with ``ALPACA_TUI_PASSPHRASE_FILE`` (scrypt on every call);
- ``unlocked``: the encrypted file after ``alpaca-tui unlock`` (the session agent holds the key);
- ``keyring``: the OS keyring (Secret Service), when one is usable (``./dev bench`` starts one).

With a baseline tree (``--baseline DIR`` of engine_bench.py) the same ``check`` runs from it as
well, in the same rounds. Targets: unlocked <= 1.3x, keyring <= 1.5x.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.homes import PASSPHRASE, clean_env, forget, keyring_available, unlocked  # noqa: E402

BARE_SCRIPT = """
import os, sys, httpx
trading, data, key = sys.argv[1:4]
h = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": os.environ["BENCH_SECRET"]}
with httpx.Client(timeout=10) as c:
    a = c.get(trading + "/v2/account", headers=h)
    b = c.get(data + "/v2/stocks/AAPL/bars/latest", params={"feed": "iex"}, headers=h)
ok = a.status_code == 200 and b.status_code == 200
print(("ok" if ok else "FAIL"), a.status_code, b.status_code)
sys.exit(0 if ok else 1)
"""


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    ms = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"bench command failed: {argv[1:4]}: {proc.stdout} {proc.stderr}")
    return ms


def _stores(emu: Any, tmp: Path, env: dict[str, str], stack: ExitStack) -> dict[str, dict[str, str]]:
    """One home per store kind, each holding the profile ``paper``; name -> the check's environment."""
    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.store import Store
    from bench.engine_bench import profile_for

    passfile = tmp / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    out: dict[str, dict[str, str]] = {}
    kinds = ["file"] + (["system"] if keyring_available()[0] else [])
    for kind in kinds:
        home = tmp / f"home-{kind}"
        profile, bundle = profile_for(emu, "paper", Env.PAPER, Flow.LEGACY)
        store = Store.open(home, backend=kind, passphrase=PASSPHRASE)
        store.add_profile(profile, bundle)
        base = env | {"ALPACA_TUI_HOME": str(home)}
        if kind == "file":
            out["passfile"] = base | {"ALPACA_TUI_PASSPHRASE_FILE": str(passfile)}
            stack.enter_context(unlocked(home, env, passfile))
            out["unlocked"] = base
        else:
            stack.callback(forget, store)
            out["keyring"] = base
    return out


def compare(emu: Any, rounds: int, baseline: Path | None) -> dict[str, float]:
    """Median milliseconds: ``bare`` and, per store kind, ``<kind>`` (+ ``baseline_<kind>``)."""
    tmp = Path(tempfile.mkdtemp(prefix="alpaca-tui-cli-bench-"))
    # Like an installed package: every program runs from cached bytecode (the warm-up rounds write it).
    env = clean_env(PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    samples: dict[str, list[float]] = {}
    with ExitStack() as stack:
        stores = _stores(emu, tmp, env, stack)
        probe = next(iter(stores.values()))
        from alpaca_tui.core.store import Store

        key = Store.open(Path(probe["ALPACA_TUI_HOME"]), passphrase=PASSPHRASE).load_bundle("paper").active
        bare = [sys.executable, "-c", BARE_SCRIPT, emu.urls["trading-paper"], emu.urls["data"], key.key_id]
        bare_env = env | {"BENCH_SECRET": key.secret or ""}  # the secret never goes to argv
        # run from a directory holding no tree: `-m` puts the working directory first on sys.path,
        # ahead of PYTHONPATH (from the repository, every tree's check would run this one)
        check = [sys.executable, "-m", "alpaca_tui", "check", "paper"]
        trees = [("", ROOT)] + ([("baseline_", baseline)] if baseline else [])
        runs = [("bare", bare, bare_env)] + [
            (f"{prefix}{kind}", check, kind_env | {"PYTHONPATH": str(tree)})
            for prefix, tree in trees for kind, kind_env in stores.items()]
        for rnd in range(rounds + 2):  # two warm-up rounds: bytecode, OS caches, keyring's choice recorded
            for name, argv, run_env in runs:
                ms = timed(argv, run_env, tmp)
                if rnd >= 2:
                    samples.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def report(medians: dict[str, float], rounds: int) -> None:
    bare = medians["bare"]
    labels = {"passfile": "encrypted file + passphrase file (scrypt per call)",
              "unlocked": "encrypted file after `alpaca-tui unlock`",
              "keyring": "OS keyring (Secret Service)"}
    print(f"# processes, median of {rounds}: bare `python -c <httpx script>` {bare:.0f} ms")
    print(f"cli_httpx_ms={bare:.0f}")
    for name, ms in medians.items():
        if name == "bare":
            continue
        kind = name.removeprefix("baseline_")
        prefix = name[: len(name) - len(kind)]
        tree = "baseline " if prefix else ""
        print(f"# {tree}`alpaca-tui check paper`, {labels[kind]}: {ms:.0f} ms ({ms / bare:.2f}x)")
        key = {"passfile": "cli_check", "unlocked": "cli_check_unlocked",
               "keyring": "cli_check_keyring"}[kind]
        print(f"{prefix}{key}_ms={ms:.0f}")
        print(f"{prefix}{key}_vs_httpx_ratio={ms / bare:.2f}")
