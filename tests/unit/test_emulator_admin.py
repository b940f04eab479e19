"""The emulator's admin surface over HTTP (AdminClient), state persistence, demo seeding and
the ``alpaca-tui emulator`` command."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import TOKEN_PATH, Api, Env
from alpaca_tui.core.errors import NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from alpaca_tui.emulator.client import AdminClient, AdminError
from tests import emulator_fixtures as fx
from tests.conftest import cli_argv, subprocess_env
from tests.emulator_fixtures import EMULATOR_START, http_client, legacy_headers

emulator = fx.emulator
emulator_clock = fx.emulator_clock


@pytest.fixture
def admin(emulator: Emulator) -> AdminClient:
    return AdminClient(emulator.urls["admin"])


def test_admin_client_mirrors_the_python_api(emulator: Emulator, admin: AdminClient) -> None:
    assert admin.urls == emulator.urls
    assert admin.health()["ok"] is True
    assert admin.endpoints_for(Env.BROKER_SANDBOX) == emulator.endpoints_for(Env.BROKER_SANDBOX)
    expires = datetime(2027, 2, 1, tzinfo=UTC)
    issued = admin.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
                                     access=AccessMatrix({Scope.FUNDING: Level.RO}), expires_at=expires)
    assert issued.key_id.startswith("CK") and issued.secret and len(issued.secret) == 64
    assert issued.secret not in repr(issued)
    info = admin.credential_info(issued.key_id)
    assert info["access"]["funding"] == "ro" and info["access"]["trading"] == "none"
    assert info["expires_at"] == "2027-02-01T00:00:00Z"
    listing = admin.list_credentials()
    assert [c["key_id"] for c in listing] == [issued.key_id]
    assert issued.secret not in json.dumps(listing)
    # the credential is real on the emulator
    r = httpx.post(emulator.urls["authx-sandbox"] + TOKEN_PATH,
                   data={"grant_type": "client_credentials", "client_id": issued.key_id,
                         "client_secret": issued.secret})
    assert r.status_code == 200
    assert admin.token_requests() == 1 and admin.token_requests(issued.key_id) == 1
    assert admin.requests("authx-sandbox") == 1
    admin.set_access(issued.key_id, AccessMatrix.read_only())
    assert emulator.credential_info(issued.key_id)["access_preset"] == "read-only"
    admin.set_expiry(issued.key_id, None)
    assert emulator.credential_info(issued.key_id)["expires_at"] is None
    admin.expire(issued.key_id)
    assert emulator.credential_info(issued.key_id)["status"] == "expired"
    admin.revoke(issued.key_id)
    assert emulator.credential_info(issued.key_id)["status"] == "revoked"
    assert admin.rejections() == []
    admin.reset_counters()
    assert admin.token_requests() == 0


def test_admin_client_given_ids_keys_and_errors(emulator: Emulator, admin: AdminClient) -> None:
    pem = keys.generate_private_key("RS256")
    cred = admin.create_credential(Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT,
                                   key_id="CKGIVEN00000000000000000000", public_key=keys.public_key_pem(pem))
    assert cred.key_id == "CKGIVEN00000000000000000000" and cred.secret is None
    assert emulator.credential_info(cred.key_id)["alg"] == "RS256"
    es = keys.generate_private_key("ES256")
    admin.register_public_key(cred.key_id, json.dumps(keys.public_jwk(es)))
    assert emulator.credential_info(cred.key_id)["alg"] == "ES256"
    with pytest.raises(UsageError, match="already exists"):
        admin.create_credential(Env.BROKER_LIVE, Flow.LEGACY, key_id=cred.key_id)
    with pytest.raises(UsageError, match="broker"):
        admin.create_credential(Env.LIVE, Flow.CLIENT_SECRET)
    with pytest.raises(NotFoundError):
        admin.revoke("NOSUCHKEY")
    with pytest.raises(UsageError):
        admin.register_public_key(cred.key_id, "garbage")
    with pytest.raises(UsageError):
        admin.set_latency("nope", 1)
    with pytest.raises(AdminError):
        AdminClient("http://127.0.0.1:9", timeout=1).health()
    with pytest.raises(UsageError):
        AdminClient("file:///etc/passwd")
    r = httpx.post(emulator.urls["admin"] + "/admin/credentials", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert httpx.get(emulator.urls["admin"] + "/admin/nothing").status_code == 404


def test_admin_client_faults(emulator: Emulator, emulator_clock, admin: AdminClient) -> None:
    key = admin.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    url = emulator.urls["trading-paper"] + "/v2/clock"
    with http_client(timeout=5) as http:
        admin.fail_next("trading-paper", 1, status=502)
        assert http.get(url, headers=h).status_code == 502
        admin.drop_next("trading-paper", 1)
        with pytest.raises(httpx.TransportError):
            http.get(url, headers=h)
        admin.set_latency("trading-paper", 0.2)
        t0 = time.monotonic()
        assert http.get(url, headers=h).status_code == 200
        assert time.monotonic() - t0 >= 0.2
        admin.set_rate_limit("trading-paper", 1)
        assert http.get(url, headers=h).status_code == 429
        admin.reset_faults()
        assert http.get(url, headers=h).status_code == 200
        admin.set_clock_skew(3600)
        assert emulator.now() == emulator_clock.time() + 3600


def test_state_dir_persists_credentials_and_tokens(tmp_path: Path) -> None:
    state = tmp_path / "state"
    clock = FakeClock(EMULATOR_START)
    with Emulator(state_dir=state, clock=clock) as emu:
        paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
        sb = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=AccessMatrix.read_only())
        pem = keys.generate_private_key("ES256")
        jw = emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT,
                                   public_key=keys.public_key_pem(pem))
        gone = emu.create_credential(Env.PAPER, Flow.LEGACY)
        emu.revoke(gone.key_id)
        r = httpx.post(emu.urls["authx-sandbox"] + TOKEN_PATH, data={
            "grant_type": "client_credentials", "client_id": sb.key_id, "client_secret": sb.secret})
        token = r.json()["access_token"]
    path = state / "emulator.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert "TEST-ONLY" in json.loads(path.read_text())["note"]
    with Emulator(state_dir=state, clock=clock) as emu:
        with http_client() as http:
            assert http.get(emu.urls["trading-paper"] + "/v2/account",
                            headers=legacy_headers(paper.key_id, paper.secret)).status_code == 200
            assert http.get(emu.urls["trading-paper"] + "/v2/account",
                            headers=legacy_headers(gone.key_id, gone.secret)).status_code == 401
            h = {"Authorization": f"Bearer {token}"}
            assert http.get(emu.urls["broker-sandbox"] + "/v1/accounts", headers=h).status_code == 200
            r = http.post(emu.urls["broker-sandbox"] + "/v1/journals", headers=h, json={})
            assert r.status_code == 403
            key, alg = keys.load_private_key(pem)
            url = emu.urls["authx-sandbox"] + TOKEN_PATH
            now = int(clock.time())
            assertion = jwt.encode({"iss": jw.key_id, "sub": jw.key_id, "aud": url, "jti": str(uuid.uuid4()),
                                    "iat": now, "exp": now + 300}, key, algorithm=alg)
            r = http.post(url, data={"grant_type": "client_credentials", "client_id": jw.key_id,
                                     "client_assertion_type":
                                         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                     "client_assertion": assertion})
            assert r.status_code == 200
        known = {c["key_id"] for c in emu.list_credentials()}
        assert known == {paper.key_id, sb.key_id, jw.key_id, gone.key_id}


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "emulator.json").write_text("{broken")
    with pytest.raises(UsageError, match="unreadable"):
        Emulator(state_dir=tmp_path)


# -- demo seeding ----------------------------------------------------------------------------

def _store(home: Path, clock):
    try:
        from alpaca_tui.core.store import Store
    except ImportError:
        pytest.skip("alpaca_tui.core.store is not available yet")
    return Store.open(home, clock=clock)


def _token(http: httpx.Client, profile, bundle, now: float) -> httpx.Response:
    url = profile.endpoints[Api.AUTH] + TOKEN_PATH
    secret = bundle.active
    form = {"grant_type": "client_credentials", "client_id": secret.key_id}
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        key, alg = keys.load_private_key(secret.private_key_pem)
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = jwt.encode(
            {"iss": secret.key_id, "sub": secret.key_id, "aud": url, "jti": str(uuid.uuid4()),
             "iat": int(now), "exp": int(now) + 300}, key, algorithm=alg)
    else:
        form["client_secret"] = secret.secret
    return http.post(url, data=form)


def test_seed_demo_creates_working_profiles(alpaca_home: Path, emulator: Emulator, emulator_clock) -> None:
    from alpaca_tui.emulator.demo import seed_demo

    store = _store(alpaca_home, emulator_clock)
    names = seed_demo(store, emulator)
    assert names == ["paper", "live", "broker-sandbox-key", "broker-sandbox-oauth", "broker-sandbox-jwt",
                     "broker-live-oauth", "sandbox-expiring", "sandbox-readonly-custom"]
    assert len(emulator.list_credentials()) == 8
    now = emulator_clock.now()
    with http_client(timeout=5) as http:
        for name in names:
            profile = store.get_profile(name)
            bundle = store.load_bundle(name)
            assert profile.endpoints == emulator.endpoints_for(profile.env)
            assert profile.created_at == now
            assert bundle.active.key_id.endswith(profile.key_id_masked[-4:])
            if profile.flow is Flow.LEGACY:
                h = legacy_headers(bundle.active.key_id, bundle.active.secret)
                if profile.env.is_broker:
                    r = http.get(profile.endpoints[Api.BROKER] + "/v1/accounts", headers=h)
                else:
                    r = http.get(profile.endpoints[Api.TRADING] + "/v2/account", headers=h)
            else:
                tr = _token(http, profile, bundle, emulator_clock.time())
                assert tr.status_code == 200, (name, tr.text)
                r = http.get(profile.endpoints[Api.BROKER] + "/v1/accounts",
                             headers={"Authorization": "Bearer " + tr.json()["access_token"]})
            assert r.status_code == 200, (name, r.text)
    assert store.get_profile("sandbox-expiring").expires_at == now + timedelta(days=5)
    assert store.get_profile("live").env is Env.LIVE
    jwt_profile = store.get_profile("broker-sandbox-jwt")
    assert jwt_profile.alg == "ES256" and jwt_profile.public_key_fingerprint
    custom = store.get_profile("sandbox-readonly-custom").access
    assert custom.level(Scope.TRADING) is Level.RW and custom.level(Scope.ACCOUNTS) is Level.RO
    assert custom.level(Scope.DATA) is Level.RO and custom.level(Scope.FUNDING) is Level.NONE
    # the emulator enforces that matrix
    bundle = store.load_bundle("sandbox-readonly-custom")
    with http_client(timeout=5) as http:
        tok = _token(http, store.get_profile("sandbox-readonly-custom"), bundle,
                     emulator_clock.time()).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        base = emulator.urls["broker-sandbox"]
        assert http.post(base + "/v1/accounts", headers=h, json={"contact": {}}).status_code == 403
        assert http.get(base + "/v1/journals", headers=h).status_code == 403
    # seeding again skips existing names and never overwrites
    assert seed_demo(store, emulator) == []
    assert seed_demo(store, emulator, prefix="demo-")[0] == "demo-paper"


# -- the CLI command -------------------------------------------------------------------------

def _start_cli(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(cli_argv("emulator", "--json", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise AssertionError(f"emulator did not start: {proc.communicate(timeout=10)[1]}")
    return proc, json.loads(line)


def _stop_cli(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    return proc.returncode


def test_cli_emulator_seeds_persists_and_stops_cleanly(alpaca_home: Path, tmp_path: Path) -> None:
    _store(alpaca_home, FakeClock())  # skip early without a store
    env = subprocess_env()
    state = tmp_path / "emu-state"
    proc, info = _start_cli("--seed-demo", "--state", str(state), env=env)
    try:
        assert list(info["urls"]) == ["trading-live", "trading-paper", "data", "data-sandbox", "broker-live",
                                      "broker-sandbox", "authx-live", "authx-sandbox", "admin"]
        assert len(info["seeded"]) == 8 and info["skipped"] == []
        admin = AdminClient(info["urls"]["admin"])
        assert len(admin.list_credentials()) == 8
    finally:
        assert _stop_cli(proc) == 0
    assert stat.S_IMODE((state / "emulator.json").stat().st_mode) == 0o600
    proc, info = _start_cli("--seed-demo", "--state", str(state), env=env)
    try:
        assert info["seeded"] == [] and len(info["skipped"]) == 8
        assert len(AdminClient(info["urls"]["admin"]).list_credentials()) == 8
    finally:
        assert _stop_cli(proc) == 0


def test_cli_emulator_table_output_and_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(cli_argv("emulator"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env({"ALPACA_TUI_HOME": str(tmp_path / "home")}))
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(10)]
    assert lines[0].startswith("alpaca-tui emulator on 127.0.0.1")
    assert lines[-1].split()[0] == "admin" and lines[-1].split()[1].startswith("http://127.0.0.1:")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_cli_emulator_port_in_use_and_bad_args() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(cli_argv("emulator", "--port-base", str(port)), capture_output=True, text=True,
                             timeout=30, env=subprocess_env())
    assert out.returncode == 1
    assert out.stderr.startswith("alpaca-tui: error: cannot listen") and out.stderr.count("\n") == 1
    out = subprocess.run(cli_argv("emulator", "--host", "0.0.0.0"), capture_output=True, text=True,
                         timeout=30, env=subprocess_env())
    assert out.returncode == 2 and "loopback" in out.stderr


def test_cli_emulator_module_is_light() -> None:
    code = ("import sys, alpaca_tui.cli.emulator; "
            "print(any(m in sys.modules for m in ('httpx', 'jwt', 'cryptography', 'textual', "
            "'alpaca_tui.emulator.server')))")
    out = subprocess.run([*cli_argv()[:1], "-c", code], capture_output=True, text=True, timeout=30,
                         env={**os.environ})
    assert out.stdout.strip() == "False", out.stderr
