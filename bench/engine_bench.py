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
   b. processes (bench/cli_bench.py): ``python -m alpaca_tui check NAME`` (store open, secret
      read, engine) vs ``python -c <bare httpx script>``, for the encrypted file with a
      passphrase file (scrypt on every call), after ``alpaca-tui unlock`` (target <= 1.3x) and
      the OS keyring (target <= 1.5x); ``--baseline DIR`` runs another tree's check alongside.

Prints ``name=value`` lines (collected by bench/run.py) plus a short explanation.
Usage: python bench/engine_bench.py [--rounds 15] [--cli-rounds 7] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
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
from bench import cli_bench  # noqa: E402


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cli-rounds", type=int, default=7)
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="another source tree to compare with")
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
        medians = cli_bench.compare(emu, args.cli_rounds, args.baseline)
        cli_bench.report(medians, args.cli_rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
