"""The throwaway store (the demo's): the encrypted-file backend under a random in-memory key,
so nothing is derived (no scrypt) and nobody else can open its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import StoreError, UsageError, WrongPassphraseError
from alpaca_tui.core.store import Store, filecrypt
from alpaca_tui.core.store.throwaway import open_throwaway

SECRET = "throwaway-secret-0123456789abcdefghijklmn"


def no_kdf(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("a throwaway store derives no key")


def test_round_trip_without_key_derivation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filecrypt, "derive_key", no_kdf)
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE", raising=False)
    store = open_throwaway(tmp_path / "home")
    assert store.backend_kind == "file" and not store.needs_unlock()
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
                      SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret=SECRET)))
    store.save_token("p", {"access_token": "x", "expires_at": 1})
    assert store.load_bundle("p").active.secret == SECRET
    assert [p.name for p in store.list_profiles()] == ["p"]
    raw = (tmp_path / "home" / "secrets.enc").read_bytes()
    assert raw.startswith(filecrypt.MAGIC) and SECRET.encode() not in raw
    assert (tmp_path / "home" / "secrets.enc").stat().st_mode & 0o777 == 0o600


def test_nobody_else_opens_it(tmp_path: Path) -> None:
    store = open_throwaway(tmp_path / "home")
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
                      SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret=SECRET)))
    other = Store.open(tmp_path / "home", backend="file", passphrase="any passphrase at all")
    with pytest.raises(WrongPassphraseError):
        other.load_bundle("p")
    with pytest.raises(UsageError):  # an existing store is never taken over
        open_throwaway(tmp_path / "home")


def test_a_raw_key_is_32_bytes(tmp_path: Path) -> None:
    from alpaca_tui.core.store.fsutil import HomeLock

    with pytest.raises(StoreError):
        filecrypt.FileBackend(tmp_path / "secrets.enc", HomeLock(tmp_path), key=b"short")
