"""alpaca-tui's Secret Service client (core/store/secretservice.py) on a REAL gnome-keyring, in
a private session (tests/e2e/private_keyring.py, driver tests/e2e/secret_service_driver.py):
it follows the session's default alias wherever it points, and many short-lived clients at
once, with more arriving all the time, get every answer right and leave the daemon running
(gnome-keyring 42 races on the alias path that keyring itself uses: see READY_PAUSES)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.private_keyring import needs_keyring_tools, run_in_private_keyring

DRIVER = "tests.e2e.secret_service_driver"


@needs_keyring_tools
def test_the_store_follows_the_default_alias(tmp_path: Path) -> None:
    data = run_in_private_keyring(tmp_path, DRIVER, "alias")
    assert data["alias"].endswith("/collection/session") and data["kind"] == "system"
    assert data["session_after_add"] == ["p"] and data["login_after_add"] == []
    assert data["read_back"] and data["keyring_reads_it"]
    assert data["session_after_remove"] == []


@needs_keyring_tools
def test_many_new_clients_at_once_get_every_answer_right(tmp_path: Path) -> None:
    data = run_in_private_keyring(tmp_path, DRIVER, "clients", "ours", "4", "25", timeout=150)
    assert data["workers_failed"] == [] and data["workers_hung"] == 0, data
    assert data["daemon_after"] == data["daemon_before"] is not None, data  # the same daemon, alive
    assert data["errors"] == {} and data["wrong"] == 0, data
    assert data["calls"] == 4 * 25 * 6, data


@needs_keyring_tools
def test_no_default_collection_is_one_line_at_once(tmp_path: Path) -> None:
    data = run_in_private_keyring(tmp_path, DRIVER, "no-default", unlock=False)
    assert data["alias"] == "/"
    assert data["code"] == 1 and data["out"] == "", data
    lines = data["err"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alpaca-tui: error: OS keyring unavailable"), data
    assert "no default collection, and keyring could not create one" in lines[0]
    # (tried once: tests/unit/test_secretservice_direct.py counts the calls)
    assert "✗ no default collection" in data["doctor"] and "gnome-keyring-daemon --unlock" in data["doctor"]
