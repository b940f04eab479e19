"""One command, one table: every benchmark in bench/ (``./dev bench``).

Each bench script prints ``name=value`` lines; this runner collects them with the machine
they came from. Targets (from the issues) are shown beside the figures.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["engine_bench.py", "first_paint.py", "store_bench.py", "hostile_files.py", "proxy_bench.py"]
TARGETS = {
    "token_requests_per_1000_calls": "4-5",
    "single_flight_token_requests": "1",
    "check_vs_httpx_ratio": "<= 1.5",
    "first_paint_ratio": "<= 1.5",
    "store_load_500_ms": "",
    "idle_cpu_pct": "near 0",
    "idle_tui_peak_rss_mib": "",
    "cli_check_unlocked_vs_httpx_ratio": "<= 1.5",
    "proxy_added_p50_ms_c1": "<= 1",
    "proxy_added_p50_ms_c32": "<= 1",
    "proxy_throughput_ratio_c1": ">= 0.8",
    "proxy_throughput_ratio_c32": ">= 0.8",
    "proxy_rss_mib": "",
}

# first_paint.py prints prose; these patterns lift its figures into the table.
PROSE = [
    (re.compile(r"bare Textual app.*?:\s+(\d+) ms"), "bare_textual_first_paint_ms"),
    (re.compile(r"alpaca-tui demo:\s+(\d+) ms"), "demo_first_paint_ms"),
    (re.compile(r"ratio: ([\d.]+)x"), "first_paint_ratio"),
    (re.compile(r"idle CPU.*?: ([\d.]+)% of one core"), "idle_cpu_pct"),
]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {py}"


def main() -> int:
    rows: list[tuple[str, str, str, str]] = []
    failed = 0
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:  # keep whatever figures it printed before failing
            failed += 1
            last = (out.stderr.strip().splitlines() or [""])[-1]
            rows.append((name, "FAILED", last[:60], ""))
        for line in out.stdout.splitlines():
            for rx, key in PROSE:
                m = rx.search(line)
                if m:
                    rows.append((name, key, m.group(1), TARGETS.get(key, "")))
            key, sep, value = line.partition("=")
            if sep and key and " " not in key.strip():
                rows.append((name, key.strip(), value.strip(), TARGETS.get(key.strip(), "")))
    print(f"machine: {machine()}")
    width = max((len(r[1]) for r in rows), default=10)
    print(f"{'benchmark':<18} {'figure':<{width}}  {'value':>12}  target")
    for script, key, value, target in rows:
        print(f"{script:<18} {key:<{width}}  {value:>12}  {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
