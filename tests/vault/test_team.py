"""A team on one OpenBao: several homes ("laptops") sharing profiles, real CLI processes.

Two homes see the same profiles; 20 concurrent ``profiles add`` from 20 homes lose nothing;
a rotation from one home is what the other uses next; ``profiles show`` gives the secret's
version, when and by whom; 20 processes in 20 homes asking for one OAuth credential's token
make ONE token request (fleet-wide single flight).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.vault.support import laptop, popen
from tests.vault_fixtures import Bao

N = 20


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def test_two_homes_see_the_same_profiles_and_rotations(bao: Bao, emu: Emulator, tmp_path: Path) -> None:
    alice = laptop(bao, tmp_path, "alice", bao.token("superuser", display_name="alice"))
    bob = laptop(bao, tmp_path, "bob", bao.token("superuser", display_name="bob"))
    key_id, _ = alice.add(emu, "paper")
    listed = json.loads(bob.run("profiles", "list", "--json").stdout)
    assert listed["backend"] == "vault" and listed["role"] == "superuser"
    assert [p["name"] for p in listed["profiles"]] == ["paper"]
    assert "✓ paper  trading  200" in bob.run("check", "paper").stdout

    # alice rotates; bob's next check uses the new key (and the old one is revoked)
    new = emu.create_credential(Env.PAPER, Flow.LEGACY)
    alice.run("rotate", "paper", "--key-id", new.key_id, "--secret-stdin", "--keep-old-for", "0",
              stdin=new.secret + "\n")
    emu.revoke(key_id)
    assert "✓ paper  trading  200" in bob.run("check", "paper").stdout
    shown = json.loads(bob.run("profiles", "show", "paper", "--json").stdout)
    assert shown["profile"]["key_id_masked"].endswith(new.key_id[-4:])
    version = shown["secret_version"]
    assert version["version"] >= 3 and version["written_by"] == "token-alice" and version["written_at"]
    text = bob.run("profiles", "show", "paper").stdout
    assert f"secret version  {version['version']}, written 20" in text and "by token-alice" in text
    # the homes hold no profiles of their own: only the pin
    for home in (alice.home, bob.home):
        assert not (home / "index.json").exists() and not (home / "secrets.enc").exists()
        assert json.loads((home / "store.json").read_text())["backend"] == "vault"


def test_twenty_concurrent_adds_from_twenty_homes_lose_nothing(bao: Bao, emu: Emulator,
                                                               tmp_path: Path) -> None:
    homes = [laptop(bao, tmp_path, f"h{i:02d}") for i in range(N)]
    secrets = {f"p{i:02d}": f"parallel-secret-{i:02d}-" + "v" * 24 for i in range(N)}
    t0 = time.monotonic()
    procs = []
    for i, (h, (name, secret)) in enumerate(zip(homes, secrets.items(), strict=True)):
        p = popen(h.env, "profiles", "add", name, "--env", "paper", "--flow", "legacy", "--key-id",
                  f"PKVAULT{i:013d}", "--secret-stdin")
        procs.append((name, p, secret))
    for name, p, secret in procs:
        out, err = p.communicate(secret + "\n", timeout=180)
        assert p.returncode == 0, f"{name}: {err}"
        assert secret not in out + err
    elapsed = time.monotonic() - t0
    doc = json.loads(homes[0].run("profiles", "list", "--json").stdout)
    assert [p["name"] for p in doc["profiles"]] == sorted(secrets), f"lost profiles after {elapsed:.1f} s"
    for name, secret in secrets.items():
        bundle = json.loads(bao.kv(f"alpaca-tui/secrets/{name}")["data"]["bundle"])
        assert bundle["active"]["secret"] == secret
    print(f"{N} concurrent adds from {N} homes: {elapsed:.1f} s")


def test_fleet_single_flight_one_token_request_for_twenty_homes(bao: Bao, emu: Emulator,
                                                                tmp_path: Path) -> None:
    first = laptop(bao, tmp_path, "h00")
    key_id, _ = first.add(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    homes = [first] + [laptop(bao, tmp_path, f"h{i:02d}") for i in range(1, N)]
    assert emu.token_requests(key_id) == 0
    procs = [popen(h.env, "token", "bx", "--json") for h in homes]
    tokens = set()
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        tokens.add(json.loads(out)["access_token"])
    assert emu.token_requests(key_id) == 1, f"{emu.token_requests(key_id)} token requests for {N} processes"
    assert len(tokens) == 1
    # the cached token is in Vault (no local file holds it), with no claim left behind
    cached = json.loads(bao.kv("alpaca-tui/tokens/bx")["data"]["token"])
    assert cached["access_token"] in tokens and "claim" not in cached
