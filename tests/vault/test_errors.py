"""One-line errors and connection rules of the vault backend, against a real OpenBao.

Missing / KV v1 / non-KV mount (with the ``bao secrets enable`` command), permission denied (path
named), network failure, timeout (ALPACA_TUI_VAULT_TIMEOUT), plain http to a non-loopback host,
no token, a refused token, the token file, AppRole, token renewal past 2/3 of its TTL, the home's
pin, a corrupted team index, and hvac missing.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alpaca_tui.cli.main import main
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store import Store
from tests.conftest import subprocess_env
from tests.vault_fixtures import Bao

Cap = pytest.CaptureFixture[str]


def cli(capsys: Cap, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys: Cap, *args: str) -> str:
    code, out, err = cli(capsys, *args)
    assert code == 1, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alpaca-tui: error: "), err
    return lines[0]


@pytest.fixture
def home(bao: Bao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("ALPACA_TUI_HOME", str(h))
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "vault")
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE", raising=False)
    return h


def profile(name: str = "p") -> tuple[Profile, SecretBundle]:
    return (Profile(name, Env.PAPER, Flow.LEGACY, "PKER…0001"),
            SecretBundle(Secret("PKERRORS000000000001", secret="e" * 40)))


def test_mounts_missing_kv1_and_not_kv(bao: Bao, home: Path, capsys: Cap,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_TUI_VAULT_MOUNT", "nosuch")
    err = one_line_error(capsys, "profiles", "list")
    assert "no secrets engine at nosuch/" in err
    assert f"VAULT_NAMESPACE={bao.namespace} bao secrets enable -path=nosuch kv-v2" in err
    bao.api("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
    monkeypatch.setenv("ALPACA_TUI_VAULT_MOUNT", "kv1")
    err = one_line_error(capsys, "profiles", "list")
    assert "kv1/ on" in err and "is KV version 1, not KV version 2" in err and "-path=kv1 kv-v2" in err
    monkeypatch.setenv("ALPACA_TUI_VAULT_MOUNT", "cubbyhole")
    assert "cubbyhole mount, not KV version 2" in one_line_error(capsys, "profiles", "list")
    assert not home.exists()  # nothing was written anywhere


def test_permission_denied_names_the_capability_and_path(bao: Bao, home: Path) -> None:
    viewer = bao.token("viewer", display_name="vic")
    import os

    os.environ["VAULT_TOKEN"] = viewer
    store = Store.open()
    with pytest.raises(StoreError) as exc:
        store.add_profile(*profile())  # straight through the core: the server refuses it
    assert "permission denied" in exc.value.message
    assert "lacks the 'read' capability on secret/data/alpaca-tui/secrets/p" in exc.value.message
    assert "token-vic" in exc.value.message and viewer not in exc.value.message


def test_unreachable_and_silent_servers(home: Path, capsys: Cap, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{closed}")
    assert "cannot reach OpenBao / Vault at http://127.0.0.1:" in one_line_error(capsys, "profiles", "list")
    # a server that accepts connections and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("ALPACA_TUI_VAULT_TIMEOUT", "0.5")
        t0 = time.monotonic()
        err = one_line_error(capsys, "profiles", "list")
        assert "did not answer within 0.5 s (ALPACA_TUI_VAULT_TIMEOUT)" in err
        assert time.monotonic() - t0 < 5
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        silent.close()
    monkeypatch.setenv("ALPACA_TUI_VAULT_TIMEOUT", "soon")
    assert "ALPACA_TUI_VAULT_TIMEOUT='soon'" in one_line_error(capsys, "profiles", "list")


def test_tls_and_address_rules(home: Path, capsys: Cap, monkeypatch: pytest.MonkeyPatch) -> None:
    # plain http only to loopback: refused before any connection is made
    monkeypatch.setenv("VAULT_ADDR", "http://10.11.12.13:8200")
    err = one_line_error(capsys, "profiles", "list")
    assert "plain http to a host that is not loopback; use https://" in err
    monkeypatch.setenv("VAULT_ADDR", "bao.example.com:8200")
    assert "is not an http(s) URL" in one_line_error(capsys, "profiles", "list")


def test_token_sources(bao: Bao, home: Path, capsys: Cap, monkeypatch: pytest.MonkeyPatch,
                       tmp_path: Path) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "hvs.not-a-real-token")
    err = one_line_error(capsys, "profiles", "list")
    assert "refused the token from $VAULT_TOKEN (expired, revoked or wrong)" in err
    assert "hvs.not-a-real-token" not in err
    monkeypatch.delenv("VAULT_TOKEN")
    err = one_line_error(capsys, "profiles", "list")
    assert "no Vault token: set VAULT_TOKEN (or BAO_TOKEN), log in with `bao login`" in err
    # ~/.vault-token, as `bao login` leaves it
    (tmp_path / ".vault-token").write_text(bao.token("superuser", display_name="filed") + "\n")
    code, out, err = cli(capsys, "profiles", "list")
    assert code == 0 and "no profiles yet" in out, err
    (tmp_path / ".vault-token").unlink()
    # AppRole: role ID + a secret-ID file
    bao.api("POST", "sys/auth/approle", {"type": "approle"})
    bao.api("POST", "auth/approle/role/ci", {"token_policies": ["alpaca-tui-superuser"], "token_ttl": "10m"})
    role_id = bao.api("GET", "auth/approle/role/ci/role-id")["data"]["role_id"]
    secret_id = bao.api("POST", "auth/approle/role/ci/secret-id", {})["data"]["secret_id"]
    (tmp_path / "secret-id").write_text(secret_id + "\n")
    monkeypatch.setenv("ALPACA_TUI_VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("ALPACA_TUI_VAULT_SECRET_ID_FILE", str(tmp_path / "secret-id"))
    store = Store.open()
    store.add_profile(*profile("ci"))
    assert "approle" in store.bundle_version("ci").written_by  # type: ignore[union-attr,operator]
    (tmp_path / "secret-id").write_text("wrong-secret-id\n")
    err = one_line_error(capsys, "profiles", "list")
    assert "refused the AppRole login (ALPACA_TUI_VAULT_ROLE_ID, secret ID from" in err
    assert "invalid role or secret ID" in err and secret_id not in err


def test_token_renewed_past_two_thirds_of_its_ttl(bao: Bao, home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", bao.token("superuser", ttl="4s"))
    t0 = time.monotonic()
    store = Store.open()
    store.add_profile(*profile())
    session = store.secret_backend.session  # type: ignore[attr-defined]
    assert session.renewals == 0 and session.token.renewable
    time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))
    store.list_profiles()                      # an eighth of the TTL: not yet
    assert session.renewals == 0
    time.sleep(max(0.0, 2.9 - (time.monotonic() - t0)))
    store.list_profiles()                      # past 2/3: renewed first
    assert session.renewals == 1
    time.sleep(max(0.0, 4.5 - (time.monotonic() - t0)))
    assert [p.name for p in store.list_profiles()] == ["p"]  # past the first 4 s: alive, renewed


def test_an_expired_token_says_so_and_approle_logs_in_again(bao: Bao, home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    bao.api("POST", "sys/auth/approle", {"type": "approle"})
    bao.api("POST", "auth/approle/role/short", {"token_policies": ["alpaca-tui-superuser"], "token_ttl": "2s",
                                               "token_max_ttl": "2s"})
    role_id = bao.api("GET", "auth/approle/role/short/role-id")["data"]["role_id"]
    (tmp_path / "secret-id").write_text(bao.api("POST", "auth/approle/role/short/secret-id", {})["data"]
                                        ["secret_id"] + "\n")
    short = bao.token("superuser", ttl="2s", renewable=False)
    monkeypatch.setenv("VAULT_TOKEN", short)
    by_token = Store.open(tmp_path / "a")
    by_token.add_profile(*profile("p"))
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("ALPACA_TUI_VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("ALPACA_TUI_VAULT_SECRET_ID_FILE", str(tmp_path / "secret-id"))
    by_role = Store.open(tmp_path / "b")
    assert [p.name for p in by_role.list_profiles()] == ["p"]
    time.sleep(2.5)
    with pytest.raises(StoreError) as exc:
        by_token.list_profiles()
    assert "the token from $VAULT_TOKEN has expired (its TTL ran out): log in again" in exc.value.message
    assert short not in exc.value.message
    assert [p.name for p in by_role.list_profiles()] == ["p"]  # a new AppRole login, transparently
    assert by_role.load_bundle("p").active.secret == "e" * 40


def test_pin_holds_a_home_to_its_store(bao: Bao, home: Path, capsys: Cap,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open().add_profile(*profile())
    pin = json.loads((home / "store.json").read_text())
    assert pin["backend"] == "vault" and pin["settings"]["namespace"] == bao.namespace
    assert (home / "store.json").stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("ALPACA_TUI_KEYRING")  # the pin alone selects the store
    code, out, err = cli(capsys, "profiles", "list")
    assert code == 0 and out.startswith("NAME") and "secrets in the OpenBao / Vault" in out, err
    monkeypatch.setenv("VAULT_NAMESPACE", "elsewhere")
    err = one_line_error(capsys, "profiles", "list")
    assert "pinned to vault" in err and "VAULT_NAMESPACE says elsewhere" in err
    monkeypatch.setenv("VAULT_NAMESPACE", bao.namespace)
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "file")
    err = one_line_error(capsys, "profiles", "list")
    assert "keeps its profiles in the OpenBao / Vault" in err and "alpaca-tui store migrate --to file" in err


def test_a_corrupted_team_index_is_left_alone(bao: Bao, home: Path, capsys: Cap) -> None:
    bao.api("POST", "secret/data/alpaca-tui/index", {"data": {"index": "{not json"}})
    err = one_line_error(capsys, "profiles", "list")
    assert "the team index" in err
    assert "secret/data/alpaca-tui/index (version 1) is not an alpaca-tui index" in err
    code, _out, err = cli(capsys, "profiles", "add", "x", "--env", "paper", "--flow", "legacy", "--key-id",
                          "PKX0000000000000001", "--secret-stdin")
    assert code != 0
    assert bao.kv("alpaca-tui/index")["data"] == {"index": "{not json"}
    assert bao.kv("alpaca-tui/secrets/x") is None


def test_without_hvac_selecting_vault_says_how_to_install_it(home: Path, tmp_path: Path) -> None:
    boot = ("import sys; sys.modules['hvac'] = None; import runpy; "
            "runpy.run_module('alpaca_tui', run_name='__main__', alter_sys=True)")
    proc = subprocess.run([sys.executable, "-c", boot, "profiles", "list"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("alpaca-tui: error: the OpenBao / Vault backend needs the hvac package: "
                                   "pip install 'alpaca-tui[vault]' (or: pip install hvac)")
