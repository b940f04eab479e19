"""``alpaca-tui doctor`` on a home that uses the shared store: address, server version, sealed state,
token TTL and policies, capabilities, role, mount type; fixes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alpaca_tui.cli import doctor
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import Store
from tests.vault.support import laptop
from tests.vault_fixtures import Bao


def vault_row(doc: dict) -> dict:
    (row,) = [b for b in doc["backends"] if b["kind"] == "vault"]
    return row


def test_doctor_superuser_and_viewer(bao: Bao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    su = laptop(bao, tmp_path, "su", bao.token("superuser", display_name="sue", ttl="20m"))
    Store.open(su.home, backend="vault").add_profile(
        Profile("p", Env.PAPER, Flow.LEGACY, "PKDO…0001"),
        SecretBundle(Secret("PKDOCTOR000000000001", secret="d" * 40)))
    proc = su.run("doctor", "--json")
    doc = json.loads(proc.stdout)
    v = vault_row(doc)
    assert doc["ok"] is True and doc["backend"] == {"kind": "vault", "label": "OpenBao / Vault"}
    assert v["usable"] and v["address"] == bao.addr and v["namespace"] == bao.namespace
    assert v["server_version"] and v["sealed"] is False and v["initialized"] is True
    assert v["mount_type"] == "kv v2" and v["role"] == "superuser" and v["profiles"] == 1
    tok = v["token"]
    assert tok["display_name"] == "token-sue" and "alpaca-tui-superuser" in tok["policies"]
    assert 1100 < tok["ttl_s"] <= 1200 and tok["renewable"] is True and tok["source"] == "$VAULT_TOKEN"
    caps = v["capabilities"]
    assert set(caps["secret/data/alpaca-tui/secrets/any-profile"]) >= {"create", "read", "update", "delete"}
    assert doc["consistency"]["checked"] and doc["consistency"]["profiles"] == 1
    assert {"path": str(su.home / "store.json"), "exists": True, "mode": "0600", "expected": "0600",
            "ok": True} in doc["permissions"]
    text = su.run("doctor").stdout
    assert f"OpenBao / Vault ✓ {bao.addr}, namespace {bao.namespace}" in text
    assert "token token-sue from $VAULT_TOKEN:" in text
    assert "renewable; policies alpaca-tui-superuser, default" in text
    assert "server 2." in text and "unsealed" in text and "(kv v2)" in text

    viewer = laptop(bao, tmp_path, "viewer", bao.token("viewer", display_name="vic"))
    doc = json.loads(viewer.run("doctor", "--json").stdout)
    v = vault_row(doc)
    assert doc["ok"] is True and v["role"] == "viewer" and v["profiles"] == 1
    assert v["capabilities"]["secret/data/alpaca-tui/secrets/any-profile"] == ["deny"]
    assert v["capabilities"]["secret/data/alpaca-tui/index"] == ["read"]
    assert doc["consistency"]["reason"] == "not checked: this token is a viewer (it may not read secrets)"


def test_doctor_missing_mount_is_exit_1_with_the_enable_command(bao: Bao, tmp_path: Path) -> None:
    h = laptop(bao, tmp_path, "h", ALPACA_TUI_VAULT_MOUNT="teamkv")
    proc = h.run("doctor", "--json", code=1)
    doc = json.loads(proc.stdout)
    v = vault_row(doc)
    assert doc["ok"] is False and not v["usable"] and "no secrets engine at teamkv/" in v["reason"]
    assert f"enable a KV v2 mount: VAULT_NAMESPACE={bao.namespace} bao secrets enable -path=teamkv kv-v2" \
        in doc["fixes"]
    assert not [f for f in doc["fixes"] if "keyring" in f.lower() or "PASSPHRASE" in f]


def test_doctor_rows_for_a_local_home_are_unchanged(alpaca_home: Path) -> None:
    names = [r.name for r in doctor.diagnose()]
    assert "vault" not in names
