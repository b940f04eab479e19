"""The secret store against real backends: the encrypted file and the real Secret Service."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import (
    BackendUnavailableError,
    NotFoundError,
    StoreError,
    UsageError,
    WrongPassphraseError,
)
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.core.store import LOCKED_MESSAGE, Store, filecrypt, service_name
from alpaca_tui.core.store import fileindex as store_mod
from tests.conftest import TEST_PASSPHRASE

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _bundles() -> dict[str, tuple[Profile, SecretBundle]]:
    """One profile per flow, including generated ES256 and RS256 keys and a mid-rotation bundle."""
    out: dict[str, tuple[Profile, SecretBundle]] = {}
    legacy = Secret(key_id="PKTESTKEY0000000001A", secret="Lg" + "x" * 36 + "Q9")
    out["paper-legacy"] = (
        Profile("paper-legacy", Env.PAPER, Flow.LEGACY, mask(legacy.key_id), created_at=NOW),
        SecretBundle(active=legacy,
                     previous=Secret(key_id="PKTESTKEY0000000000Z", secret="OLD-legacy-secret-value-123456"),
                     previous_retire_at=NOW.timestamp() + 3600),
    )
    cs = Secret(key_id="CKCLIENTID000000000000001", secret="cs-" + "s" * 60 + "-end")
    out["sandbox-cs"] = (
        Profile("sandbox-cs", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, mask(cs.key_id),
                access=AccessMatrix.read_only().with_level(Scope.TRADING, Level.RW),
                expires_at=NOW + timedelta(days=30), endpoints={Api.BROKER: "http://127.0.0.1:9999"}),
        SecretBundle(active=cs, pending=Secret(key_id=cs.key_id, secret="pending-client-secret-value-99")),
    )
    for alg in ("ES256", "RS256"):
        pem = keys.generate_private_key(alg)
        s = Secret(key_id=f"CKJWT{alg}0000000000000", private_key_pem=pem, alg=alg)
        name = f"live-jwt-{alg.lower()}"
        out[name] = (
            Profile(name, Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT, mask(s.key_id), alg=alg,
                    public_key_fingerprint=keys.public_key_fingerprint(pem)),
            SecretBundle(active=s),
        )
    return out


def _all_secret_values(bundles: dict[str, tuple[Profile, SecretBundle]]) -> list[str]:
    values: list[str] = []
    for _p, b in bundles.values():
        values += b.values()
        for s in (b.active, b.pending, b.previous):
            if s and s.private_key_pem:
                # the base64 body lines of the PEM, so a re-encoded copy would be caught too
                values += [ln for ln in s.private_key_pem.splitlines() if ln and not ln.startswith("-----")]
    return values


def _files_under(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def _check_roundtrip_and_leaks(home: Path, expect_kind: str) -> None:
    bundles = _bundles()
    store = Store.open()
    assert store.backend_kind == expect_kind
    for profile, bundle in bundles.values():
        store.add_profile(profile, bundle)
    # A fresh Store (as another process would) reads everything back.
    again = Store.open()
    assert again.backend_kind == expect_kind
    assert [p.name for p in again.list_profiles()] == sorted(bundles)
    for name, (profile, bundle) in bundles.items():
        assert again.get_profile(name) == profile
        assert again.load_bundle(name) == bundle
    for name, (_p, b) in bundles.items():
        if b.active.private_key_pem:
            assert keys.public_key_fingerprint(again.load_bundle(name).active.private_key_pem or "") \
                == bundles[name][0].public_key_fingerprint

    # No secret byte in any file under the home except the encrypted secrets file.
    secrets = _all_secret_values(bundles)
    assert secrets
    for path in _files_under(home):
        if path.name == "secrets.enc":
            continue
        data = path.read_bytes()
        for value in secrets:
            assert value.encode() not in data, f"secret material found in {path}"
    index = (home / "index.json").read_text()
    for _p, b in bundles.values():
        assert b.active.key_id not in index            # the full key ID is not in the index...
        assert mask(b.active.key_id) in index          # ...only its masked form
    if expect_kind == "file":
        raw = (home / "secrets.enc").read_bytes()
        for value in secrets:
            assert value.encode() not in raw
    else:
        assert not (home / "secrets.enc").exists()

    # Token cache and removal.
    again.save_token("sandbox-cs", {"access_token": "tok-abc-123-xyz", "expires_at": 1.0})
    assert Store.open().load_token("sandbox-cs") == {"access_token": "tok-abc-123-xyz", "expires_at": 1.0}
    again.clear_token("sandbox-cs")
    assert again.load_token("sandbox-cs") is None
    again.save_token("sandbox-cs", {"access_token": "t2"})
    again.remove_profile("sandbox-cs")
    with pytest.raises(NotFoundError):
        again.load_bundle("sandbox-cs")
    assert again.load_token("sandbox-cs") is None
    assert "sandbox-cs" not in [p.name for p in Store.open().list_profiles()]
    for name in list(bundles):
        if name != "sandbox-cs":
            again.remove_profile(name)
    assert again.list_profiles() == []


def test_roundtrip_every_flow_encrypted_file(alpaca_home: Path) -> None:
    _check_roundtrip_and_leaks(alpaca_home, "file")


@pytest.mark.system_keyring
def test_roundtrip_every_flow_real_secret_service(system_keyring_home: Path) -> None:
    import keyring

    bundles = _bundles()
    store = Store.open()
    profile, bundle = bundles["paper-legacy"]
    store.add_profile(profile, bundle)
    # It is really in the Secret Service, under the per-home service name.
    raw = keyring.get_password(service_name(system_keyring_home), "paper-legacy")
    assert raw is not None and SecretBundle.from_dict(json.loads(raw)) == bundle
    store.remove_profile("paper-legacy")
    assert keyring.get_password(service_name(system_keyring_home), "paper-legacy") is None
    _check_roundtrip_and_leaks(system_keyring_home, "system")


@pytest.mark.system_keyring
def test_separate_homes_do_not_collide_in_the_keyring(system_keyring_home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    p, b = _bundles()["paper-legacy"]
    Store.open().add_profile(p, b)
    other = tmp_path / "other-home"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(other))
    assert service_name(other) != service_name(system_keyring_home)
    s2 = Store.open()
    assert s2.list_profiles() == []
    s2.add_profile(p, SecretBundle(active=Secret(key_id="PKOTHERKEY0000000001", secret="other-secret-1234")))
    assert s2.load_bundle(p.name).active.secret == "other-secret-1234"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(system_keyring_home))
    assert Store.open().load_bundle(p.name) == b
    s2.remove_profile(p.name)
    Store.open().remove_profile(p.name)


# -- encrypted file ---------------------------------------------------------------------------


def _one(store: Store, name: str = "p1", secret: str = "secret-value-0123456789") -> SecretBundle:
    bundle = SecretBundle(active=Secret(key_id="PKAAAAAAAAAAAAAAAAA1", secret=secret))
    store.add_profile(Profile(name, Env.PAPER, Flow.LEGACY, mask("PKAAAAAAAAAAAAAAAAA1")), bundle)
    return bundle


def test_wrong_passphrase_touches_nothing(alpaca_home: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _one(Store.open())
    before = {p.name: p.read_bytes() for p in (alpaca_home / "index.json", alpaca_home / "secrets.enc")}
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(wrong))
    store = Store.open()
    assert store.list_profiles()  # the index needs no passphrase
    for action in (lambda: store.load_bundle("p1"),
                   lambda: store.save_bundle("p1", SecretBundle(active=Secret("PKX", "y" * 20))),
                   lambda: _one(store, "p2"),
                   lambda: store.remove_profile("p1"),
                   lambda: store.save_token("p1", {"a": 1})):
        with pytest.raises(WrongPassphraseError) as exc:
            action()
        assert "\n" not in str(exc.value) and "wrong passphrase" in str(exc.value)
        assert "ALPACA_TUI_PASSPHRASE_FILE" in str(exc.value)
    after = {p.name: p.read_bytes() for p in (alpaca_home / "index.json", alpaca_home / "secrets.enc")}
    assert after == before


def test_locked_store_and_unlock(alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = _one(Store.open())
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    store = Store.open()
    assert store.needs_unlock() and not store.creating_new_store()
    assert [p.name for p in store.list_profiles()] == ["p1"]
    with pytest.raises(StoreError, match="encrypted store is locked"):
        store.load_bundle("p1")
    assert str(StoreError(LOCKED_MESSAGE)) == \
        "encrypted store is locked: set ALPACA_TUI_PASSPHRASE_FILE or run interactively"
    with pytest.raises(WrongPassphraseError):
        store.unlock("nope")
    assert store.needs_unlock()
    store.unlock(TEST_PASSPHRASE)
    assert not store.needs_unlock()
    assert store.load_bundle("p1") == bundle


def test_passphrase_provider_is_asked_once_with_creating_flag(alpaca_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    calls: list[bool] = []

    def provider(creating: bool) -> str:
        calls.append(creating)
        return "provider passphrase"

    store = Store.open(passphrase_provider=provider)
    assert store.creating_new_store() and store.needs_unlock()
    _one(store, "a")
    _one(store, "b")
    assert store.load_bundle("a").active.secret
    assert calls == [True]  # unlocked once per process
    s2 = Store.open(passphrase_provider=provider)
    assert not s2.creating_new_store()
    assert s2.load_bundle("b").active.secret
    s2.load_bundle("a")
    assert calls == [True, False]
    # An explicit passphrase works too; a wrong one does not.
    assert Store.open(passphrase="provider passphrase").load_bundle("a").active.secret
    with pytest.raises(WrongPassphraseError):
        Store.open(passphrase="other").load_bundle("a")


def test_file_format_header_nonce_and_tamper(alpaca_home: Path) -> None:
    store = Store.open()
    _one(store)
    raw1 = (alpaca_home / "secrets.enc").read_bytes()
    header, _ = filecrypt.parse(raw1, alpaca_home / "secrets.enc")
    assert raw1[:8] == b"ATUISEC\x01"
    # the suite writes at n = 2^10 (tests/fastkdf); test_kdf_cost.py checks alpaca-tui's own 2^15
    assert (header.log2_n, header.r, header.p, len(header.salt), len(header.nonce)) == \
        (filecrypt.SCRYPT_LOG2_N, 8, 1, 16, 12)
    store.save_token("p1", {"x": 1})
    raw2 = (alpaca_home / "secrets.enc").read_bytes()
    h2, _ = filecrypt.parse(raw2, alpaca_home / "secrets.enc")
    assert h2.salt == header.salt and h2.nonce != header.nonce  # fresh nonce per write
    # The header is authenticated (AAD): flipping a salt bit or the ciphertext fails.
    for pos in (20, len(raw2) - 1):
        bad = bytearray(raw2)
        bad[pos] ^= 1
        (alpaca_home / "secrets.enc").write_bytes(bytes(bad))
        with pytest.raises(WrongPassphraseError):
            Store.open().load_bundle("p1")
    (alpaca_home / "secrets.enc").write_bytes(raw2[:30])
    with pytest.raises(StoreError, match="corrupted or truncated") as exc:
        Store.open().load_bundle("p1")
    assert not isinstance(exc.value, WrongPassphraseError)


def test_creation_race_with_different_salts(alpaca_home: Path) -> None:
    """Two processes that both thought they were creating the file: the second re-derives."""
    a, b = Store.open(), Store.open()
    a._prepare()
    b._prepare()  # both derived keys with their own random salts
    _one(a, "from-a")
    _one(b, "from-b")  # must re-read a's file and use a's salt, not clobber it
    s = Store.open()
    assert {p.name for p in s.list_profiles()} == {"from-a", "from-b"}
    assert s.load_bundle("from-a").active.secret and s.load_bundle("from-b").active.secret


# -- index --------------------------------------------------------------------------------------


def test_duplicate_add_is_a_usage_error_and_keeps_the_original(alpaca_home: Path) -> None:
    store = Store.open()
    original = _one(store, "dup", "first-secret-value-123")
    with pytest.raises(UsageError, match="profile 'dup' already exists"):
        _one(store, "dup", "second-secret-value-456")
    assert Store.open().load_bundle("dup") == original


def test_failed_index_write_removes_the_secret_again(alpaca_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open()
    _one(store, "keep")

    def boom(path: Path, doc: object) -> None:
        raise StoreError(f"cannot write {path}: disk full")

    monkeypatch.setattr(store_mod, "write_index", boom)
    with pytest.raises(StoreError, match="disk full"):
        _one(store, "orphan")
    raw = filecrypt.FileBackend(alpaca_home / "secrets.enc", store._lock,
                                passphrase=TEST_PASSPHRASE).read_all()
    assert "orphan" not in raw and "keep" in raw
    assert [p.name for p in store.list_profiles()] == ["keep"]


def test_update_profile(alpaca_home: Path) -> None:
    store = Store.open()
    _one(store)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = store.update_profile("p1", last_verified_at=when, last_check_ok=True, note="hello")
    assert Store.open().get_profile("p1") == updated
    assert updated.last_verified_at == when and updated.note == "hello"
    with pytest.raises(UsageError, match="unknown profile field"):
        store.update_profile("p1", secret="x")
    with pytest.raises(NotFoundError):
        store.update_profile("nope", note="x")


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 1, "profiles": {"a": {"name": "a"', b"",
                                     b"\xff\xfe garbage", b'{"version": 1, "profiles": {"x": {"name": "x", '
                                     b'"env": "moon", "flow": "legacy"}}}', b"[1, 2]"])
def test_corrupted_index_is_kept_and_reported(alpaca_home: Path, content: bytes) -> None:
    store = Store.open()
    _one(store)
    index = alpaca_home / "index.json"
    index.write_bytes(content)
    for attempt in range(2):
        with pytest.raises(StoreError) as exc:
            Store.open().list_profiles()
        msg = str(exc.value)
        assert "\n" not in msg and str(index) in msg and "corrupt" in msg
    backups = list(alpaca_home.glob("index.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content  # one copy, not one per attempt
    with pytest.raises(StoreError):
        _one(store, "another")  # a write never replaces the corrupt file
    with pytest.raises(StoreError):
        store.update_profile("p1", note="x")
    assert index.read_bytes() == content


def test_permissions(alpaca_home: Path) -> None:
    alpaca_home.mkdir(mode=0o755)
    os.chmod(alpaca_home, 0o755)
    store = Store.open()
    _one(store)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(alpaca_home) == 0o700
    for name in ("index.json", "secrets.enc", ".lock"):
        assert mode(alpaca_home / name) == 0o600, name


def test_open_creates_nothing(alpaca_home: Path) -> None:
    store = Store.open()
    assert store.list_profiles() == []
    assert not alpaca_home.exists()


# -- backend selection -----------------------------------------------------------------------


def _no_dbus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)


def test_auto_selection_without_dbus_uses_file_and_says_why(alpaca_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _no_dbus(monkeypatch)
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    t0 = time.monotonic()
    store = Store.open()
    assert time.monotonic() - t0 < 1.0
    assert store.backend_kind == "file" and store.backend_label == "encrypted file"
    assert any("OS keyring unavailable (DBUS_SESSION_BUS_ADDRESS is not set" in n
               and str(alpaca_home / "secrets.enc") in n for n in store.selection_notes)


def test_forcing_an_unavailable_system_keyring(alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_dbus(monkeypatch)
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "system")
    with pytest.raises(BackendUnavailableError) as exc:
        Store.open()
    assert "DBUS_SESSION_BUS_ADDRESS" in str(exc.value) and "dbus-run-session" in str(exc.value)
    assert "ALPACA_TUI_KEYRING=file" in str(exc.value)
    with pytest.raises(BackendUnavailableError):
        Store.open(backend="system")
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "plaintext")
    with pytest.raises(UsageError, match="unknown secret backend"):
        Store.open()


def test_home_sticks_to_its_backend(alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _one(Store.open())
    assert json.loads((alpaca_home / "index.json").read_text())["backend"] == "file"
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    s = Store.open()  # auto: no keyring probe needed, the home's secrets are in the file
    assert s.backend_kind == "file" and "1 profile(s) are stored there" in s.selection_notes[0]
    with pytest.raises(BackendUnavailableError, match="encrypted file"):
        Store.open(backend="system")


# -- OS keyring probe ---------------------------------------------------------------------------


def test_probe_never_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.core.store import system

    release = threading.Event()

    def stuck(roundtrip: bool = True) -> system.KeyringProbe:
        release.wait(30)
        return system.KeyringProbe(True, "late")

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    monkeypatch.setattr(system, "_probe_body", stuck)
    monkeypatch.setattr(system, "_stuck_probe", None)
    t0 = time.monotonic()
    ok, reason = system.probe_system_keyring(timeout=0.3)
    assert not ok and "did not answer within 0.3 s" in reason
    ok2, reason2 = system.probe_system_keyring(timeout=0.3)  # does not pile up stuck threads
    assert not ok2 and "still stuck" in reason2
    assert time.monotonic() - t0 < 1.5
    release.set()


def test_runtime_keyring_calls_are_bounded(tmp_path: Path) -> None:
    from alpaca_tui.core.store.system import SystemBackend

    release = threading.Event()

    class Hanging:
        def get_password(self, service: str, user: str) -> str | None:
            release.wait(30)
            return None

        def set_password(self, service: str, user: str, value: str) -> None:
            raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")

    backend = SystemBackend(tmp_path, Hanging(), timeout=0.2)
    t0 = time.monotonic()
    with pytest.raises(StoreError, match="OS keyring did not answer within 0.2 s"):
        backend.get("x")
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(StoreError, match="ServiceUnknown"):
        backend.set("x", "secret-never-shown")
    release.set()


def _fake_plaintext_keyring() -> object:
    from keyring.backend import KeyringBackend

    class PlaintextKeyring(KeyringBackend):  # named like keyrings.alt's, stores in the clear
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.data: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.data.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.data[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.data.pop((service, username), None)

    return PlaintextKeyring()


def test_plaintext_keyring_is_refused(alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring.core

    from alpaca_tui.core.store import probe_keyring_detail, probe_system_keyring

    fake = _fake_plaintext_keyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", fake)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", os.environ.get("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x"))
    ok, reason = probe_system_keyring()
    assert not ok and "plaintext" in reason and "PlaintextKeyring" in reason
    assert fake.data == {}  # type: ignore[attr-defined]  # not even the probe entry was written
    assert not probe_keyring_detail().viable
    with pytest.raises(BackendUnavailableError, match="plaintext"):
        Store.open(backend="system")
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    store = Store.open()
    assert store.backend_kind == "file"
    _one(store)
    assert fake.data == {}  # type: ignore[attr-defined]


def test_chainer_of_only_plaintext_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring.core
    from keyring.backends.chainer import ChainerBackend

    from alpaca_tui.core.store import probe_system_keyring

    fake = _fake_plaintext_keyring()
    monkeypatch.setattr(ChainerBackend, "backends", [fake])
    monkeypatch.setattr(keyring.core, "_keyring_backend", ChainerBackend())
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", os.environ.get("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x"))
    ok, reason = probe_system_keyring()
    assert not ok and "chainer" in reason and "PlaintextKeyring" in reason


def test_keyrings_alt_plaintext_via_environment_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("keyrings.alt")
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    code = ("from alpaca_tui.core.store import probe_system_keyring; ok, r = probe_system_keyring(); "
            "print(ok); print(r)")
    env = subprocess_env({"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                          "XDG_DATA_HOME": str(tmp_path)})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.splitlines()[0] == "False" and "plaintext" in out.stdout


@pytest.mark.system_keyring
def test_probe_reports_the_real_secret_service(system_keyring_home: Path) -> None:
    from alpaca_tui.core.store import probe_keyring_detail

    probe = probe_keyring_detail()
    assert probe.viable and probe.backend == "keyring.backends.SecretService.Keyring"
    assert "round trip" in probe.reason
    names = {c.name: c for c in probe.candidates}
    assert names["keyring.backends.SecretService.Keyring"].viable
    rejected = [c for c in probe.candidates if not c.viable]
    assert rejected and all(c.reason for c in rejected)  # each rejection says why
