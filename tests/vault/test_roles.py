"""Viewer and superuser tokens made from exactly the shipped policies (assets/vault/*.hcl), in the CLI.

A viewer sees every credential (list, show: expiry, scopes) and is refused add, rotate, remove,
reveal (show --public-key, token), check, request and exec in one line, exit 1, naming the
capability and path it lacks, before anything is asked for or sent. A superuser does it all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.vault.support import endpoint_args, laptop
from tests.vault_fixtures import Bao

SECRETS = "secret/data/alpaca-tui/secrets"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def test_viewer_sees_everything_and_is_refused_every_secret_action(
        bao: Bao, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from alpaca_tui.cli.main import main

    admin = laptop(bao, tmp_path, "admin", bao.token("superuser", display_name="carol"))
    viewer = laptop(bao, tmp_path, "viewer", bao.token("viewer", display_name="vic"))
    admin.add(emu, "paper")
    admin.run("profiles", "add", "jwt", "--env", "broker-sandbox", "--flow", "private-key-jwt",
              "--key-id", "CKJWT000000000000001", "--generate-key", "--expires", "90d",
              "--access", "read-only", *endpoint_args(emu, Env.BROKER_SANDBOX))
    assert emu.token_requests() == 0

    listed = json.loads(viewer.run("profiles", "list", "--json").stdout)
    assert listed["role"] == "viewer" and [p["name"] for p in listed["profiles"]] == ["jwt", "paper"]
    jwt = next(p for p in listed["profiles"] if p["name"] == "jwt")
    assert jwt["expires_at"] and jwt["access"]["trading"] == "ro" and jwt["access_preset"] == "read-only"
    assert "this token is a viewer" in viewer.run("profiles", "list").stdout
    shown = viewer.run("profiles", "show", "jwt").stdout
    assert "secret version  not visible to this token (viewer)" in shown and "read-only" in shown

    refused = {
        ("profiles", "add", "new", "--env", "paper", "--flow", "legacy", "--key-id", "PKNEW00000000000001",
         "--secret-stdin"): ("add a profile", "create", f"{SECRETS}/new"),
        ("profiles", "remove", "paper", "--yes"): ("remove a profile", "delete",
                                                   "secret/metadata/alpaca-tui/secrets/paper"),
        ("rotate", "paper", "--secret-stdin"): ("rotate a secret", "read", f"{SECRETS}/paper"),
        ("profiles", "show", "jwt", "--public-key"): ("reveal a secret", "read", f"{SECRETS}/jwt"),
        ("token", "jwt"): ("reveal a secret", "read", f"{SECRETS}/jwt"),
        ("check", "paper"): ("use a secret", "read", f"{SECRETS}/paper"),
        ("check",): ("use a secret", "read", f"{SECRETS}/jwt"),
        ("request", "paper", "GET", "/v2/account"): ("use a secret", "read", f"{SECRETS}/paper"),
        ("exec", "paper", "--", "true"): ("hand a credential to a program", "read", f"{SECRETS}/paper"),
    }
    proc = viewer.run(*next(iter(refused)), stdin="never-read-secret\n", code=1)  # one as a process
    assert len(proc.stderr.strip().splitlines()) == 1 and "may not add a profile" in proc.stderr
    for k in ("ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "VAULT_TOKEN"):  # the rest in this process
        monkeypatch.setenv(k, viewer.env[k])
    for argv, (verb, cap, path) in refused.items():
        code = main(list(argv))
        out, err = capsys.readouterr()
        err = err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert f"may not {verb}" in err and f"lacks the '{cap}' capability on {path}" in err, (argv, err)
        assert "vic" in err and "alpaca-tui-viewer" in err and not out
    # nothing changed, nothing was sent, no secret ever reached the viewer's home
    assert [p["name"] for p in json.loads(admin.run("profiles", "list", "--json").stdout)["profiles"]] == \
        ["jwt", "paper"]
    assert emu.token_requests() == 0 and emu.requests("trading-paper") == 0
    assert not (viewer.home / "store.json").exists() and not list(viewer.home.parent.rglob("*.enc"))


def test_superuser_does_it_all(bao: Bao, emu: Emulator, tmp_path: Path) -> None:
    su = laptop(bao, tmp_path, "su", bao.token("superuser", display_name="sue"))
    _key_id, secret = su.add(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    assert "✓ bx" in su.run("check", "bx").stdout
    token = su.run("token", "bx").stdout.strip()
    assert emu.state.lookup_token(token) is not None
    out = su.run("exec", "bx", "--", "sh", "-c", 'test -n "$APCA_API_OAUTH_TOKEN" && echo ok').stdout
    assert out.strip() == "ok"
    new = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    su.run("rotate", "bx", "--key-id", new.key_id, "--secret-stdin", stdin=new.secret + "\n")
    shown = json.loads(su.run("profiles", "show", "bx", "--json").stdout)
    assert shown["profile"]["rotation_state"] == "overlap"
    assert shown["secret_version"]["written_by"] == "token-sue"
    su.run("rotate", "bx", "--rollback")
    su.run("profiles", "remove", "bx", "--yes")
    assert bao.kv("alpaca-tui/secrets/bx") is None and bao.kv("alpaca-tui/tokens/bx") is None
    assert json.loads(su.run("profiles", "list", "--json").stdout)["profiles"] == []
    assert secret not in (su.home / "store.json").read_text()
