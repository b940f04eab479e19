#!/usr/bin/env python3
"""The auth proxy's cost on loopback: proxied vs direct calls in one run (issue 11).

Three processes, as in use: the emulator (``alpaca-tui emulator``, rate limits lifted over its
admin port), the proxy (``alpaca-tui proxy NAME --json`` for a paper key), and this load
generator: keep-alive HTTP/1.1 connections written by hand (so the client costs the same for
both paths and as little as possible), each sending ``GET /v2/account`` back to back.

For concurrency 1 and 32 it runs direct (real key pair, to the emulator) and proxied
(placeholder pair, through the proxy) alternately, ``--rounds`` times, and reports the median
of the rounds:

* ``proxy_added_p50_ms_cN``: proxied p50 latency minus direct p50 (goal <= 1 ms);
* ``proxy_throughput_ratio_cN``: proxied requests/s over direct (goal >= 0.8);
* ``proxy_rss_mib``: the proxy's resident memory at the end of the concurrency-32 load, and
  ``proxy_peak_rss_mib`` its high-water mark (VmHWM).

Usage: python bench/proxy_bench.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.redact import mask  # noqa: E402
from alpaca_tui.core.store import Store  # noqa: E402
from alpaca_tui.emulator.client import AdminClient  # noqa: E402

PASSPHRASE = "bench passphrase"


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "alpaca_tui", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{args[0]} did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


async def one_connection(url: str, headers: dict[str, str], n: int, lat: list[float]) -> None:
    host, port = url[len("http://"):].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET /v2/account HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(request)
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in status_and_headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            lat.append((time.perf_counter() - t0) * 1000.0)
            if not status_and_headers.startswith(b"HTTP/1.1 200") or not body:
                raise SystemExit(f"unexpected answer: {status_and_headers[:80]!r}")
    finally:
        writer.close()


async def load(url: str, headers: dict[str, str], total: int, conc: int) -> tuple[float, float]:
    """(p50 latency ms, requests per second) for ``total`` requests over ``conc`` connections."""
    lat: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(one_connection(url, headers, total // conc, lat) for _ in range(conc)))
    elapsed = time.perf_counter() - t0
    return statistics.median(lat), len(lat) / elapsed


def rss_mib(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def prepare(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    passfile = tmp / "passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "ALPACA_"))}
    env.update(ALPACA_TUI_HOME=str(home), ALPACA_TUI_KEYRING="file", ALPACA_TUI_PASSPHRASE_FILE=str(passfile))
    return env


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        env = prepare(Path(d))
        store_vars = ("ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "ALPACA_TUI_PASSPHRASE_FILE")
        os.environ.update({k: env[k] for k in store_vars})
        emu, info = start(["emulator", "--json"], env)
        proxy = None
        try:
            admin = AdminClient(info["urls"]["admin"])
            admin.set_rate_limit("*", 10**9)
            cred = admin.create_credential(Env.PAPER, Flow.LEGACY)
            profile = Profile("bench", Env.PAPER, Flow.LEGACY, mask(cred.key_id),
                              endpoints=admin.endpoints_for(Env.PAPER))
            Store.open().add_profile(profile, SecretBundle(Secret(cred.key_id, cred.secret)))
            proxy, pinfo = start(["proxy", "bench", "--json"], env)
            penv = pinfo["environment"]
            direct = (info["urls"]["trading-paper"], {"APCA-API-KEY-ID": cred.key_id,
                                                      "APCA-API-SECRET-KEY": cred.secret or ""})
            proxied = (penv["APCA_API_BASE_URL"], {"APCA-API-KEY-ID": penv["APCA_API_KEY_ID"],
                                                    "APCA-API-SECRET-KEY": penv["APCA_API_SECRET_KEY"]})
            figures = asyncio.run(measure(direct, proxied, opts, proxy.pid))
        finally:
            for p in (proxy, emu):
                if p is not None:
                    p.terminate()
                    p.wait(10)
    for key, value in figures.items():
        print(f"{key}={value}")
    print("# goals: added p50 <= 1 ms, throughput ratio >= 0.8 (median of the rounds; loopback, "
          "three processes on this machine's cores)")
    return 0


async def measure(direct: tuple[str, dict[str, str]], proxied: tuple[str, dict[str, str]], opts: Any,
                  proxy_pid: int) -> dict[str, str]:
    await load(*direct, 400, 4)        # warm-up: connections, caches, the proxy's first token-less path
    await load(*proxied, 400, 4)
    out: dict[str, str] = {}
    rss = peak = 0.0
    for conc in (1, 32):
        total = opts.requests if conc > 1 else opts.requests // 2
        d_p50, d_rps, p_p50, p_rps = [], [], [], []
        for _ in range(opts.rounds):
            p50, rps = await load(*direct, total, conc)
            d_p50.append(p50)
            d_rps.append(rps)
            p50, rps = await load(*proxied, total, conc)
            p_p50.append(p50)
            p_rps.append(rps)
            if conc == 32:
                rss, peak = rss_mib(proxy_pid)
        med = statistics.median
        out[f"direct_p50_ms_c{conc}"] = f"{med(d_p50):.3f}"
        out[f"proxied_p50_ms_c{conc}"] = f"{med(p_p50):.3f}"
        out[f"proxy_added_p50_ms_c{conc}"] = f"{med(p_p50) - med(d_p50):.3f}"
        out[f"direct_rps_c{conc}"] = f"{med(d_rps):.0f}"
        out[f"proxied_rps_c{conc}"] = f"{med(p_rps):.0f}"
        out[f"proxy_throughput_ratio_c{conc}"] = f"{med(p_rps) / med(d_rps):.2f}"
    out["proxy_rss_mib"] = f"{rss:.1f}"
    out["proxy_peak_rss_mib"] = f"{peak:.1f}"
    return out


if __name__ == "__main__":
    raise SystemExit(main())
