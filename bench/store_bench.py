"""Store load time with 500 profiles (index only: what the home screen and `profiles list` pay).

Prints ``store_load_500_ms=<median>`` plus the time to add them (file backend), so the
figure can be compared across machines. Runs in a throwaway ALPACA_TUI_HOME.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alpaca_tui.core.clock import SYSTEM_CLOCK
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.core.store import Store

N = 500


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["ALPACA_TUI_HOME"] = str(home)
        store = Store.open(home, backend="file", passphrase="bench passphrase")
        envs = list(Env)
        t0 = time.perf_counter()
        for i in range(N):
            env = envs[i % len(envs)]
            key_id = f"PK{i:018d}"
            p = Profile(name=f"p{i:03d}", env=env, flow=Flow.LEGACY, key_id_masked=mask(key_id),
                        access=AccessMatrix.read_only(), created_at=SYSTEM_CLOCK.now())
            store.add_profile(p, SecretBundle(active=Secret(key_id=key_id, secret=f"s{i:039d}")))
        add_s = time.perf_counter() - t0
        samples = []
        for _ in range(7):
            t = time.perf_counter()
            fresh = Store.open(home, backend="file", passphrase="bench passphrase")
            profiles = fresh.list_profiles()
            samples.append((time.perf_counter() - t) * 1000)
            assert len(profiles) == N
        print(f"store_load_500_ms={statistics.median(samples):.1f}")
        print(f"store_add_500_s={add_s:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
