"""The completion scripts in the real shells: an interactive bash, zsh and fish in a pty load
``alpaca-tui completion SHELL`` as the README says, and TAB completes a command, a profile
name (from the index) and an option.

A shell that is not installed is skipped, unless ALPACA_TUI_REQUIRE_SHELLS=1 (CI installs
all three: .ci/run), where a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from tests.ptydrive import Terminal

pytestmark = pytest.mark.e2e
SECRET = "shell-completion-secret-0123456789abcdef"


def need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        if os.environ.get("ALPACA_TUI_REQUIRE_SHELLS"):
            pytest.fail(f"{shell} is not installed (ALPACA_TUI_REQUIRE_SHELLS=1)")
        pytest.skip(f"{shell} is not installed")
    return path


@pytest.fixture
def shell_env(alpaca_home: Path, tmp_path: Path) -> dict[str, str]:
    from alpaca_tui.core.store import Store

    store = Store.open(alpaca_home)
    for name, env, flow in (("paper-main", Env.PAPER, Flow.LEGACY),
                            ("sandbox-oauth", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)):
        store.add_profile(Profile(name, env, flow, "PKAB…WXYZ"),
                          SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret=SECRET)))
    bindir = str(Path(sys.executable).parent)  # where the alpaca-tui command is installed
    user = tmp_path / "user"
    user.mkdir()
    return {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(user), "LANG": "C.UTF-8",
            "ALPACA_TUI_HOME": str(alpaca_home), "ALPACA_TUI_KEYRING": "file",
            "XDG_CONFIG_HOME": str(user / ".config"), "XDG_DATA_HOME": str(user / ".local/share")}


def drive(argv: list[str], env: dict[str, str]) -> None:
    with Terminal(argv, size=(120, 20), env=env) as term:
        term.expect(r"\$ ?$|^\$", timeout=15)
        term.type("alpaca-tui che\t")
        term.expect(r"alpaca-tui check $|alpaca-tui check\b", timeout=15)
        term.type("pa\t")
        term.expect(r"alpaca-tui check paper-main", timeout=15)
        term.type(" --no-c\t")
        term.expect(r"alpaca-tui check paper-main +--no-cache", timeout=15)
        assert SECRET not in term.raw.decode("utf-8", "replace")


def test_bash(shell_env: dict[str, str], tmp_path: Path) -> None:
    bash = need("bash")
    rc = tmp_path / "bashrc"
    rc.write_text("PS1='$ '\neval \"$(alpaca-tui completion bash)\"\n")
    drive([bash, "--noprofile", "--rcfile", str(rc), "-i"], shell_env)


def test_zsh_eval(shell_env: dict[str, str], tmp_path: Path) -> None:
    zsh = need("zsh")
    (tmp_path / ".zshrc").write_text(
        "PS1='$ '\nautoload -Uz compinit\ncompinit -u -D\neval \"$(alpaca-tui completion zsh)\"\n")
    drive([zsh, "-i"], shell_env | {"ZDOTDIR": str(tmp_path)})


def test_zsh_fpath(shell_env: dict[str, str], tmp_path: Path) -> None:
    """The other install: the script saved as ``_alpaca-tui`` in a directory on $fpath."""
    zsh = need("zsh")
    import subprocess

    functions = tmp_path / "zfunc"
    functions.mkdir()
    script = subprocess.run([sys.executable, "-m", "alpaca_tui", "completion", "zsh"], capture_output=True,
                            text=True, check=True, env=shell_env).stdout
    (functions / "_alpaca-tui").write_text(script)
    (tmp_path / ".zshrc").write_text(f"PS1='$ '\nfpath=({functions} $fpath)\nautoload -Uz compinit\n"
                                     "compinit -u -D\n")
    drive([zsh, "-i"], shell_env | {"ZDOTDIR": str(tmp_path)})


def test_fish(shell_env: dict[str, str]) -> None:
    fish = need("fish")
    init = "alpaca-tui completion fish | source; function fish_prompt; echo -n '$ '; end"
    drive([fish, "--no-config", "-i", "-C", init], shell_env)
