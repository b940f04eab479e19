"""One command, one table: every benchmark in bench/ (``./dev bench [--baseline REV]``).

Each bench script prints ``name=value`` lines; this runner collects them with the machine
they came from. Targets (from the issues) are shown beside the figures. With ``--baseline
REV`` (e.g. ``main``) that revision's source tree is exported (``git archive``) and the
scripts run its alpaca-tui alongside this one in the same rounds: a ``baseline`` column.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = ["engine_bench.py", "first_paint.py", "store_bench.py", "hostile_files.py", "proxy_bench.py",
           "vault_bench.py", "keyring_clients.py"]
BASELINE_AWARE = {"engine_bench.py", "first_paint.py"}
TARGETS = {
    "token_requests_per_1000_calls": "4-5",
    "single_flight_token_requests": "1",
    "check_vs_httpx_ratio": "<= 1.5",
    "cli_check_unlocked_vs_httpx_ratio": "<= 1.3",
    "cli_check_keyring_vs_httpx_ratio": "<= 1.5",
    "demo_first_frame_ratio": "",
    "demo_list_populated_ratio": "<= 1.5",
    "file500_list_populated_ratio": "<= 1.5",
    "keyring500_list_populated_ratio": "<= 1.5",
    "first_paint_ratio": "<= 1.5",
    "store_load_500_ms": "",
    "idle_cpu_pct": "near 0",
    "idle_tui_peak_rss_mib": "",
    "proxy_added_p50_ms_c1": "<= 1",
    "proxy_added_p50_ms_c32": "<= 1",
    "proxy_throughput_ratio_c1": ">= 0.8",
    "proxy_throughput_ratio_c32": ">= 0.8",
    "proxy_rss_mib": "",
    "cli_check_vault_vs_file_ratio": "",
    "keyring_clients_ours_failed_calls": "0",
    "keyring_clients_ours_daemon_died_rounds": "0",
    "keyring_clients_ours_hung_rounds": "0",
}


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, " \
           f"Python {platform.python_version()}{load}"


def export(rev: str, where: Path) -> Path:
    """The source tree of ``rev`` (git archive), for the baseline column."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def collect(name: str, extra: list[str]) -> tuple[dict[str, str], str | None]:
    out = subprocess.run([sys.executable, str(HERE / name), *extra], capture_output=True, text=True,
                         timeout=1800)
    figures = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and " " not in key.strip() and not key.startswith("#"):
            figures[key.strip()] = value.strip()
    failure = None
    if out.returncode != 0:  # keep whatever figures it printed before failing
        failure = ((out.stderr.strip().splitlines() or [""])[-1])[:80]
    return figures, failure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", metavar="REV", help="git revision to measure alongside (e.g. main)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alpaca-tui-bench-baseline-"))
    rows: list[tuple[str, str, str, str, str]] = []
    failed = 0
    try:
        baseline = export(args.baseline, tmp) if args.baseline else None
        for name in SCRIPTS:
            extra = ["--baseline", str(baseline)] if baseline and name in BASELINE_AWARE else []
            figures, failure = collect(name, extra)
            if failure:
                failed += 1
                rows.append((name, "FAILED", failure, "", ""))
            for key, value in figures.items():
                if key.startswith("baseline_"):
                    continue
                rows.append((name, key, value, figures.get("baseline_" + key, ""), TARGETS.get(key, "")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {machine()}")
    if args.baseline:
        print(f"baseline: {args.baseline} (same rounds, interleaved)")
    width = max((len(r[1]) for r in rows), default=10)
    base = f"  {'baseline':>12}" if args.baseline else ""
    print(f"{'benchmark':<16} {'figure':<{width}}  {'value':>12}{base}  target")
    for script, key, value, before, target in rows:
        col = f"  {before:>12}" if args.baseline else ""
        print(f"{script:<16} {key:<{width}}  {value:>12}{col}  {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
