#!/usr/bin/env python3
"""First frame and list populated, against a bare Textual app's first paint; idle CPU.

Every program runs in a real pseudo-terminal (the tests' pty driver, tests/ptydrive.py),
all of them interleaved in each round (same machine state), several rounds; figures are
medians, seconds from the program's start:

- ``bare``: a Textual app showing one label; its first paint is the yardstick.
- ``demo``: ``alpaca-tui demo``. First frame: the table header; list populated: the last
  demo credential's row.
- ``file500``: ``alpaca-tui`` on a home of 500 profiles in the encrypted file, after
  ``alpaca-tui unlock`` (no passphrase asked). List populated: the first environment's
  "125 creds" heading.
- ``keyring500``: the same home in the OS keyring (Secret Service; skipped without one,
  ``./dev bench`` starts a private one).

With ``--baseline DIR`` the alpaca-tui programs also run from another source tree (its
``alpaca_tui`` first on PYTHONPATH), in the same rounds: before/after, side by side.
Target: list populated <= 1.5x the bare app's first paint.

Then idle CPU: ``alpaca-tui demo`` with an OAuth credential's token panel open (its countdown
ticks at 1 Hz), utime+stime from /proc/<pid>/stat over 10 s; and the peak RSS.

Usage: python bench/first_paint.py [--rounds 9] [--idle-seconds 10] [--size 100x30] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.homes import PASSPHRASE, clean_env, fill, forget, keyring_available, unlocked  # noqa: E402
from tests.ptydrive import Terminal, parse_size  # noqa: E402

BARE_APP = '''
from textual.app import App
from textual.widgets import Label


class Bare(App):
    def compose(self):
        yield Label("bare-app-ready")


Bare().run()
'''
FIRST = "Credential"  # the table's header row
DEMO_LIST = "sandbox-readonly-custom"  # the demo's last credential row
STORE_LIST = "125 creds"  # 500 profiles over four environments: a group heading with its count


@dataclass
class Program:
    name: str
    argv: list[str]
    env: dict[str, str]
    first: str
    listed: str | None = None
    runs: list[tuple[float, float | None]] = field(default_factory=list)

    def median(self, i: int) -> float:
        return statistics.median(r[i] for r in self.runs if r[i] is not None)  # type: ignore[misc]


def timed(prog: Program, size: str, cwd: Path) -> tuple[float, float | None]:
    # from a directory holding no tree: `-m` puts the working directory first on sys.path, ahead
    # of PYTHONPATH (from the repository, the baseline rows would run this tree too)
    with Terminal(prog.argv, size=parse_size(size), env=prog.env, cwd=cwd) as term:
        if not term.wait(prog.first, 60):
            raise SystemExit(f"{prog.name}: {prog.first!r} not shown:\n{term.text()}")
        first = term.elapsed()
        listed = None
        if prog.listed is not None:
            if not term.wait(prog.listed, 60):
                raise SystemExit(f"{prog.name}: {prog.listed!r} not shown:\n{term.text()}")
            listed = term.elapsed()
        term.press("ctrl+q", settle=0.2)
    return first, listed


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def memory_kb(pid: int) -> tuple[int, int]:
    """(peak RSS, current RSS) in KiB from /proc/<pid>/status (VmHWM, VmRSS)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def bare_peak_kb(bare_argv: list[str], size: str, env: dict[str, str]) -> int:
    """Peak RSS of the bare Textual app after its first paint plus a second of idling."""
    with Terminal(bare_argv, size=parse_size(size), env=env) as tty:
        if not tty.wait("bare-app-ready", 30):
            raise SystemExit("bare app did not paint:\n" + tty.text())
        tty.settle(1.0)
        peak = memory_kb(tty.pid)[0]
        tty.press("ctrl+q", settle=0.5)
    return peak


def idle_cpu(argv: list[str], seconds: float, size: str, env: dict[str, str]) -> tuple[float, str, int, int]:
    with Terminal([*argv, "demo"], size=parse_size(size), env=env) as tty:
        if not tty.wait(r"\d+ credentials", 30):
            raise SystemExit("demo credentials did not load:\n" + tty.text())
        tty.press("ctrl+p")
        tty.wait("Search", 5)
        tty.type("countdown")
        tty.wait("countdown", 5)
        tty.settle(0.5)
        tty.press("enter")
        if not tty.wait(r"\d\d:\d\d left", 20):
            raise SystemExit("token countdown not shown:\n" + tty.text())
        tty.settle(2.0)
        first = tty.text()
        t0, c0 = time.monotonic(), cpu_ticks(tty.pid)
        tty.settle(seconds)
        t1, c1 = time.monotonic(), cpu_ticks(tty.pid)
        peak_kb = memory_kb(tty.pid)[0]
        emulator_kb = sum(memory_kb(c)[0] for c in children(tty.pid))
        ticked = "ticking" if first != tty.text() else "NOT ticking"
        tty.press("ctrl+q", settle=0.5)
    pct = 100.0 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
    return pct, ticked, peak_kb, emulator_kb


def programs(tmp: Path, env: dict[str, str], baseline: Path | None, stack: ExitStack) -> list[Program]:
    ours = [sys.executable, "-m", "alpaca_tui"]
    trees = [("", ROOT)] + ([("baseline_", baseline)] if baseline else [])
    homes = {}
    passfile = tmp / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    homes["file500"] = tmp / "file500"
    fill(homes["file500"], 500, "file")
    stack.enter_context(unlocked(homes["file500"], env, passfile))
    ok, why = keyring_available()
    if ok:
        homes["keyring500"] = tmp / "keyring500"
        store = fill(homes["keyring500"], 500, "system")
        stack.callback(forget, store)  # the keyring may be the user's own: leave nothing in it
    else:
        print(f"# keyring500 skipped: no usable OS keyring ({why}); ./dev bench starts one")
    progs = []
    for prefix, tree in trees:
        tree_env = env | {"PYTHONPATH": str(tree)}
        progs.append(Program(f"{prefix}demo", [*ours, "demo"], tree_env, FIRST, DEMO_LIST))
        for name, home in homes.items():
            progs.append(Program(f"{prefix}{name}", ours, tree_env | {"ALPACA_TUI_HOME": str(home)},
                                 FIRST, STORE_LIST))
    return progs


def report(bare: Program, progs: list[Program], rounds: int) -> None:
    b = bare.median(0)
    print(f"# medians of {rounds} rounds, seconds from start; bare Textual app first paint "
          f"{b * 1000:.0f} ms (runs: {' '.join(f'{r[0] * 1000:.0f}' for r in bare.runs)})")
    print(f"bare_first_paint_ms={b * 1000:.0f}")
    for p in progs:
        first, listed = p.median(0), p.median(1)
        print(f"# {p.name}: first frame {first * 1000:.0f} ms ({first / b:.2f}x), list populated "
              f"{listed * 1000:.0f} ms ({listed / b:.2f}x; runs: "
              + " ".join(f"{r[1] * 1000:.0f}" for r in p.runs if r[1] is not None) + ")")
        print(f"{p.name}_first_frame_ms={first * 1000:.0f}")
        print(f"{p.name}_list_populated_ms={listed * 1000:.0f}")
        print(f"{p.name}_first_frame_ratio={first / b:.2f}")
        print(f"{p.name}_list_populated_ratio={listed / b:.2f}")
    demo = next(p for p in progs if p.name == "demo")
    print(f"first_paint_ratio={demo.median(0) / b:.2f}")  # the figure's older name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)  # a 2-core machine varies by ±20 % run to run
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--size", default="100x30")
    ap.add_argument("--no-idle", action="store_true")
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="another source tree to compare with")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alpaca-tui-bench-"))
    # Like an installed package: every program runs from cached bytecode (the warm-up round
    # writes it, into a private prefix so the source trees stay clean).
    env = clean_env(PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    try:
        with ExitStack() as stack:
            (tmp / "bare_app.py").write_text(BARE_APP)
            bare = Program("bare", [sys.executable, str(tmp / "bare_app.py")], env, "bare-app-ready")
            progs = programs(tmp, env, args.baseline, stack)
            for rnd in range(args.rounds + 1):  # round 0 warms the caches, not counted
                for prog in [bare, *progs]:
                    result = timed(prog, args.size, tmp)
                    if rnd:
                        prog.runs.append(result)
            report(bare, progs, args.rounds)
        if not args.no_idle:
            bare_kb = bare_peak_kb(bare.argv, args.size, env)
            ours = [sys.executable, "-m", "alpaca_tui"]
            pct, ticked, peak_kb, emulator_kb = idle_cpu(ours, args.idle_seconds, args.size,
                                                         env | {"PYTHONPATH": str(ROOT)})
            print(f"idle CPU with the token countdown {ticked}: {pct:.1f}% of one core over "
                  f"{args.idle_seconds:.0f} s (/proc/<pid>/stat utime+stime)")
            print(f"idle_cpu_pct={pct:.1f}")
            print(f"# memory of the idle demo, /proc/<pid>/status VmHWM: the TUI {peak_kb / 1024:.1f} MiB, "
                  f"its emulator child {emulator_kb / 1024:.1f} MiB")
            print(f"idle_tui_peak_rss_mib={peak_kb / 1024:.1f}")
            print(f"demo_emulator_peak_rss_mib={emulator_kb / 1024:.1f}")
            print(f"bare_textual_peak_rss_mib={bare_kb / 1024:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0  # a benchmark reports; targets are judged by whoever reads the table


if __name__ == "__main__":
    raise SystemExit(main())
