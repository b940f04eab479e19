"""The long run (issue 11): the emulator's tokens live 12 s; a child calling through
``exec --proxy`` for three lifetimes sees no error, and the token endpoint is hit about once per
lifetime (the refresh-ahead margin is a quarter of such a short lifetime)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("alpaca")

from alpaca_tui.core.credentials import Flow  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402
from tests.cli.enginecli_support import add_profile, home_env, run_sub  # noqa: E402

CHILD = str(Path(__file__).with_name("proxy_child.py"))
LIFETIME = 12


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(token_lifetime=LIFETIME) as e:  # the system clock: tokens really expire
        yield e


def test_three_token_lifetimes_without_an_error(alpaca_home: Path, emu: Emulator) -> None:
    secret = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    proc = run_sub(
        "exec",
        "bx",
        "--proxy",
        "--",
        sys.executable,
        CHILD,
        "loop",
        str(3 * LIFETIME),
        env=home_env(alpaca_home),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == [] and out["calls"] > 100
    # renewed with 3 s left: a new token every ~9 s, so 4 in 36 s (the first one included)
    assert 3 <= emu.token_requests(secret.key_id) <= 6
    with emu.state.lock:
        assert all(rec.expires_at - rec.issued_at == LIFETIME for rec in emu.state.tokens.values())
