"""``alpaca-tui check NAME`` of a key-pair profile runs without the async engine.

(And as a process it still leaves at once on ctrl+c, as the engine's did: nothing waits for
a GET in flight.)

The process never imports asyncio, the engine (``core/engine.py``, ``core/auth/``) or the
async side of httpx's stack beyond what a bare ``httpx.Client`` script imports itself
(httpcore imports its ``_async`` package and anyio's top module on every import; the
asyncio backend of anyio, ``anyio._core`` / ``anyio._backends``, and sniffio come only with
an event loop). A profile with an OAuth credential still goes through the engine.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, home_env
from tests.conftest import cli_argv, subprocess_env

__all__ = ["emu"]

# (core/deadline.py is on the path: its Deadline is the one both senders use, asyncio only inside
# the engine's functions that need the running loop)
NEVER = ("asyncio", "alpaca_tui.core.engine", "alpaca_tui.core.auth", "alpaca_tui.core.wire",
         "alpaca_tui.core.api", "anyio._core", "anyio._backends", "sniffio",
         # the broker path table: a trading key never asks which scope a path needs
         "alpaca_tui.core.pathscopes", "alpaca_tui.core.scopetable")
ASYNC_STACK = ("anyio", "httpcore._async", "httpcore._backends", "sniffio")

# the CLI as `python -m alpaca_tui` runs it, and at exit the modules it loaded (as JSON on stderr)
CHILD = """
import atexit, json, runpy, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["alpaca_tui", *sys.argv[1:]]
runpy.run_module("alpaca_tui", run_name="__main__", alter_sys=True)
"""

BARE = """
import json, sys, httpx
with httpx.Client(timeout=10) as c:
    c.get(sys.argv[1] + "/v2/account")
print(json.dumps(sorted(sys.modules)))
"""


def loaded(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], env=subprocess_env(home_env(home)),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc, set(json.loads(line.removeprefix("MODULES ")))


def async_stack(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(ASYNC_STACK)}


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_check_of_a_key_pair_profile_imports_no_async_engine(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    proc, modules = loaded(alpaca_home, "check", "paper")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("✓ paper  trading  200"), proc.stdout
    assert imported(modules, NEVER) == []
    bare = subprocess.run([sys.executable, "-c", BARE, emu.urls["trading-paper"]], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60, check=True)
    assert async_stack(modules) <= async_stack(set(json.loads(bare.stdout)))


def test_the_shared_deadline_imports_no_asyncio() -> None:
    """``core/deadline.py`` alone, as the check path imports it: none of the engine's modules."""
    code = "import json, sys, alpaca_tui.core.deadline; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=True)
    modules = set(json.loads(proc.stdout))
    assert "alpaca_tui.core.deadline" in modules
    assert imported(modules, NEVER) == []


def test_check_with_an_oauth_profile_uses_the_engine(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    proc, modules = loaded(alpaca_home, "check", "--all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "asyncio" in modules and "alpaca_tui.core.engine" in modules


def test_ctrl_c_leaves_at_once_with_gets_in_flight(alpaca_home: Path) -> None:
    held: list[socket.socket] = []   # the check's connections: accepted, never answered
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.05)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        profile = Profile("p", Env.PAPER, Flow.LEGACY, "PKSI…0001",
                          endpoints={Api.TRADING: url, Api.DATA: url})
        secret = Secret("PKSILENT000000000001", "silent-secret-0123456789abcdefghijklmno")
        Store.open().add_profile(profile, SecretBundle(secret))
        proc = subprocess.Popen(cli_argv("check", "p", "--timeout", "30"),
                                env=subprocess_env(home_env(alpaca_home)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            give_up = time.monotonic() + 20
            while len(held) < 2 and time.monotonic() < give_up:   # both GETs under way
                try:
                    held.append(server.accept()[0])
                except TimeoutError:
                    pass
            assert len(held) == 2
            time.sleep(0.2)   # their requests written, the answers awaited
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=15)
            waited = time.monotonic() - t0
        finally:
            proc.kill()
            for conn in held:
                conn.close()
    assert proc.returncode == 130, err
    assert waited < 2.0, waited   # not the 30 s deadline of the GETs in flight
    assert "Traceback" not in err


# the collector stays paused through check's imports and resumes, freezing them, as its
# requests go out (core/gcpause.py); reported on stderr at exit
GC_CHILD = """
import atexit, gc, runpy, sys
from alpaca_tui.core import gcpause
calls = []
original = gcpause.resume
def spy(*, freeze=False):
    calls.append((gc.isenabled(), freeze, "httpx" in sys.modules))
    return original(freeze=freeze)
gcpause.resume = spy
atexit.register(lambda: print("GC", calls[0], gc.isenabled(), gc.get_freeze_count() > 10000, file=sys.stderr))
sys.argv = ["alpaca_tui", *sys.argv[1:]]
runpy.run_module("alpaca_tui", run_name="__main__", alter_sys=True)
"""


def test_check_runs_its_start_up_without_the_collector(alpaca_home: Path, emu: Emulator) -> None:
    add_profile(emu, "paper", Env.PAPER)
    proc = subprocess.run([sys.executable, "-c", GC_CHILD, "check", "paper"],
                          env=subprocess_env(home_env(alpaca_home)), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # first resume: while paused, freezing, with httpx already imported; on at the end
    assert "GC (False, True, True) True True" in proc.stderr, proc.stderr[-2000:]
