"""The server itself failing: OpenBao with raft storage on disk (tests/vault_fixtures.py ``bao_raft``).

* killed (SIGKILL) in the middle of a rotation and restarted: the old or the new secret is
  active and both are recoverable (the staged one promotes, the old one stays usable);
* sealed in the middle of a session: one-line errors, and the same session works again after
  unseal;
* everything written survives a restart.

These tests share one server and take turns with it (xdist group ``vault-raft``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.vault.support import laptop, popen
from tests.vault_fixtures import Bao, BaoServer, make_namespace

pytestmark = pytest.mark.xdist_group("vault-raft")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


@pytest.fixture
def raft(bao_raft: BaoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Bao]:
    """A fresh namespace on the raft server; the server is running and unsealed afterwards."""
    b = make_namespace(bao_raft)
    for name in ("VAULT_TOKEN", "VAULT_ADDR", "VAULT_NAMESPACE", "BAO_ADDR", "BAO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_ADDR", b.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao_raft.root_token)
    monkeypatch.setenv("VAULT_NAMESPACE", b.namespace)
    try:
        yield b
    finally:
        if bao_raft.proc is None or bao_raft.proc.poll() is not None:
            bao_raft.start()
            bao_raft.unseal()
        elif (bao_raft.health() or {}).get("sealed"):
            bao_raft.unseal()


def _bundle(bao: Bao, name: str) -> dict[str, object]:
    return json.loads(bao.kv(f"alpaca-tui/secrets/{name}")["data"]["bundle"])  # type: ignore[index]


def test_killed_mid_rotation_old_or_new_active_and_both_recoverable(raft: Bao, emu: Emulator,
                                                                     tmp_path: Path) -> None:
    server = raft.server
    a = laptop(raft, tmp_path, "a")
    old_id, old_secret = a.add(emu, "paper")
    new = emu.create_credential(Env.PAPER, Flow.LEGACY)
    emu.set_latency("trading-paper", 2.0)  # verification of the new key takes a while
    proc = popen(a.env, "rotate", "paper", "--key-id", new.key_id, "--secret-stdin", "--keep-old-for", "1d")
    assert proc.stdin is not None
    proc.stdin.write(new.secret + "\n")
    proc.stdin.close()
    proc.stdin = None  # communicate() below must not flush it
    deadline = time.monotonic() + 30
    while _bundle(raft, "paper").get("pending") is None:  # staged: the rotation is under way
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    server.kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "cannot reach OpenBao / Vault" in err and "Traceback" not in err
    assert new.secret not in out + err and old_secret not in out + err

    server.start()
    server.unseal()
    emu.set_latency("trading-paper", 0)
    bundle = _bundle(raft, "paper")
    assert bundle["active"]["key_id"] == old_id and bundle["active"]["secret"] == old_secret  # type: ignore[index]
    assert bundle["pending"]["secret"] == new.secret  # type: ignore[index]
    assert "✓ paper  trading  200" in a.run("check", "paper").stdout       # the old one still works
    a.run("rotate", "paper", "--pending", "--keep-old-for", "1d")           # the new one promotes
    bundle = _bundle(raft, "paper")
    assert bundle["active"]["secret"] == new.secret and bundle["previous"]["secret"] == old_secret  # type: ignore[index]
    shown = json.loads(a.run("profiles", "show", "paper", "--json").stdout)["profile"]
    assert shown["rotation_state"] == "overlap" and shown["key_id_masked"].endswith(new.key_id[-4:])


def test_sealed_mid_session_one_line_then_recovers_after_unseal(raft: Bao, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.cli import doctor

    server = raft.server
    store = Store.open(tmp_path / "home", backend="vault")
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKSE…0001"),
                      SecretBundle(Secret("PKSEALED000000000001", secret="s" * 40)))
    server.seal()
    for call in (store.list_profiles, lambda: store.load_bundle("p"),
                 lambda: store.update_profile("p", note="x")):
        with pytest.raises(StoreError) as exc:
            call()
        assert exc.value.message == (f"OpenBao / Vault at {raft.addr} is sealed: unseal it "
                                     "(bao operator unseal) and try again")
    assert store.index_stamp() is not None  # a poll keeps the last known stamp, never raises
    monkeypatch.setenv("ALPACA_TUI_HOME", str(tmp_path / "home"))
    doc, code = doctor.collect()
    (row,) = [b for b in doc["backends"] if b["kind"] == "vault"]
    assert code == 1 and row["sealed"] is True and row["server_version"] and not row["usable"]
    assert "unseal the server: bao operator unseal (an operator with the unseal key)" in doc["fixes"]
    server.unseal()
    assert [p.name for p in store.list_profiles()] == ["p"]
    assert store.update_profile("p", note="after unseal").note == "after unseal"
    assert store.load_bundle("p").active.secret == "s" * 40


def test_everything_survives_a_restart(raft: Bao, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "home", backend="vault")
    store.add_profile(Profile("keep", Env.PAPER, Flow.LEGACY, "PKRS…0001"),
                      SecretBundle(Secret("PKRESTART00000000001", secret="r" * 40)))
    raft.server.restart()
    fresh = Store.open(tmp_path / "home")  # pinned by store.json
    assert [p.name for p in fresh.list_profiles()] == ["keep"]
    assert fresh.load_bundle("keep").active.secret == "r" * 40
