"""Helpers for the Vault tests: run the real CLI in a "laptop" (its own home) against one server."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.conftest import cli_argv, subprocess_env
from tests.vault_fixtures import Bao

CLEAR = ("VAULT_", "BAO_", "ALPACA_TUI_VAULT_", "ALPACA_TUI_PASSPHRASE_FILE", "ALPACA_TUI_KEYRING",
         "ALPACA_TUI_HOME", "ALPACA_TUI_EXEC_PROFILE")


def laptop_env(bao: Bao, home: Path, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in subprocess_env().items() if not k.startswith(CLEAR)}
    env.update(bao.env(home, token, **extra))
    return env


def run(env: dict[str, str], *args: str, stdin: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(*args), env=env, input=stdin, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def popen(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(cli_argv(*args), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def endpoint_args(emu: Emulator, env: Env) -> list[str]:
    out: list[str] = []
    for api, url in emu.endpoints_for(env).items():
        out += ["--endpoint", f"{api.value}={url}"]
    return out


@dataclass
class Laptop:
    """One home ("laptop") with its own environment, on the shared server."""

    home: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, code: int | None = 0,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = run(self.env, *args, stdin=stdin, timeout=timeout)
        if code is not None:
            assert proc.returncode == code, f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
        return proc

    def add(self, emu: Emulator, name: str, env: Env = Env.PAPER, flow: Flow = Flow.LEGACY,
            *, secret: str | None = None, key_id: str | None = None) -> tuple[str, str]:
        issued = emu.create_credential(env, flow, key_id=key_id, secret=secret)
        self.run("profiles", "add", name, "--env", env.value, "--flow", flow.value, "--key-id", issued.key_id,
                 "--secret-stdin", *endpoint_args(emu, env), stdin=issued.secret + "\n")
        return issued.key_id, str(issued.secret)


def laptop(bao: Bao, root: Path, name: str, token: str | None = None, **extra: str) -> Laptop:
    home = root / name / "home"
    home.parent.mkdir(parents=True, exist_ok=True)
    return Laptop(home, laptop_env(bao, home, token, **extra))
