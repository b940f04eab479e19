"""``alpaca-tui doctor``: backend in use and why, every backend considered, permissions, fixes."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import alpaca_tui.cli.common as common
import alpaca_tui.cli.main as cli_main
from tests.conftest import cli_argv, subprocess_env

PAPER_ID = "PKTEST00000000000001"
PAPER_SECRET = "PaperSecret0123456789abcdefghijklmnopqrs"
RUNNER = ("import importlib.util as u, sys, alpaca_tui.cli.main as m; "
          "m.COMMAND_MODULES = tuple(x for x in m.COMMAND_MODULES if u.find_spec(x)); "
          "raise SystemExit(m.main(sys.argv[1:]))")

TOP_KEYS = {"ok", "home", "home_exists", "index", "backend", "error", "selection_notes", "backends",
            "permissions", "consistency", "environment", "protection", "fixes"}


def _argv(*args: str) -> list[str]:
    if all(importlib.util.find_spec(m) for m in cli_main.COMMAND_MODULES):
        return cli_argv(*args)
    return [sys.executable, "-c", RUNNER, *args]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        tuple(m for m in cli_main.COMMAND_MODULES if importlib.util.find_spec(m)))
    monkeypatch.setattr(common, "have_tty", lambda: False)

    def _run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = cli_main.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _add(run) -> None:
    code, _out, err = run("profiles", "add", "p", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
                          "--secret-stdin", stdin=PAPER_SECRET)
    assert code == 0, err


def _check_schema(doc: dict) -> None:
    assert set(doc) == TOP_KEYS
    assert set(doc["index"]) == {"path", "exists", "profiles", "recorded_backend", "error"}
    system, file_info = doc["backends"]
    assert system["kind"] == "system" and file_info["kind"] == "file"
    assert {"viable", "reason", "keyring_backend", "service", "candidates"} <= set(system)
    assert system["service"].startswith("alpaca-tui/") and len(system["service"]) == len("alpaca-tui/") + 12
    assert {"path", "exists", "usable", "reason", "passphrase_source", "passphrase_file",
            "passphrase_ok", "session_agent"} <= set(file_info)
    assert file_info["session_agent"] == {"running": False, "pid": None, "expires_at": None}
    for p in doc["permissions"]:
        assert set(p) == {"path", "exists", "mode", "expected", "ok"}
    assert set(doc["environment"]) == {"ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "ALPACA_TUI_PASSPHRASE_FILE",
                                       "PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS"}
    assert isinstance(doc["fixes"], list) and isinstance(doc["selection_notes"], list)
    assert set(doc["consistency"]) == {"checked", "reason", "profiles", "repaired", "errors", "orphans"}


def test_doctor_json_with_encrypted_file(run, alpaca_home: Path) -> None:
    code, out, _err = run("doctor", "--json")
    assert code == 0
    doc = json.loads(out)
    _check_schema(doc)
    assert doc["ok"] is True and doc["backend"] == {"kind": "file", "label": "encrypted file"}
    assert doc["home"] == str(alpaca_home) and doc["home_exists"] is False
    assert doc["index"]["exists"] is False and doc["index"]["profiles"] == 0
    file_info = doc["backends"][1]
    assert file_info["exists"] is False and file_info["passphrase_source"] == "ALPACA_TUI_PASSPHRASE_FILE"
    assert not alpaca_home.exists()  # doctor creates nothing

    _add(run)
    code, out, _err = run("doctor", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["index"]["profiles"] == 1 and doc["index"]["recorded_backend"] == "file"
    file_info = doc["backends"][1]
    assert file_info["exists"] is True and file_info["passphrase_ok"] is True and file_info["usable"]
    perms = {Path(p["path"]).name: p for p in doc["permissions"]}
    assert perms[alpaca_home.name]["mode"] == "0700" and perms["index.json"]["mode"] == "0600"
    assert perms["secrets.enc"]["ok"] and perms["passphrase"]["ok"]


def test_doctor_without_passphrase_never_prompts(run, alpaca_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _add(run)
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    monkeypatch.setattr(common, "prompt_hidden", lambda p: pytest.fail("doctor prompted"))
    code, out, _err = run("doctor", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["backends"][1]["passphrase_ok"] is None
    assert "locked" in doc["backends"][1]["reason"]
    assert doc["consistency"]["checked"] is False and "locked" in doc["consistency"]["reason"]
    assert any("ALPACA_TUI_PASSPHRASE_FILE" in f for f in doc["fixes"])


def test_doctor_wrong_passphrase_file_fails(run, alpaca_home: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _add(run)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    wrong.chmod(0o644)
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(wrong))
    code, out, _err = run("doctor", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert doc["backends"][1]["passphrase_ok"] is False and "wrong passphrase" in doc["backends"][1]["reason"]
    assert f"chmod 600 {wrong}" in doc["fixes"]


def test_doctor_reports_corrupt_index_and_loose_permissions(run, alpaca_home: Path) -> None:
    _add(run)
    (alpaca_home / "index.json").write_text("{oops")
    alpaca_home.chmod(0o755)
    code, out, _err = run("doctor", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert "corrupted" in doc["index"]["error"] and doc["error"]
    assert f"chmod 700 {alpaca_home}" in doc["fixes"]
    code, out, _err = run("doctor")
    assert code == 1 and "✗" in out and "corrupted" in out and "status: no usable" in out


def test_doctor_human_output(run, alpaca_home: Path) -> None:
    code, out, err = run("doctor")
    assert code == 0 and err == ""
    for fragment in ("home", "secret backend  ✓ encrypted file", "OS keyring", "encrypted file",
                     "permissions", "status: ok"):
        assert fragment in out


def _doctor_subprocess(tmp_path: Path, **extra: str) -> tuple[int, dict, str]:
    env = {k: v for k, v in subprocess_env().items()
           if k not in ("DBUS_SESSION_BUS_ADDRESS", "ALPACA_TUI_KEYRING", "PYTHON_KEYRING_BACKEND",
                        "ALPACA_TUI_PASSPHRASE_FILE")}
    env["ALPACA_TUI_HOME"] = str(tmp_path / "home")
    env.update(extra)
    out = subprocess.run(_argv("doctor", "--json"), capture_output=True, text=True, env=env, timeout=60,
                         stdin=subprocess.DEVNULL)
    return out.returncode, json.loads(out.stdout), out.stderr


def test_doctor_without_dbus_rejects_the_keyring_and_uses_the_file(tmp_path: Path) -> None:
    code, doc, err = _doctor_subprocess(tmp_path)
    assert code == 0, err
    _check_schema(doc)
    system = doc["backends"][0]
    assert system["viable"] is False and "DBUS_SESSION_BUS_ADDRESS is not set" in system["reason"]
    assert doc["backend"]["kind"] == "file"
    assert any(n.startswith("OS keyring unavailable (DBUS_SESSION_BUS_ADDRESS")
               for n in doc["selection_notes"])
    assert any("dbus-run-session" in f and "gnome-keyring-daemon --unlock" in f for f in doc["fixes"])
    assert doc["environment"]["DBUS_SESSION_BUS_ADDRESS"] is None


def test_doctor_forced_system_without_dbus_exits_1(tmp_path: Path) -> None:
    code, doc, _err = _doctor_subprocess(tmp_path, ALPACA_TUI_KEYRING="system")
    assert code == 1 and doc["ok"] is False and doc["backend"] is None
    assert "DBUS_SESSION_BUS_ADDRESS" in doc["error"]
    assert any("ALPACA_TUI_KEYRING=file" in f for f in doc["fixes"])


@pytest.mark.system_keyring
def test_doctor_with_the_real_secret_service(run, system_keyring_home: Path, monkeypatch) -> None:
    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    code, out, _err = run("doctor", "--json")
    assert code == 0
    doc = json.loads(out)
    _check_schema(doc)
    system = doc["backends"][0]
    assert system["viable"] and system["keyring_backend"] == "keyring.backends.SecretService.Keyring"
    assert doc["backend"]["kind"] == "system" and "Secret Service" in doc["backend"]["label"]
    assert any(not c["viable"] and c["reason"] for c in system["candidates"])
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS") == doc["environment"]["DBUS_SESSION_BUS_ADDRESS"]
    collection = system["default_collection"]  # "login" in ./dev test's own keyring; a desktop's may differ
    assert collection["path"].startswith("/org/freedesktop/secrets/collection/")
    assert collection["locked"] is False


# -- consistency: index entries vs secret bundles ------------------------------------------------
def _bundle(key_id: str, secret: str, **kw):
    from alpaca_tui.core.credentials import Secret, SecretBundle

    return SecretBundle(active=Secret(key_id, secret), **kw)


def test_doctor_repairs_an_index_left_behind_its_secret(run, alpaca_home: Path) -> None:
    """A rotation killed after promoting the secret and before its index write (the e2e test
    does it with kill -9): doctor repairs the index from the secret store, once."""
    from alpaca_tui.core.credentials import Secret
    from alpaca_tui.core.redact import mask
    from alpaca_tui.core.store import Store

    _add(run)
    new_id, new_secret = "PKTEST00000000000002", "NewPaperSecret0123456789abcdefghijklmn"
    store = Store.open()
    store.update_profile("p", rotation_state="pending", pending_key_id_masked=mask(new_id))
    promoted = _bundle(new_id, new_secret, previous=Secret(PAPER_ID, PAPER_SECRET),
                       previous_retire_at=2_000_000_000.0)
    store.save_bundle("p", promoted)  # the bundle only: the index still says pending, old key
    code, out, err = run("doctor", "--json")
    assert code == 0, err
    doc = json.loads(out)
    c = doc["consistency"]
    assert c["checked"] is True and c["profiles"] == 1 and c["errors"] == [] and c["orphans"] == []
    assert len(c["repaired"]) == 1
    note = c["repaired"][0]
    assert note.startswith("profile 'p': its index entry disagreed with the secret store")
    assert f"active key {mask(new_id)} (index said {mask(PAPER_ID)})" in note
    assert "rotation state overlap (index said pending)" in note and "2033-05-18" in note
    assert PAPER_SECRET not in out and new_secret not in out
    p = Store.open().get_profile("p")
    assert p.key_id_masked == mask(new_id) and p.rotation_state == "overlap"
    assert p.pending_key_id_masked is None and p.previous_retire_at is not None
    assert Store.open().load_bundle("p") == promoted  # no secret touched
    code, out, _ = run("doctor")
    assert code == 0 and "consistency     ✓ 1 profile(s) agree with their secrets" in out
    assert "repaired:" not in out


def test_doctor_human_output_names_the_repair(run, alpaca_home: Path) -> None:
    from alpaca_tui.core.credentials import Secret
    from alpaca_tui.core.store import Store

    _add(run)
    Store.open().save_bundle("p", _bundle(PAPER_ID, PAPER_SECRET,
                                          pending=Secret("PKTEST00000000000003", "x" * 40)))
    code, out, _ = run("doctor")
    assert code == 0
    assert "consistency     ✓ repaired 1 profile(s) from their secrets" in out
    assert "repaired: profile 'p': " in out and "rotation state pending (index said none)" in out


def test_doctor_reports_a_lost_secret_and_an_orphan(run, alpaca_home: Path) -> None:
    """A secret missing for a profile is an error with a fix (exit 1); a secret kept for a name
    with no profile (an add killed between its two writes) is listed, never deleted."""
    from alpaca_tui.core.store import Store

    _add(run)
    store = Store.open()
    store._backend.update({"ghost": json.dumps(_bundle("PKGHOST0000000000001", "g" * 40).to_dict())}, ("p",))
    code, out, _ = run("doctor", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    c = doc["consistency"]
    assert c["orphans"] == ["ghost"] and len(c["errors"]) == 1 and "is missing" in c["errors"][0]
    assert any("profiles remove p" in f for f in doc["fixes"])
    assert any("'ghost'" in f and "profiles add ghost" in f for f in doc["fixes"])
    assert "g" * 40 not in out
    assert Store.open().secret_names() == ["ghost"]  # doctor deleted nothing


def test_doctor_sees_the_session_agent(run, alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `alpaca-tui unlock` doctor needs no passphrase to check consistency, and says so."""
    from alpaca_tui.core.store import agent

    _add(run)
    code, _out, err = run("unlock", "--for", "5m")
    assert code == 0, err
    try:
        monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
        monkeypatch.setattr(common, "prompt_hidden", lambda p: pytest.fail("doctor prompted"))
        code, out, _err = run("doctor", "--json")
        doc = json.loads(out)
        ag = doc["backends"][1]["session_agent"]
        assert code == 0 and ag["running"] is True and isinstance(ag["pid"], int) and ag["expires_at"]
        assert "unlocked for this session" in doc["backends"][1]["reason"]
        assert doc["consistency"]["checked"] is True
        code, out, _err = run("doctor")
        assert "session agent   ✓ running" in out
    finally:
        agent.stop(alpaca_home)
    code, out, _err = run("doctor")
    assert "session agent   – not running" in out
