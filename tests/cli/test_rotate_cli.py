"""``alpaca-tui rotate`` against the emulator: promote, rollback, failed verification, staged
private_key_jwt keys, retirement, usage errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_cli

__all__ = ["emu"]
Cap = pytest.CaptureFixture[str]


@pytest.fixture
def fast_verify(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record verification back-off sleeps instead of sleeping."""
    from alpaca_tui.cli import enginecli
    from alpaca_tui.core.engine import Engine

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make_engine(store: Any, *, no_cache: bool = False, timeout: float = 10.0,
                    body_cap: int | None = None) -> Engine:
        return Engine(store, cache_tokens=not no_cache, timeout=timeout, sleep=sleep,
                      max_body=enginecli.max_body(body_cap))

    monkeypatch.setattr(enginecli, "make_engine", make_engine)
    return sleeps


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))


def test_rotate_then_rollback(alpaca_home: Path, emu: Emulator, capsys: Cap,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    old = add_profile(emu, "paper", Env.PAPER)
    new = emu.create_credential(Env.PAPER, Flow.LEGACY)
    stdin(monkeypatch, new.secret or "")
    code, out, err = run_cli(capsys, "rotate", "paper", "--key-id", new.key_id, "--secret-stdin",
                             "--keep-old-for", "2h")
    assert code == 0, err
    assert out.startswith(f"rotated paper: new key {mask(new.key_id)} verified (trading 200 ")
    assert f"old key {mask(old.key_id)} kept for rollback until " in out and "--rollback" in out
    assert (new.secret or "") not in out + err
    store = Store.open()
    b = store.load_bundle("paper")
    assert b.active.key_id == new.key_id and b.previous is not None and b.previous.key_id == old.key_id
    p = store.get_profile("paper")
    assert p.rotation_state == "overlap" and p.previous_retire_at is not None
    assert run_cli(capsys, "check", "paper")[0] == 0
    code, out, _ = run_cli(capsys, "rotate", "paper", "--rollback", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["action"] == "rollback" and doc["key_id_masked"] == mask(old.key_id)
    assert Store.open().load_bundle("paper").active.key_id == old.key_id
    code, out, _ = run_cli(capsys, "rotate", "paper", "--retire-now")
    assert code == 0 and "dropped the previous secret" in out
    code, _, err = run_cli(capsys, "rotate", "paper", "--rollback")
    assert code == 2 and "nothing to roll back" in err


def test_failed_verification_keeps_old(alpaca_home: Path, emu: Emulator, capsys: Cap,
                                       monkeypatch: pytest.MonkeyPatch, fast_verify: list[float]) -> None:
    old = add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    stdin(monkeypatch, "X" * 64)  # AuthX does not know this secret
    code, out, err = run_cli(capsys, "rotate", "bx", "--secret-stdin")
    assert code == 1 and out == ""
    assert err.startswith("alpaca-tui: error: rotation of 'bx' failed: the new secret failed verification "
                          "after 5 attempt(s): bad credentials:")
    assert "the old secret is still active" in err and err.count("\n") == 1 and "X" * 64 not in err
    assert len(fast_verify) == 4
    store = Store.open()
    b = store.load_bundle("bx")
    assert b.active == old and b.pending is None and b.previous is None
    assert store.get_profile("bx").rotation_state is None
    assert run_cli(capsys, "check", "bx")[0] == 0
    stdin(monkeypatch, "Y" * 64)
    code, out, _ = run_cli(capsys, "rotate", "bx", "--secret-stdin", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["attempts"] == 5
    assert doc["verification"][0]["category"] == "bad_credentials"


def test_private_key_jwt_stage_register_promote(alpaca_home: Path, emu: Emulator, capsys: Cap,
                                                fast_verify: list[float]) -> None:
    old = add_profile(emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    code, out, _ = run_cli(capsys, "rotate", "bj", "--generate-key", "--alg", "RS256", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["action"] == "stage" and doc["public_key"]["alg"] == "RS256"
    assert doc["public_key"]["jwk"]["kid"] == old.key_id and "PRIVATE" not in out
    store = Store.open()
    assert store.get_profile("bj").rotation_state == "pending"
    staged = store.load_bundle("bj").pending
    assert staged is not None and staged.private_key_pem
    assert run_cli(capsys, "check", "bj")[0] == 0  # the active key keeps working meanwhile
    emu.register_public_key(old.key_id, doc["public_key"]["pem"])  # "register it with Alpaca"
    code, out, err = run_cli(capsys, "rotate", "bj", "--pending", "--keep-old-for", "1d")
    assert code == 0, err
    assert out.startswith("rotated bj: new key") and "broker 200" in out
    store = Store.open()
    p = store.get_profile("bj")
    assert p.alg == "RS256" and p.public_key_fingerprint == doc["public_key"]["fingerprint"]
    assert p.rotation_state == "overlap" and store.load_bundle("bj").pending is None
    assert store.load_token("bj") is None  # the old key's cached token was cleared
    assert run_cli(capsys, "check", "bj", "--no-cache")[0] == 0


def test_private_key_file(alpaca_home: Path, emu: Emulator, capsys: Cap, tmp_path: Path,
                          fast_verify: list[float]) -> None:
    old = add_profile(emu, "bj", Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT)
    pem = keys.generate_private_key("ES256")
    keyfile = tmp_path / "new.pem"
    keyfile.write_text(pem)
    emu.register_public_key(old.key_id, keys.public_key_pem(pem))
    code, out, err = run_cli(capsys, "rotate", "bj", "--private-key-file", str(keyfile),
                             "--keep-old-for", "0")
    assert code == 0, err
    assert "old key dropped" in out
    b = Store.open().load_bundle("bj")
    assert b.active.private_key_pem == pem and b.previous is None


@pytest.mark.parametrize(("args", "fragment"), [
    (["--secret-stdin", "--rollback"], "choose one of"),
    (["--keep-old-for", "soon", "--secret-stdin"], "invalid duration"),
    (["--generate-key"], "are for private-key-jwt profiles"),
    ([], "give the new secret material"),
    (["--alg", "RS256", "--secret-stdin"], "--alg goes with --generate-key"),
    (["--pending"], "no pending secret"),
])
def test_usage_errors(alpaca_home: Path, emu: Emulator, capsys: Cap, monkeypatch: pytest.MonkeyPatch,
                      args: list[str], fragment: str) -> None:
    add_profile(emu, "paper", Env.PAPER)
    stdin(monkeypatch, "Z" * 40)
    code, _, err = run_cli(capsys, "rotate", "paper", *args)
    assert code == 2 and fragment in err and err.count("\n") == 1


def test_parse_duration() -> None:
    from datetime import timedelta

    from alpaca_tui.cli.enginecli import parse_duration
    from alpaca_tui.core.errors import UsageError

    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("24h") == timedelta(days=1)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("0") == timedelta(0)
    for bad in ("", "h", "1x", "-1h", "1h2", "400d"):
        with pytest.raises(UsageError):
            parse_duration(bad)
