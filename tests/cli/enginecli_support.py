"""Helpers for the engine-backed CLI tests (check, request, token, exec, rotate).

Profiles are written straight into the test's store (``alpaca_home``: encrypted-file
backend, passphrase file) with endpoints pointing at a real emulator on loopback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.cli.main import main
from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.conftest import cli_argv, subprocess_env


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def issue_credential(emu: Emulator, name: str, env: Env, flow: Flow = Flow.LEGACY, *,
                     access: AccessMatrix | None = None, profile_env: Env | None = None,
                     profile_access: AccessMatrix | None = None, alg: str = "ES256",
                     **profile_fields: Any) -> tuple[Profile, SecretBundle]:
    """Issue a credential on the emulator (``env``, ``flow``, ``access``) and build profile ``name``
    for it, endpoints pointing at the emulator. ``profile_env`` / ``profile_access`` give the
    profile another environment / access matrix than the credential has (mix-up tests); other
    keyword arguments are Profile fields (``expires_at``, ``note``...)."""
    penv = profile_env or env
    if flow is Flow.PRIVATE_KEY_JWT:
        pem = keys.generate_private_key(alg)
        issued = emu.create_credential(env, flow, access=access, public_key=keys.public_key_pem(pem))
        secret = Secret(issued.key_id, private_key_pem=pem, alg=alg)
    else:
        issued = emu.create_credential(env, flow, access=access)
        secret = Secret(issued.key_id, secret=issued.secret)
    profile = Profile(name, penv, flow, mask(issued.key_id),
                      access=profile_access or access or AccessMatrix.full(),
                      endpoints=emu.endpoints_for(penv), alg=alg if flow is Flow.PRIVATE_KEY_JWT else None,
                      **profile_fields)
    return profile, SecretBundle(secret)


def add_profile(emu: Emulator, name: str, env: Env, flow: Flow = Flow.LEGACY, *,
                access: AccessMatrix | None = None, expires_at: datetime | None = None,
                profile_env: Env | None = None, alg: str = "ES256") -> Secret:
    """Issue a credential on the emulator and store it as profile ``name``; returns the secret."""
    profile, bundle = issue_credential(emu, name, env, flow, access=access, expires_at=expires_at,
                                       profile_env=profile_env, alg=alg)
    Store.open().add_profile(profile, bundle)
    return bundle.active


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_sub(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m alpaca_tui ARGS`` in a new session: no controlling terminal, like a cron job."""
    return subprocess.run(cli_argv(*args), env=subprocess_env(env), input=stdin, capture_output=True,
                          text=True, timeout=timeout, start_new_session=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def home_env(home: Path) -> dict[str, str]:
    import os

    return {k: os.environ[k] for k in ("ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "ALPACA_TUI_PASSPHRASE_FILE")
            if k in os.environ} | {"ALPACA_TUI_HOME": str(home)}
