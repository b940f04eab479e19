"""Index entries repaired from their secret bundles (core/store/reconcile.py, Store.load/commit).

The kill -9 versions of these states are made by tests/e2e/test_crash_recovery.py; here they
are written directly, one store write at a time, to pin down each rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from alpaca_tui.core.store.reconcile import index_repairs

OLD = Secret("PKOLDOLDOLDOLDOLD001", "old-secret-value-0123456789")
NEW = Secret("PKNEWNEWNEWNEWNEW002", "new-secret-value-9876543210")
RETIRE = 2_000_000_000.0


def paper(**kw: object) -> Profile:
    return Profile("p", Env.PAPER, Flow.LEGACY, mask(OLD.key_id)).with_changes(**kw)


@pytest.mark.parametrize(("profile", "bundle"), [
    (paper(), SecretBundle(OLD)),
    (paper(rotation_state="pending", pending_key_id_masked=mask(NEW.key_id)), SecretBundle(OLD, pending=NEW)),
    (paper(key_id_masked=mask(NEW.key_id), rotation_state="overlap",
           previous_retire_at=datetime.fromtimestamp(RETIRE, UTC)),
     SecretBundle(NEW, previous=OLD, previous_retire_at=RETIRE)),
    (paper(rotation_state="pending", pending_key_id_masked=mask(NEW.key_id),
           previous_retire_at=datetime.fromtimestamp(RETIRE, UTC)),
     SecretBundle(OLD, pending=NEW, previous=OLD, previous_retire_at=RETIRE)),
])
def test_agreeing_entries_need_nothing(profile: Profile, bundle: SecretBundle) -> None:
    assert not index_repairs(profile, bundle)


def test_promoted_bundle_behind_index() -> None:
    stale = paper(rotation_state="pending", pending_key_id_masked=mask(NEW.key_id), last_check_ok=True)
    r = index_repairs(stale, SecretBundle(NEW, previous=OLD, previous_retire_at=RETIRE))
    assert r.changes == {"key_id_masked": mask(NEW.key_id), "last_check_ok": None,
                         "rotation_state": "overlap", "pending_key_id_masked": None,
                         "previous_retire_at": datetime.fromtimestamp(RETIRE, UTC)}
    msg = r.message()
    assert msg.startswith("profile 'p': its index entry disagreed with the secret store")
    assert OLD.secret not in msg and NEW.secret not in msg and OLD.key_id not in msg and NEW.key_id not in msg


def test_private_key_jwt_same_client_new_key_pair() -> None:
    old_pem, new_pem = keys.generate_private_key("ES256"), keys.generate_private_key("RS256")
    cid = "CKCLIENT000000000001"
    profile = Profile("j", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, mask(cid), alg="ES256",
                      public_key_fingerprint=keys.public_key_fingerprint(old_pem), rotation_state="pending",
                      pending_key_id_masked=mask(cid))
    bundle = SecretBundle(Secret(cid, private_key_pem=new_pem, alg="RS256"),
                          previous=Secret(cid, private_key_pem=old_pem, alg="ES256"))
    r = index_repairs(profile, bundle)
    assert r.changes["public_key_fingerprint"] == keys.public_key_fingerprint(new_pem)
    assert r.changes["alg"] == "RS256" and r.changes["rotation_state"] == "overlap"
    assert "key_id_masked" not in r.changes
    # a profile that never recorded a fingerprint is not "repaired" for that alone
    assert not index_repairs(profile.with_changes(public_key_fingerprint=None, rotation_state=None,
                                                  pending_key_id_masked=None), SecretBundle(bundle.active))


def test_load_repairs_once_under_the_lock_and_keeps_every_secret(alpaca_home: Path) -> None:
    store = Store.open()
    heard: list[str] = []
    store.on_repair = heard.append
    store.add_profile(paper(), SecretBundle(OLD))
    store.save_bundle("p", SecretBundle(OLD, pending=NEW))  # as if killed before the index write
    raw_index = (alpaca_home / "index.json").read_bytes()
    assert store.get_profile("p").rotation_state is None  # index-only reads never repair
    assert (alpaca_home / "index.json").read_bytes() == raw_index
    profile, bundle = store.load("p")
    assert bundle == SecretBundle(OLD, pending=NEW)
    assert profile.rotation_state == "pending" and profile.pending_key_id_masked == mask(NEW.key_id)
    assert Store.open().get_profile("p") == profile  # saved
    assert len(heard) == 1 and store.repair_notes == heard
    store.load("p")
    assert store.load_bundle("p") == bundle and len(heard) == 1  # once
    assert Store.open().reconcile() == []


def test_commit_writes_bundle_and_index_together(alpaca_home: Path) -> None:
    store = Store.open()
    store.add_profile(paper(), SecretBundle(OLD))
    with pytest.raises(UsageError, match="unknown profile field"):
        store.commit("p", SecretBundle(NEW), colour="red")
    assert store.load_bundle("p") == SecretBundle(OLD)  # nothing written on a bad change
    p = store.commit("p", SecretBundle(NEW, previous=OLD, previous_retire_at=RETIRE),
                     key_id_masked=mask(NEW.key_id), rotation_state="overlap",
                     previous_retire_at=datetime.fromtimestamp(RETIRE, UTC))
    assert Store.open().get_profile("p") == p
    assert Store.open().reconcile() == []


def test_reconcile_rotating_only(alpaca_home: Path) -> None:
    store = Store.open()
    store.add_profile(paper(), SecretBundle(OLD))
    store.add_profile(paper(name="q", rotation_state="overlap"), SecretBundle(OLD))
    store.save_bundle("p", SecretBundle(OLD, pending=NEW))
    notes = store.reconcile(rotating_only=True)  # p's index says no rotation: left for its next load
    assert len(notes) == 1 and notes[0].startswith("profile 'q': ")
    assert store.get_profile("q").rotation_state is None and store.get_profile("p").rotation_state is None
    assert len(store.reconcile()) == 1 and store.get_profile("p").rotation_state == "pending"


def test_a_repair_that_cannot_be_saved_still_gives_the_repaired_view(
        alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.core.errors import StoreError
    from alpaca_tui.core.store import fileindex as store_mod

    store = Store.open()
    store.add_profile(paper(), SecretBundle(OLD))
    store.save_bundle("p", SecretBundle(OLD, pending=NEW))
    before = (alpaca_home / "index.json").read_bytes()

    def read_only(path: Path, doc: object) -> None:
        raise StoreError(f"cannot write {path}: Read-only file system")

    monkeypatch.setattr(store_mod, "write_index", read_only)
    profile, bundle = store.load("p")
    assert profile.rotation_state == "pending" and bundle.pending == NEW
    assert (alpaca_home / "index.json").read_bytes() == before
    assert len(store.repair_notes) == 1
    assert store.repair_notes[0].endswith("; could not save the repair: cannot write "
                                          f"{alpaca_home / 'index.json'}: Read-only file system")
