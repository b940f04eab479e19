"""The short way to the Secret Service (core/store/secretservice.py): taken only where keyring's
recorded choice still holds, reading the very items keyring's own backend writes, and checked
by doctor against keyring's discovery."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import secretservice as ss

SECRET = "direct-secret-service-0123456789abcdefghij"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or "unix:path=/x"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for k in [k for k in os.environ if k.startswith("KEYRING_PROPERTY_")] + ["PYTHON_KEYRING_BACKEND"]:
        monkeypatch.delenv(k, raising=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


def test_record_holds_only_in_the_same_environment(env: Path, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    assert ss.recorded_probe(env) is None  # nothing recorded: ask keyring
    ss.remember(env, ss.SECRET_SERVICE)
    probe = ss.recorded_probe(env)
    assert probe is not None and probe.viable and probe.backend == ss.SECRET_SERVICE
    assert isinstance(probe.keyring, ss.DirectSecretService)
    assert (env / ss.RECORD_NAME).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")  # KWallet may outrank the Secret Service there
    assert ss.recorded_probe(env) is None
    monkeypatch.delenv("XDG_CURRENT_DESKTOP")
    for var, value in (("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring"),
                       ("KEYRING_PROPERTY_SCHEME", "KeePassXC")):
        monkeypatch.setenv(var, value)
        assert ss.recorded_probe(env) is None  # keyring is configured: keyring decides
        monkeypatch.delenv(var)
    config = tmp_path / "config" / "python_keyring"
    config.mkdir(parents=True)
    (config / "keyringrc.cfg").write_text("[backend]\ndefault-keyring=keyring.backends.null.Keyring\n")
    assert ss.recorded_probe(env) is None
    (config / "keyringrc.cfg").unlink()
    assert ss.recorded_probe(env) is not None
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    assert ss.recorded_probe(env) is None


def test_another_choice_or_a_stale_install_is_not_taken(env: Path) -> None:
    ss.remember(env, "keyring.backends.kwallet.DBusKeyring")
    assert ss.recorded_choice(env) == "keyring.backends.kwallet.DBusKeyring"
    assert ss.recorded_probe(env) is None  # only the Secret Service has a short way
    doc = json.loads((env / ss.RECORD_NAME).read_text())
    doc.update(chosen=ss.SECRET_SERVICE, installed=doc["installed"] - 1)  # packages changed since
    (env / ss.RECORD_NAME).write_text(json.dumps(doc))
    assert ss.recorded_probe(env) is None


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"{" + b" " * 5000 + b"}"])
def test_damaged_record_is_ignored(env: Path, content: bytes) -> None:
    (env / ss.RECORD_NAME).write_bytes(content)
    assert ss.recorded_probe(env) is None


def test_symlinked_record_is_not_followed(env: Path, tmp_path: Path) -> None:
    ss.remember(env, ss.SECRET_SERVICE)
    target = tmp_path / "elsewhere.json"
    (env / ss.RECORD_NAME).rename(target)
    (env / ss.RECORD_NAME).symlink_to(target)
    assert ss.recorded_probe(env) is None


@pytest.mark.system_keyring
def test_direct_reads_what_keyring_writes_and_the_other_way_round(system_keyring_home: Path) -> None:
    import keyring

    from alpaca_tui.core.store import Store

    first = Store.open(system_keyring_home)
    first.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
                      SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret=SECRET)))
    pinned = Store.open(system_keyring_home)  # asks keyring (the home is pinned now) and records its choice
    asked = pinned.secret_backend._kr
    assert isinstance(asked, ss.DirectSecretService) and asked._backend is not None  # keyring's instance
    assert ss.recorded_choice(system_keyring_home) == ss.SECRET_SERVICE
    direct = Store.open(system_keyring_home)
    assert isinstance(direct.secret_backend._kr, ss.DirectSecretService)
    assert direct.load_bundle("p").active.secret == SECRET
    direct.save_token("p", {"access_token": "tok", "expires_at": 1})  # a write, without keyring too
    assert direct.secret_backend._kr._backend is None
    service = direct.secret_backend.service
    assert keyring.get_keyring().get_password(service, "p#token") is not None
    assert direct.load_token("p") == {"access_token": "tok", "expires_at": 1}
    direct.remove_profile("p")
    assert keyring.get_keyring().get_password(service, "p") is None


@pytest.mark.system_keyring
def test_our_items_are_keyrings_items(system_keyring_home: Path) -> None:
    """Written by us, found and deleted by keyring's own backend, and the other way round, with
    keyring's label and attributes."""
    import keyring
    import secretstorage

    service = "alpaca-tui-test/" + system_keyring_home.parent.name
    ours, theirs = ss.DirectSecretService(), keyring.get_keyring()
    ours.set_password(service, "mine", "written-by-us")
    theirs.set_password(service, "theirs", "written-by-keyring")
    try:
        assert theirs.get_password(service, "mine") == "written-by-us"
        assert ours.get_password(service, "theirs") == "written-by-keyring"
        conn = secretstorage.dbus_init()
        try:
            # gnome-keyring may add its own "xdg:schema" (seen on one of the two, once in a full run)
            found = {i.get_attributes()["username"]:
                     (i.get_label(), {k: v for k, v in i.get_attributes().items()
                                      if not k.startswith("xdg:")})
                     for i in secretstorage.get_default_collection(conn).search_items({"service": service})}
        finally:
            conn.close()
        assert found["mine"] == (found["theirs"][0].replace("theirs", "mine"),
                                 {**found["theirs"][1], "username": "mine"})
        theirs.delete_password(service, "mine")
        ours.delete_password(service, "theirs")
        assert ours.get_password(service, "mine") is None and theirs.get_password(service, "theirs") is None
        from keyring.errors import PasswordDeleteError

        with pytest.raises(PasswordDeleteError):
            ours.delete_password(service, "mine")
    finally:
        for user in ("mine", "theirs"):
            with contextlib.suppress(Exception):
                theirs.delete_password(service, user)


@pytest.mark.system_keyring
@pytest.mark.parametrize("value", ["x" * 16, "y" * 32, "ünïcødé-sécret-✓", "z"])
def test_the_direct_read_decrypts_every_padding(system_keyring_home: Path, value: str) -> None:
    """The short way decrypts the Secret Service's AES-CBC answer itself (PKCS#7: a whole block
    of padding after 16 or 32 bytes); a child reading it never imports cryptography's legacy
    backend module (secretstorage's default_backend(): ~13 ms)."""
    import subprocess
    import sys

    import keyring

    from alpaca_tui.core.store import Store
    from tests.conftest import subprocess_env

    Store.open(system_keyring_home).add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
                                                SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret="seed")))
    Store.open(system_keyring_home)  # records keyring's choice: the next opens take the short way
    service = Store.open(system_keyring_home).secret_backend.service
    keyring.get_keyring().set_password(service, "probe-entry", value)
    code = ("import sys\n"
            "from alpaca_tui.core.store import secretservice as ss\n"
            f"v = ss.DirectSecretService().get_password({service!r}, 'probe-entry')\n"
            "print(repr(v)); print('cryptography.hazmat.backends.openssl' in sys.modules)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env=subprocess_env())
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [repr(value), "False"]
    finally:
        keyring.get_keyring().delete_password(service, "probe-entry")
        Store.open(system_keyring_home).remove_profile("p")


@pytest.mark.system_keyring
def test_doctor_checks_the_record_against_keyring(system_keyring_home: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from alpaca_tui.cli.main import main
    from alpaca_tui.core.store import Store

    Store.open(system_keyring_home).add_profile(
        Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
        SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", SECRET)))
    ss.remember(system_keyring_home, "keyring.backends.kwallet.DBusKeyring")  # keyring disagrees
    assert main(["doctor", "--json"]) == 0
    system = next(b for b in json.loads(capsys.readouterr().out)["backends"] if b["kind"] == "system")
    assert system["keyring_choice"] == {"recorded": "keyring.backends.kwallet.DBusKeyring", "agrees": False}
    assert ss.recorded_choice(system_keyring_home) == system["keyring_backend"] == ss.SECRET_SERVICE
    assert main(["doctor", "--json"]) == 0
    system = next(b for b in json.loads(capsys.readouterr().out)["backends"] if b["kind"] == "system")
    assert system["keyring_choice"] == {"recorded": ss.SECRET_SERVICE, "agrees": True}


def test_nothing_is_written_into_a_home_others_can_change(env: Path) -> None:
    env.chmod(0o777)
    try:
        ss.remember(env, ss.SECRET_SERVICE)
        assert not (env / ss.RECORD_NAME).exists()
    finally:
        env.chmod(0o700)


class AliasAnswers:
    """A stand-in D-Bus connection answering ReadAlias with ``answers`` in turn (the last one
    again after them); what a new gnome-keyring client sees while it is not set up yet is "/"."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.asked, self.closed = list(answers), 0, False

    def send_and_get_reply(self, msg: object) -> object:
        from types import SimpleNamespace

        from jeepney import MessageType

        assert msg.header.fields[3] == "ReadAlias"  # type: ignore[attr-defined]  # member
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return SimpleNamespace(header=SimpleNamespace(message_type=MessageType.method_return), body=(answer,))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("answers", "path", "asked"), [
    (["/org/freedesktop/secrets/collection/login"], "/org/freedesktop/secrets/collection/login", 1),
    (["/", "/", "/org/freedesktop/secrets/collection/login"], "/org/freedesktop/secrets/collection/login", 3),
    (["/"], None, 1 + len(ss.READY_PAUSES)),  # no default collection: keyring's way (it creates one)
])
def test_the_default_collection_is_asked_again_on_the_same_connection(
        monkeypatch: pytest.MonkeyPatch, answers: list[str], path: str | None, asked: int) -> None:
    import secretstorage

    conn = AliasAnswers(*answers)
    monkeypatch.setattr(secretstorage, "dbus_init", lambda: conn)
    monkeypatch.setattr(ss, "READY_PAUSES", (0.001,) * len(ss.READY_PAUSES))
    got_conn, got_path = ss.DirectSecretService()._connect()
    assert got_conn is conn and got_path == path and conn.asked == asked and not conn.closed


def test_a_failing_lookup_closes_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import secretstorage
    from secretstorage.exceptions import SecretServiceNotAvailableException

    conn = AliasAnswers("/")

    def gone(msg: object) -> object:
        raise SecretServiceNotAvailableException("The name org.freedesktop.secrets was not provided")

    conn.send_and_get_reply = gone  # type: ignore[method-assign]
    monkeypatch.setattr(secretstorage, "dbus_init", lambda: conn)
    with pytest.raises(SecretServiceNotAvailableException):
        ss.DirectSecretService().get_password("s", "u")
    assert conn.closed


def test_keyrings_own_instance_is_aimed_by_a_copy() -> None:
    from keyring.backends.SecretService import Keyring

    given = Keyring()  # type: ignore[no-untyped-call]
    direct = ss.DirectSecretService(given)
    aimed = direct.keyring_backend("/org/freedesktop/secrets/collection/login")
    assert aimed is not given and aimed.preferred_collection.endswith("/login")
    assert not hasattr(given, "preferred_collection")  # keyring's answer to later probes is untouched
    assert direct.keyring_backend("/org/freedesktop/secrets/collection/login") is aimed
    assert direct.keyring_backend(None) is given


def test_no_default_collection_is_an_answer_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """ReadAlias said "/" throughout: keyring's own backend asks to create one, and headless that
    prompt is dismissed at once: one clear error, no retries (system.is_passing_answer)."""
    from alpaca_tui.core.errors import StoreError
    from alpaca_tui.core.store import system

    class NoCollection:
        calls = 0

        def get_password(self, service: str, username: str) -> str | None:
            NoCollection.calls += 1
            raise RuntimeError("Failed to create the collection: Prompt dismissed..")

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    conn = AliasAnswers("/")
    monkeypatch.setattr("secretstorage.dbus_init", lambda: conn)
    monkeypatch.setattr(ss, "READY_PAUSES", (0.001,))
    direct = ss.DirectSecretService(NoCollection())
    backend = system.SystemBackend(Path("/nonexistent-home"), direct, timeout=5)
    with pytest.raises(StoreError, match=r"^OS keyring has no default collection, and keyring could not "
                                         r"create one \(Failed to create the collection: Prompt dismissed"):
        backend.get("k")
    assert NoCollection.calls == 1 and conn.closed
