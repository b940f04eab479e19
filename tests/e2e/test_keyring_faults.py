"""The OS keyring breaking mid-session, on a REAL Secret Service.

Each test runs :mod:`tests.e2e.keyring_fault_driver` in its own ``dbus-run-session`` with
its own ``gnome-keyring-daemon`` (HOME and XDG dirs in a temp dir), so locking, killing or
freezing that keyring never disturbs the session the rest of the suite uses. The keyring
timeout is lowered to 1 s (``ALPACA_TUI_KEYRING_TIMEOUT``) to keep the frozen-daemon case
fast; the bound it proves is the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_PASSPHRASE
from tests.e2e.private_keyring import needs_keyring_tools, run_in_private_keyring

KEYRING_TIMEOUT = 1.0


def run_driver(tmp_path: Path, what: str) -> dict[str, Any]:
    """The fault driver in a private D-Bus session with a fresh, unlocked gnome-keyring."""
    return run_in_private_keyring(tmp_path, "tests.e2e.keyring_fault_driver", what,
                                  extra={"ALPACA_TUI_KEYRING_TIMEOUT": str(KEYRING_TIMEOUT)})


def one_line_error(run: dict[str, Any]) -> str:
    lines = run["err"].strip().splitlines()
    assert len(lines) == 1, run
    assert "Traceback" not in run["err"] and run["err"].startswith("alpaca-tui: error: "), run
    return lines[0]


@needs_keyring_tools
def test_cli_when_the_keyring_is_locked_killed_or_frozen(tmp_path: Path) -> None:
    data = run_driver(tmp_path, "cli")
    assert data["before"]["code"] == 0, data["before"]
    for mode, res in data["modes"].items():
        for run in res["runs"]:
            assert run["code"] == 1, (mode, run)
            line = one_line_error(run)
            assert "OS keyring" in line, (mode, line)
            assert run["out"] == "", (mode, run)
            # bounded: a frozen daemon costs one keyring timeout per process, never a hang
            limit = KEYRING_TIMEOUT * 2 + (8.0 if run["args"][0] == "check" and mode == "stop" else 1.5)
            assert run["seconds"] < limit, (mode, run)
            if mode in ("lock", "kill"):
                assert "locked" in line and "unlock it" in line, (mode, line)
            else:
                assert "did not answer within 1 s" in line, (mode, line)
        assert res["index_unchanged"], mode
        assert res["secrets_intact"] == {"bx": True, "paper": True}, mode
        assert res["profiles"] == ["bx", "paper"], mode
    # the frozen case also as a real child process: exits 1 by itself, in bounded time
    child = data["modes"]["stop"]["runs"][-1]
    assert child["args"] == ["check", "bx"] and child["code"] == 1
    assert data["after"]["code"] == 0, data["after"]


@needs_keyring_tools
def test_tui_shows_keyring_errors_from_workers_and_recovers(tmp_path: Path) -> None:
    data = run_driver(tmp_path, "tui")
    assert "last error OS keyring is locked" in data["panel_text"]
    assert "✗ no valid token" in data["panel_text"]
    notes = data["notes_locked"]
    reveal = [n for n in notes if "reveal" in n["title"]]
    assert reveal and reveal[0]["severity"] == "error" and "OS keyring is locked" in reveal[0]["message"]
    check = [n for n in notes if "check" in n["title"]]
    assert check and check[0]["severity"] == "error" and "OS keyring is locked" in check[0]["message"]
    assert data["still_running"] and not data["secret_shown"]
    assert "last error none" in data["panel_text_after"] and " left" in data["panel_text_after"]


def test_wrong_passphrase_for_check_and_token(alpaca_home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The encrypted-file backend with a wrong passphrase: check and token (the engine-backed
    commands; profiles add/remove/show are covered in tests/cli/test_profiles.py) exit 1 with
    one line, and nothing on disk changes."""
    from alpaca_tui.cli.main import main
    from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.store import Store

    store = Store.open()
    store.add_profile(Profile("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKWRONGPASS…0001"),
                      SecretBundle(Secret("CKWRONGPASS000000001", "c" * 64)))
    files = {p: p.read_bytes() for p in sorted(alpaca_home.iterdir()) if p.is_file()}
    wrong = tmp_path / "wrong"
    wrong.write_text("not " + TEST_PASSPHRASE + "\n")
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(wrong))
    for args in (["check", "bx"], ["check", "--all", "--json"], ["token", "bx"]):
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 1, args
        assert out == "" and len(err.strip().splitlines()) == 1 and "wrong passphrase" in err, (args, err)
    assert {p: p.read_bytes() for p in files} == files
    assert not os.environ.get("ALPACA_TUI_DEBUG")


@pytest.mark.parametrize(("raw", "expected"), [("", 3.0), ("0.5", 0.5), ("junk", 3.0), ("0", 0.1),
                                               ("nan", 3.0), ("1e9", 120.0)])
def test_keyring_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str,
                                              expected: float) -> None:
    from alpaca_tui.core.store.system import keyring_timeout

    monkeypatch.setenv("ALPACA_TUI_KEYRING_TIMEOUT", raw)
    assert keyring_timeout() == expected
