"""Refresh claims on the token entry (core/store/tokencache.py): one winner, the cached token kept,
expiry, a dead owner on this machine taken over at once, release; and processes sharing one home
making one token request between them (the same claim the shared store gives a whole fleet)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.conftest import cli_argv, subprocess_env

TOKEN = {"v": 1, "access_token": "tok-1", "issued_at": 1.0, "expires_at": 900.0}


def test_one_claim_at_a_time_and_the_token_stays(alpaca_home: Path) -> None:
    store = Store.open(alpaca_home)
    now = time.time()
    store.save_token("p", dict(TOKEN))
    assert store.claim_token("p", "A", now + 10, now) is None            # A wins
    assert store.claim_token("p", "B", now + 10, now) == now + 10        # B waits for A
    assert store.claim_token("p", "A", now + 20, now) is None            # A again: still A's
    held = store.load_token("p")
    assert held is not None and held["access_token"] == "tok-1" and held["claim"]["owner"] == "A"
    store.release_token_claim("p", "B")                                  # not B's: no effect
    assert store.load_token("p")["claim"]["owner"] == "A"  # type: ignore[index]
    store.release_token_claim("p", "A")
    assert store.load_token("p") == TOKEN
    assert store.claim_token("p", "B", now + 10, now) is None
    store.save_token("p", dict(TOKEN, access_token="tok-2"))             # saving drops the claim
    assert "claim" not in store.load_token("p")  # type: ignore[operator]


def test_expired_and_orphaned_claims_are_taken_over(alpaca_home: Path) -> None:
    store = Store.open(alpaca_home)
    now = time.time()
    assert store.claim_token("p", "A", now + 5, now) is None
    assert store.claim_token("p", "B", now + 60, now + 6) is None        # A's expired
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"claim": {"owner": "gone", "host": socket.gethostname(), "pid": dead.pid, "until": now + 600}}
    store.save_token("q", record)
    assert store.claim_token("q", "C", now + 10, now) is None            # its owner is dead
    elsewhere = {"claim": {"owner": "far", "host": "another-machine", "pid": dead.pid, "until": now + 600}}
    store.save_token("r", elsewhere)
    assert store.claim_token("r", "C", now + 10, now) == now + 600       # cannot tell: wait


def test_processes_sharing_a_home_make_one_token_request(alpaca_home: Path) -> None:
    """Four processes at once (the fleet case, twenty homes on one Vault: tests/vault/test_team.py)."""
    from tests.cli.enginecli_support import add_profile

    with Emulator() as emu:
        secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        procs = [subprocess.Popen(cli_argv("token", "bx", "--json"), env=subprocess_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        tokens = set()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            tokens.add(json.loads(out)["access_token"])
        assert emu.token_requests(secret.key_id) == 1 and len(tokens) == 1
