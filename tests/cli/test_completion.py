"""``alpaca-tui completion``: what the scripts are told for the words typed so far, and where
the profile names come from (the index file only: no secret backend, no prompt, no write)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alpaca_tui.cli.completion import FILES, complete
from alpaca_tui.cli.main import build_parser
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from tests.conftest import subprocess_env

PROFILES = (("paper-main", Env.PAPER, Flow.LEGACY), ("live-desk", Env.LIVE, Flow.LEGACY),
            ("sandbox-oauth", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET))
SECRET = "s3cr3t-value-that-must-never-show-0123456789"


@pytest.fixture
def home(alpaca_home: Path) -> Path:
    from alpaca_tui.core.store import Store

    store = Store.open(alpaca_home)
    for name, env, flow in PROFILES:
        store.add_profile(Profile(name, env, flow, "PKAB…WXYZ"),
                          SecretBundle(Secret(f"PK{name.upper()[:6]}XXXXXXXXXXXX", secret=SECRET)))
    return alpaca_home


def ask(*words: str, describe: bool = False) -> list[str]:
    return list(complete(build_parser(), ["alpaca-tui", *words], describe=describe))


def test_commands_options_and_values() -> None:
    assert {"check", "request", "profiles", "completion", "demo", "doctor"} <= set(ask(""))
    assert ask("ch") == ["check"]
    assert set(ask("check", "--")) >= {"--all", "--json", "--no-cache", "--timeout", "--help"}
    assert ask("check", "--no-c") == ["--no-cache"]
    assert ask("profiles", "") == ["add", "list", "show", "remove"]
    assert ask("profiles", "add", "x", "--env", "") == [e.value for e in Env]
    assert ask("profiles", "add", "x", "--env", "paper", "--flow", "c") == ["client-secret"]
    assert ask("completion", "") == ["bash", "zsh", "fish"]
    assert ask("request", "x", "P") == ["POST", "PUT", "PATCH"]
    assert ask("--v") == ["--version"]
    # a file name is expected: the shell completes paths
    assert ask("rotate", "x", "--private-key-file", "") == [FILES]
    assert ask("exec", "x", "--", "") == [FILES]
    # an option taking a value does not make its value a subcommand or a positional
    assert ask("check", "--timeout", "5", "--js") == ["--json"]


def test_profile_names_from_the_index(home: Path) -> None:
    assert ask("check", "") == ["live-desk", "paper-main", "sandbox-oauth"]
    assert ask("check", "pa") == ["paper-main"]
    assert ask("check", "paper-main", "") == ["live-desk", "sandbox-oauth"]  # not twice
    assert ask("token", "sand", describe=True) == ["sandbox-oauth\tbroker-sandbox · client-secret"]
    assert ask("profiles", "show", "l") == ["live-desk"]
    assert ask("profiles", "add", "") == []  # a new name: nothing to offer
    assert ask("request", "paper-main", "G") == ["GET"]


def test_names_never_open_the_secret_backend(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.core.store import FileBackend, Store, SystemBackend

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("completion touched the secret store")

    monkeypatch.setattr(Store, "open", refuse)
    for cls in (FileBackend, SystemBackend):
        monkeypatch.setattr(cls, "__init__", refuse)
    assert ask("check", "") == ["live-desk", "paper-main", "sandbox-oauth"]


def run_complete(words: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alpaca_tui", "completion", "--complete"],
                          input="\n".join(words) + "\n", capture_output=True, text=True, env=env, timeout=30)


def test_process_answers_with_a_locked_store_and_a_dead_keyring(home: Path) -> None:
    (home / "secrets.enc").write_bytes(b"garbage, not an encrypted store")  # opening it would fail
    for extra in ({"ALPACA_TUI_KEYRING": "file", "ALPACA_TUI_PASSPHRASE_FILE": ""},
                  {"ALPACA_TUI_KEYRING": "system", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}):
        out = run_complete(["alpaca-tui", "check", ""], subprocess_env(extra))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["live-desk", "paper-main", "sandbox-oauth"]
        assert out.stderr == ""
        assert SECRET not in out.stdout


def test_damaged_index_gives_no_names_and_is_left_alone(home: Path) -> None:
    index = home / "index.json"
    index.write_bytes(b'{"version": 1, "profiles": {"paper-main": ')
    before = sorted(p.name for p in home.iterdir())
    out = run_complete(["alpaca-tui", "check", ""], subprocess_env())
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert sorted(p.name for p in home.iterdir()) == before  # no .corrupt-* copy, nothing written
    assert index.read_bytes() == b'{"version": 1, "profiles": {"paper-main": '


def test_hand_edited_index_never_echoes_a_non_name(home: Path) -> None:
    index = home / "index.json"
    doc = json.loads(index.read_text())
    doc["profiles"]["evil\x1b]0;pwned\x07"] = {"env": "paper\x1b[2J", "flow": "legacy"}
    doc["profiles"]["odd-env"] = {"env": "\x1b[31mred", "flow": "legacy"}
    index.write_text(json.dumps(doc))
    lines = ask("check", "", describe=True)
    assert [line.split("\t")[0] for line in lines] == ["live-desk", "odd-env", "paper-main", "sandbox-oauth"]
    assert all("\x1b" not in line for line in lines)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_name_the_program_and_call_back(shell: str) -> None:
    out = subprocess.run([sys.executable, "-m", "alpaca_tui", "completion", shell], capture_output=True,
                         text=True, env=subprocess_env(), timeout=30)
    assert out.returncode == 0, out.stderr
    assert "alpaca-tui" in out.stdout and "completion --complete" in out.stdout


def test_no_shell_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "alpaca_tui", "completion"], capture_output=True, text=True,
                         env=subprocess_env(), timeout=30)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "bash|zsh|fish" in out.stderr


def test_help_names_debug_and_completion() -> None:
    out = subprocess.run([sys.executable, "-m", "alpaca_tui", "--help"], capture_output=True, text=True,
                         env=subprocess_env(), timeout=30)
    assert out.returncode == 0
    assert "ALPACA_TUI_DEBUG=1" in out.stdout and "completion bash|zsh|fish" in out.stdout
    assert "completion" in out.stdout.split("positional arguments")[1]  # listed as a command
