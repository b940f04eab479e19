"""``alpaca-tui store migrate --to vault|file|system``: every profile with every secret version
(active, pending, previous) moves, is verified, and the source copies go; killed at any step
(``kill -9``, tests/vault/migratehook.py) and run again, it resumes and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from tests.conftest import TEST_PASSPHRASE, cli_argv, subprocess_env
from tests.vault.migratehook import BOOT
from tests.vault_fixtures import Bao

ROOT = Path(__file__).resolve().parents[2]


def seed(store: Store) -> dict[str, tuple[Profile, str]]:
    """p00: active only; p01: active + pending (a staged key); p02: active + previous (overlap)."""
    retire = datetime.now(UTC) + timedelta(days=1)
    for i in range(3):
        name = f"p{i:02d}"
        active = Secret(f"PKMIGRATE{i:011d}", secret=f"active-{i}-" + "a" * 30)
        store.add_profile(Profile(name, Env.PAPER, Flow.LEGACY, mask(active.key_id)), SecretBundle(active))
    staged = Secret("PKMIGRATEPENDING0001", secret="pending-1-" + "p" * 30)
    bundle = store.load_bundle("p01")
    store.commit("p01", SecretBundle(bundle.active, pending=staged), rotation_state="pending",
                 pending_key_id_masked=mask(staged.key_id))
    old = store.load_bundle("p02").active
    new = Secret("PKMIGRATENEW00000002", secret="new-2-" + "n" * 30)
    store.commit("p02", SecretBundle(new, previous=old, previous_retire_at=retire.timestamp()),
                 key_id_masked=mask(new.key_id), rotation_state="overlap", previous_retire_at=retire,
                 rotated_at=datetime.now(UTC))
    assert store.reconcile() == []  # the entries agree with their bundles
    return snapshot(store)


def snapshot(store: Store) -> dict[str, tuple[Profile, str]]:
    return {p.name: (p, store.secret_backend.get_bundle(p.name) or "") for p in store.list_profiles()}


def migrate_cmd(target: str, env: dict[str, str], *, stall: str | None = None,
                ready: Path | None = None) -> subprocess.Popen[str]:
    argv = cli_argv("store", "migrate", "--to", target, "--yes")
    if stall is not None:
        env = {**env, "ALPACA_TUI_MIGRATE_STALL": stall, "ALPACA_TUI_MIGRATE_READY": str(ready)}
        argv = [sys.executable, "-c", BOOT, *argv[3:]]
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL, start_new_session=True)


def kill_at(target: str, env: dict[str, str], stall: str, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = migrate_cmd(target, env, stall=stall, ready=ready)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the migration never reached the step"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    ready.unlink()


def finish(target: str, env: dict[str, str]) -> str:
    proc = migrate_cmd(target, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out + err


def same(before: dict[str, tuple[Profile, str]], store: Store) -> None:
    after = snapshot(store)
    assert list(after) == list(before)
    for name, (profile, payload) in before.items():
        assert after[name][1] == payload, f"{name}: secret bundle differs"
        assert after[name][0] == profile, f"{name}: index entry differs"


@pytest.fixture
def file_home(alpaca_home: Path, bao: Bao, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A home on the encrypted file, the Vault variables set; the home's own record decides."""
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    env = subprocess_env()
    env.pop("ALPACA_TUI_KEYRING", None)
    return alpaca_home, env


@pytest.mark.parametrize("stall", ["copied p01", "indexed", "this home now keeps", "removed p01"])
def test_file_to_vault_killed_at_each_step_resumes_and_loses_nothing(
        stall: str, file_home: tuple[Path, dict[str, str]], bao: Bao, tmp_path: Path) -> None:
    home, env = file_home
    before = seed(Store.open(home, backend="file"))
    kill_at("vault", env, stall, tmp_path)
    # killed: wherever the home points now, every profile and every secret is there
    same(before, Store.open(home))
    assert (home / "migration.json").exists()
    out = finish("vault", env)
    assert "(resumed)" in out and "moved 3 profile(s) (5 secret(s))" in out
    store = Store.open(home)
    assert store.backend_kind == "vault"
    same(before, store)
    assert not (home / "secrets.enc").exists() and not (home / "migration.json").exists()
    assert json.loads((home / "index.json").read_text())["profiles"] == {}
    assert json.loads((home / "store.json").read_text())["settings"]["namespace"] == bao.namespace
    for name, (_p, payload) in before.items():
        assert bao.kv(f"alpaca-tui/secrets/{name}")["data"]["bundle"] == payload


def test_vault_to_file_and_back(file_home: tuple[Path, dict[str, str]], bao: Bao, tmp_path: Path) -> None:
    home, env = file_home
    before = seed(Store.open(home, backend="file"))
    out = finish("vault", env)
    assert "copied p01 (2 secret(s)) to the OpenBao / Vault and verified it" in out
    kill_at("file", env, "this home now keeps", tmp_path)
    same(before, Store.open(home))
    finish("file", env)
    store = Store.open(home)
    assert store.backend_kind == "file" and not (home / "store.json").exists()
    same(before, store)
    assert bao.kv("alpaca-tui/secrets/p00") is None
    assert json.loads(bao.kv("alpaca-tui/index")["data"]["index"])["profiles"] == {}
    assert "nothing to move" in finish("file", env)


def test_a_conflict_stops_before_anything_is_switched(file_home: tuple[Path, dict[str, str]],
                                                      bao: Bao) -> None:
    home, env = file_home
    before = seed(Store.open(home, backend="file"))
    bao.api("POST", "secret/data/alpaca-tui/secrets/p02", {"data": {"bundle": "someone else's"}})
    proc = migrate_cmd("vault", env)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "already holds a different secret for 'p02'" in err
    assert len(err.strip().splitlines()) == 3  # two progress lines (p00, p01), then the one error line
    store = Store.open(home)
    assert store.backend_kind == "file"
    same(before, store)
    assert bao.kv("alpaca-tui/secrets/p02")["data"]["bundle"] == "someone else's"


@pytest.mark.system_keyring
def test_file_to_system(file_home: tuple[Path, dict[str, str]], system_keyring_home: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    home, env = file_home
    monkeypatch.setenv("ALPACA_TUI_HOME", str(home))
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    env["ALPACA_TUI_HOME"] = str(home)
    before = seed(Store.open(home, backend="file", passphrase=TEST_PASSPHRASE))
    finish("system", env)
    store = Store.open(home)
    assert store.backend_kind == "system" and not (home / "secrets.enc").exists()
    same(before, store)
    for name in before:
        store.remove_profile(name)
