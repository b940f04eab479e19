"""The OS keyring backend, and its probe, try again when gnome-keyring momentarily says an object
it has does not exist (``core/store/system.py``): headless, its default collection (keyring then
asks to create one, and the prompt for that cannot be shown without a display), or the collection
or an item (secretstorage's ItemNotFoundException). A narrow unit: a stand-in keyring backend
raising what keyring raises there; the real Secret Service runs in
tests/unit/test_store_protocols.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store import system

DISMISSED = "Failed to create the collection: Prompt dismissed.."


class InitError(Exception):
    """keyring.errors.InitError, as far as the backend can tell (by its text)."""


class FlakyKeyring:
    """Raises ``error`` on the first ``failures`` calls, then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or InitError(DISMISSED)
        self.stored: dict[tuple[str, str], str] = {}

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error

    def get_password(self, service: str, username: str) -> str | None:
        self._maybe_fail()
        return self.stored.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._maybe_fail()
        self.stored[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        self._maybe_fail()
        if self.stored.pop((service, username), None) is None:
            raise PasswordDeleteError("No such password!")


class ItemNotFoundException(Exception):
    """secretstorage's, as far as the backend can tell (by its name)."""


@pytest.fixture(autouse=True)
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(system, "TRANSIENT_RETRIES", (0.01, 0.01, 0.01))


def backend(tmp_path: Path, kr: FlakyKeyring) -> system.SystemBackend:
    return system.SystemBackend(tmp_path / "home", kr, timeout=5)


def test_a_passing_no_collection_answer_is_tried_again(tmp_path: Path) -> None:
    kr = FlakyKeyring(failures=2)
    b = backend(tmp_path, kr)
    b.set("k", "v")  # two dismissals, then written
    assert kr.calls == 3 and b.get("k") == "v"


def test_one_that_lasts_is_a_one_line_error_after_the_retries(tmp_path: Path) -> None:
    kr = FlakyKeyring(failures=100)
    with pytest.raises(StoreError) as exc:
        backend(tmp_path, kr).get("k")
    assert kr.calls == 4  # the call and its three retries
    assert "Failed to create the collection" in str(exc.value) and "\n" not in str(exc.value)


def test_with_a_display_a_dismissed_prompt_is_the_users_answer(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    kr = FlakyKeyring(failures=1)
    with pytest.raises(StoreError):
        backend(tmp_path, kr).get("k")
    assert kr.calls == 1


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    kr = FlakyKeyring(failures=1, error=RuntimeError("org.freedesktop.DBus.Error.NoReply"))
    with pytest.raises(StoreError, match="NoReply"):
        backend(tmp_path, kr).get("k")
    assert kr.calls == 1


def test_an_item_reported_missing_while_deleted_is_looked_for_again(tmp_path: Path) -> None:
    kr = FlakyKeyring(failures=0)
    b = backend(tmp_path, kr)
    b.set("k", "v")
    kr.failures, kr.calls = 1, 0
    kr.error = ItemNotFoundException("Item does not exist!")
    b.delete("k")  # "not there", then searched again and deleted
    assert kr.calls == 2 and b.get("k") is None
    b.delete("k")  # absent: no error


@pytest.mark.parametrize("op", ["read", "write"])
def test_an_object_reported_missing_on_a_read_or_write_is_tried_again(tmp_path: Path, op: str) -> None:
    kr = FlakyKeyring(failures=0)
    b = backend(tmp_path, kr)
    b.set("k", "v")
    kr.failures, kr.calls = 2, 0
    kr.error = ItemNotFoundException("Item does not exist!")
    if op == "read":
        assert b.get("k") == "v"
    else:
        b.set("k", "w")
        assert kr.stored[(b.service, "k")] == "w"
    assert kr.calls == 3


class VanishingKeyring(FlakyKeyring):
    """Writes, but its first ``misses`` searches find nothing (the passing "not there")."""

    def __init__(self, failures: int, misses: int) -> None:
        super().__init__(failures, ItemNotFoundException("Item does not exist!"))
        self.misses = misses

    def get_password(self, service: str, username: str) -> str | None:
        if self.misses:
            self.misses -= 1
            return None
        return super().get_password(service, username)


def probe_with(monkeypatch: pytest.MonkeyPatch, kr: FlakyKeyring) -> system.KeyringProbe:
    import keyring

    monkeypatch.setattr(keyring, "get_keyring", lambda: kr)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")  # only looked at
    return system.probe_keyring_detail(timeout=10)


def test_the_probe_round_trip_tries_a_passing_answer_again(monkeypatch: pytest.MonkeyPatch) -> None:
    kr = VanishingKeyring(failures=1, misses=2)  # the write "not there" once, the read-back twice
    probe = probe_with(monkeypatch, kr)
    assert probe.viable, probe.reason
    assert probe.keyring is kr and kr.stored == {}  # the test entry is gone again


def test_the_probe_says_what_lasts(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = probe_with(monkeypatch, VanishingKeyring(failures=0, misses=100))
    assert not probe.viable and "did not return what was stored" in probe.reason
    probe = probe_with(monkeypatch, VanishingKeyring(failures=100, misses=0))
    assert not probe.viable and "failed a test write/read: Item does not exist!" in probe.reason


def test_a_daemon_gone_mid_call_is_asked_again(tmp_path: Path) -> None:
    """killed, crashed or replaced while it had the message: D-Bus starts a new one for the next try."""
    gone = RuntimeError("Message recipient disconnected from message bus without replying")
    kr = FlakyKeyring(failures=1, error=gone)
    b = backend(tmp_path, kr)
    b.set("k", "v")
    assert kr.calls == 2 and b.get("k") == "v"
