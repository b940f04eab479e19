#!/usr/bin/env python3
"""Auth-engine figures against the local emulator (real HTTP on 127.0.0.1).

1. Token requests per 1,000 API calls spread over one hour of simulated time (a FakeClock
   shared by the engine and the emulator, so tokens really expire). Target 4-5: a token
   lives 899 s and is refreshed 60 s ahead, so an hour needs ceil(3600 / 839) = 5.
2. Single flight: 100 concurrent calls on a fresh engine (the token endpoint answers
   after 20 ms so the calls really overlap). Target: 1 token request.
3. ``check`` wall time vs a bare httpx script making the same two requests
   (``GET /v2/account`` on trading and ``GET /v2/stocks/AAPL/bars/latest`` on data, for a
   paper key), in the same run, interleaved, median of N rounds. Target ratio <= 1.5.
   a. in-process: a fresh ``Engine`` + ``check`` + close vs a fresh ``httpx.AsyncClient``
      + the two GETs + close;
   b. processes: ``python -m alpaca_tui check NAME`` (store open, secret read, engine)
      vs ``python -c <bare httpx script>``; with the passphrase file (scrypt on every call)
      and after ``alpaca-tui unlock`` (the session agent holds the derived key).

Prints ``name=value`` lines (collected by bench/run.py) plus a short explanation.
Usage: python bench/engine_bench.py [--rounds 15] [--cli-rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alpaca_tui.core.clock import FakeClock  # noqa: E402
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle  # noqa: E402
from alpaca_tui.core.engine import Engine  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.redact import mask  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402

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


def profile_for(emu: Emulator, name: str, env: Env, flow: Flow) -> tuple[Profile, SecretBundle]:
    issued = emu.create_credential(env, flow)
    return (Profile(name, env, flow, mask(issued.key_id), endpoints=emu.endpoints_for(env)),
            SecretBundle(Secret(issued.key_id, secret=issued.secret)))


async def tokens_per_hour() -> tuple[int, int]:
    clock = FakeClock(1_800_000_000)
    with Emulator(clock=clock, broker_rate_limit_per_min=100_000) as emu:
        profile, bundle = profile_for(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        async with Engine(clock=clock, refresh_ahead=60) as engine:
            engine.add_credential(profile, bundle)
            calls = 0
            for _step in range(100):  # 100 steps of 36 s, 10 concurrent calls each = 1,000 calls / hour
                rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(10)))
                assert all(r.ok for r in rs), rs[0]
                calls += len(rs)
                clock.advance(36)
        return emu.token_requests(bundle.active.key_id), calls


async def single_flight() -> int:
    with Emulator() as emu:
        emu.set_latency("authx-sandbox", 0.02)
        profile, bundle = profile_for(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        async with Engine() as engine:
            engine.add_credential(profile, bundle)
            rs = await asyncio.gather(*(engine.request("bx", "GET", "/v1/accounts") for _ in range(100)))
            assert all(r.ok for r in rs)
        return emu.token_requests(bundle.active.key_id)


async def check_vs_httpx(emu: Emulator, rounds: int) -> tuple[float, float]:
    import httpx

    profile, bundle = profile_for(emu, "paper", Env.PAPER, Flow.LEGACY)
    trading = emu.urls["trading-paper"]
    data = emu.urls["data"]
    headers = {"APCA-API-KEY-ID": bundle.active.key_id, "APCA-API-SECRET-KEY": bundle.active.secret or ""}

    async def engine_check() -> float:
        t0 = time.perf_counter()
        async with Engine() as engine:
            engine.add_credential(profile, bundle)
            results = await engine.check("paper")
        assert all(r.ok for r in results), results
        return (time.perf_counter() - t0) * 1000

    # The bare client gets a TLS context built once, outside the timing: neither side should
    # pay for loading the CA bundle per round (the engine never builds one for http://).
    tls = httpx.create_ssl_context()

    async def bare() -> float:
        t0 = time.perf_counter()
        async with httpx.AsyncClient(timeout=10, verify=tls) as client:
            a, b = await asyncio.gather(
                client.get(trading + "/v2/account", headers=headers),
                client.get(data + "/v2/stocks/AAPL/bars/latest", params={"feed": "iex"}, headers=headers))
        assert a.status_code == 200 and b.status_code == 200
        return (time.perf_counter() - t0) * 1000

    await engine_check()
    await bare()  # warm-up: imports, first connections
    eng, raw = [], []
    for _ in range(rounds):
        eng.append(await engine_check())
        raw.append(await bare())
    return statistics.median(eng), statistics.median(raw)


def cli_vs_httpx(emu: Emulator, rounds: int) -> tuple[float, float, float, float | None, str]:
    from alpaca_tui.core.store import Store

    profile, bundle = profile_for(emu, "paper", Env.PAPER, Flow.LEGACY)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        passfile = Path(tmp) / "pass"
        passfile.write_text("bench passphrase\n")
        passfile.chmod(0o600)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ALPACA_TUI_", "PYTEST_")) and k != "PYTHONDONTWRITEBYTECODE"}
        # Like an installed package: both programs run from cached bytecode (the warm-up run
        # writes it, into a private prefix so the source tree stays clean).
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        backend = os.environ.get("ALPACA_TUI_KEYRING", "file")
        env.update({"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": backend,
                    "ALPACA_TUI_PASSPHRASE_FILE": str(passfile)})
        old = {k: os.environ.get(k) for k in env if k.startswith("ALPACA_TUI_")}
        os.environ.update({k: v for k, v in env.items() if k.startswith("ALPACA_TUI_")})
        try:
            Store.open().add_profile(profile, bundle)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        cli = [sys.executable, "-m", "alpaca_tui", "check", "paper"]
        raw = [sys.executable, "-c", BARE_SCRIPT, emu.urls["trading-paper"], emu.urls["data"],
               bundle.active.key_id]
        raw_env = env | {"BENCH_SECRET": bundle.active.secret or ""}  # the secret never goes to argv
        agent_env = {k: v for k, v in env.items() if k != "ALPACA_TUI_PASSPHRASE_FILE"}

        def timed(argv: list[str], run_env: dict[str, str] | None = None) -> float:
            run_env = run_env or (raw_env if argv is raw else env)
            t0 = time.perf_counter()
            proc = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            ms = (time.perf_counter() - t0) * 1000
            if proc.returncode != 0:
                raise SystemExit(f"bench command failed: {argv[2:4]}: {proc.stdout} {proc.stderr}")
            return ms

        # the secret store's share: open it and read the profile's secret, nothing else
        store_only = [sys.executable, "-c", "from alpaca_tui.core.store import Store; "
                      "Store.open().load_bundle('paper')"]
        startup = [sys.executable, "-c", "pass"]
        for _ in range(2):  # warm-up: writes the bytecode cache, warms the OS caches
            timed(cli)
            timed(raw)
            timed(store_only)
        a: list[float] = []
        b: list[float] = []
        s: list[float] = []
        p: list[float] = []
        for _ in range(rounds):
            a.append(timed(cli))
            b.append(timed(raw))
            s.append(timed(store_only))
            p.append(timed(startup))
        # After `alpaca-tui unlock` (the session agent holds the derived key): no passphrase
        # file, no scrypt per call. Only the encrypted-file store has an agent.
        u: list[float] = []
        if backend == "file":
            timed([sys.executable, "-m", "alpaca_tui", "unlock", "--for", "10m"])
            try:
                timed(cli, agent_env)
                for _ in range(rounds):
                    u.append(timed(cli, agent_env))
                    b.append(timed(raw))
            finally:
                timed([sys.executable, "-m", "alpaca_tui", "lock"])
        return (statistics.median(a), statistics.median(b), statistics.median(s) - statistics.median(p),
                statistics.median(u) if u else None, backend)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cli-rounds", type=int, default=7)
    args = ap.parse_args()

    tokens, calls = asyncio.run(tokens_per_hour())
    per_1000 = tokens * 1000 / calls
    print(f"# {calls} API calls over 3600 s of simulated time caused {tokens} token requests")
    print(f"token_requests_per_1000_calls={per_1000:g}")
    print(f"single_flight_token_requests={asyncio.run(single_flight())}")
    with Emulator() as emu:
        eng_ms, raw_ms = asyncio.run(check_vs_httpx(emu, args.rounds))
        print(f"# in-process, median of {args.rounds}: Engine.check {eng_ms:.1f} ms vs bare httpx "
              f"{raw_ms:.1f} ms "
              "(same two GETs, fresh client each)")
        print(f"check_ms={eng_ms:.1f}")
        print(f"httpx_ms={raw_ms:.1f}")
        print(f"check_vs_httpx_ratio={eng_ms / raw_ms:.2f}")
        cli_ms, bare_ms, store_ms, unlocked_ms, backend = cli_vs_httpx(emu, args.cli_rounds)
        print(f"# processes, median of {args.cli_rounds}: `alpaca-tui check paper` ({backend} secret store) "
              f"{cli_ms:.0f} ms vs `python -c <httpx script>` {bare_ms:.0f} ms; opening the {backend} "
              f"store and reading one secret alone takes {store_ms:.0f} ms beyond interpreter start-up")
        print(f"cli_check_ms={cli_ms:.0f}")
        print(f"cli_httpx_ms={bare_ms:.0f}")
        print(f"cli_store_ms={store_ms:.0f}")
        print(f"cli_check_vs_httpx_ratio={cli_ms / bare_ms:.2f}")
        print(f"cli_check_without_store_vs_httpx_ratio={(cli_ms - store_ms) / bare_ms:.2f}")
        if unlocked_ms is not None:
            print(f"# after `alpaca-tui unlock` (session agent holds the key): `alpaca-tui check paper` "
                  f"{unlocked_ms:.0f} ms")
            print(f"cli_check_unlocked_ms={unlocked_ms:.0f}")
            print(f"cli_check_unlocked_vs_httpx_ratio={unlocked_ms / bare_ms:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
