#!/usr/bin/env python3
"""Many short-lived Secret Service clients at once, on a real gnome-keyring: keyring's own
SecretService backend (the default collection addressed by its alias path) against ours
(core/store/secretservice.py: ReadAlias first, then the real path), in the same rounds.

Each round, for each way, starts a private D-Bus session with a fresh unlocked gnome-keyring
(tests/e2e/private_keyring.py) and runs tests/e2e/secret_service_driver.py ``clients``: 4
processes each writing, reading and deleting their own entries (every call a new D-Bus
client) while 2 more processes keep connecting. Counted per way over all rounds: calls, calls
that raised or answered wrong, rounds where the daemon died (D-Bus then re-activates it,
locked), rounds where a worker hung past the driver's deadline, and the wall time per call of the
rounds that ran to the end.

Prints ``name=value`` lines. Usage: python bench/keyring_clients.py [--rounds N] [--per-worker M]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.private_keyring import run_in_private_keyring  # noqa: E402

WAYS = ("keyring", "ours")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--per-worker", type=int, default=25, help="rounds of 6 calls per worker process")
    args = ap.parse_args()
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        print("keyring_clients_skipped=no dbus-run-session / gnome-keyring-daemon")
        return 0
    totals = {w: {"calls": 0, "failed": 0, "daemon_died": 0, "hung": 0, "ok_calls": 0, "ok_seconds": 0.0}
              for w in WAYS}
    for _ in range(args.rounds):
        for way in WAYS:
            with tempfile.TemporaryDirectory(prefix="alpaca-tui-bench-keyring-") as tmp:
                data = run_in_private_keyring(Path(tmp), "tests.e2e.secret_service_driver", "clients", way,
                                              "4", str(args.per_worker), timeout=200)
            t = totals[way]
            t["calls"] += data["calls"]
            t["failed"] += sum(data["errors"].values()) + data["wrong"]
            died = data["daemon_after"] != data["daemon_before"]
            hung = bool(data["workers_hung"] or data["workers_failed"])
            t["daemon_died"] += died
            t["hung"] += hung
            if not (died or hung):  # the pace of rounds that ran to the end
                t["ok_calls"] += data["calls"]
                t["ok_seconds"] += data["seconds"]
    for way, t in totals.items():
        print(f"keyring_clients_{way}_calls={t['calls']}")
        print(f"keyring_clients_{way}_failed_calls={t['failed']}")
        print(f"keyring_clients_{way}_daemon_died_rounds={t['daemon_died']}/{args.rounds}")
        print(f"keyring_clients_{way}_hung_rounds={t['hung']}/{args.rounds}")
        # wall time per call of the whole load (4 workers, 2 churners, the daemon, on this machine)
        print(f"keyring_clients_{way}_wall_ms_per_call={1000 * t['ok_seconds'] / max(t['ok_calls'], 1):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
