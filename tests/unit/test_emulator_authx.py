"""AuthX errors as ``authx.json`` lists them, over real loopback HTTP: each answer's body is the
spec's ``error_response`` (validated), its ``error`` one of the spec's ``error_code`` values,
with ``fields`` naming the parameters at fault; statuses are RFC 6749's defaults (the spec
gives none). Also the switches issue 11 and the engine tests need: the token lifetime, what a
revoked client is told, and Retry-After."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import jwt
import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import TOKEN_PATH, Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator, authx
from alpaca_tui.emulator.client import AdminClient
from tests import emulator_fixtures as fx
from tests import openapi_spec as spec

START = fx.EMULATOR_START
OP = spec.find("authx", "POST", TOKEN_PATH)
CODES = set(spec.document("authx")["components"]["schemas"]["error_code"]["enum"])


emulator_clock = fx.emulator_clock
emu = fx.emulator


@pytest.fixture
def clock(emulator_clock: FakeClock) -> FakeClock:
    """The emulator's clock (``fx.emulator_clock``), under the name these tests use."""
    return emulator_clock

http = fx.emulator_http


def url(emu: Emulator) -> str:
    return emu.urls["authx-sandbox"] + TOKEN_PATH


def form(client_id: str, secret: str | None, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret or "",
            **extra}


def failure(r: httpx.Response, status: int, error: str, fields: list[str] | None = None) -> None:
    """``r`` is the AuthX error ``error`` with ``status`` (and these ``fields``), and validates."""
    assert OP is not None
    assert spec.schema_errors(OP, r.status_code, r.json()) == []
    assert error in CODES
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert [f["name"] for f in r.json().get("fields", [])] == (fields or [])
    assert r.headers["cache-control"] == "no-store"


def test_the_status_table_uses_only_the_specs_codes() -> None:
    assert set(authx.STATUS) <= CODES
    assert all(s in (400, 401, 429, 500, 503) for s in authx.STATUS.values())


@pytest.mark.parametrize("client_id", ["ck" + "A" * 24, "CK" + "A" * 17, "CK" + "A" * 31, "CK-" + "A" * 22,
                                       "CK" + "Ä" * 20])
def test_a_malformed_client_id_is_invalid_request_with_its_field(emu: Emulator, http: httpx.Client,
                                                                 client_id: str) -> None:
    failure(http.post(url(emu), data=form(client_id, "x")), 400, "invalid_request", ["client_id"])


def test_client_ids_of_20_and_32_characters_are_well_formed(emu: Emulator, http: httpx.Client) -> None:
    for n in (20, 32):
        r = http.post(url(emu), data=form("C" * n, "x"))
        failure(r, 401, "invalid_client")   # well formed, unknown


def test_over_long_secret_and_assertion_are_invalid_request(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    failure(http.post(url(emu), data=form(cred.key_id, "S" * 129)), 400, "invalid_request", ["client_secret"])
    r = http.post(url(emu), data=form(cred.key_id, "S" * 128))
    failure(r, 401, "invalid_client")   # 128 is allowed: just wrong
    big = {"grant_type": "client_credentials", "client_id": cred.key_id,
           "client_assertion_type": authx.ASSERTION_TYPE, "client_assertion": "a" * 16385}
    failure(http.post(url(emu), data=big), 400, "invalid_request", ["client_assertion"])
    both = form("bad", "S" * 129)
    failure(http.post(url(emu), data=both), 400, "invalid_request", ["client_id", "client_secret"])


def test_missing_and_repeated_fields_are_named(emu: Emulator, http: httpx.Client) -> None:
    failure(http.post(url(emu), data={"grant_type": "client_credentials"}), 400, "invalid_request",
            ["client_id"])
    r = http.post(url(emu), content=b"grant_type=client_credentials&client_id=A&client_id=B",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    failure(r, 400, "invalid_request", ["client_id"])
    failure(http.post(url(emu), data={**form("C" * 26, "x"), "grant_type": "password"}), 400,
            "unsupported_grant_type", ["grant_type"])


def test_a_revoked_client_is_invalid_client_or_token_inactive_by_switch(clock: FakeClock,
                                                                        http: httpx.Client) -> None:
    with Emulator(clock=clock, revoked_error="token_inactive") as emu:
        cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        assert http.post(url(emu), data=form(cred.key_id, cred.secret)).status_code == 200
        emu.revoke(cred.key_id)
        failure(http.post(url(emu), data=form(cred.key_id, cred.secret)), 401, "token_inactive")
        AdminClient(emu.urls["admin"]).set_revoked_error("invalid_client")
        failure(http.post(url(emu), data=form(cred.key_id, cred.secret)), 401, "invalid_client")
        emu.set_revoked_error("token_inactive")
        emu.reset_faults()   # back to the emulator's own setting
        failure(http.post(url(emu), data=form(cred.key_id, cred.secret)), 401, "token_inactive")
        with pytest.raises(ValueError):
            emu.set_revoked_error("access_denied")
    with pytest.raises(ValueError):
        Emulator(revoked_error="nope")


def test_scope_not_granted_and_invalid_scope(emu: Emulator, http: httpx.Client) -> None:
    access = AccessMatrix.full().with_level(Scope.FUNDING, Level.NONE)
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=access)
    failure(http.post(url(emu), data=form(cred.key_id, cred.secret, scope="trading funding")), 400,
            "scope_not_granted", ["scope"])
    failure(http.post(url(emu), data=form(cred.key_id, cred.secret, scope="teleport")), 400,
            "invalid_scope", ["scope"])
    r = http.post(url(emu), data=form(cred.key_id, cred.secret, scope="trading journaling"))
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


def test_quota_exceeded_carries_rate_headers_and_retry_after_only_by_switch(emu: Emulator,
                                                                           http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    emu.set_rate_limit("authx-sandbox", 1)
    assert http.post(url(emu), data=form(cred.key_id, cred.secret)).status_code == 200
    r = http.post(url(emu), data=form(cred.key_id, cred.secret))
    failure(r, 429, "quota_exceeded")
    assert "retry-after" not in r.headers
    assert r.headers["x-ratelimit-remaining"] == "0" and int(r.headers["x-ratelimit-reset"]) == START + 60
    emu.set_retry_after(True)
    r = http.post(url(emu), data=form(cred.key_id, cred.secret))
    failure(r, 429, "quota_exceeded")
    assert r.headers["retry-after"] == "60"


def _assertion(pem: str, client_id: str, aud: str, now: float, jti: str | None = None) -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": int(now), "exp": int(now) + 60,
              "jti": jti or uuid.uuid4().hex}
    return jwt.encode(claims, keys.load_private_key(pem)[0], algorithm="ES256")


def test_assertion_errors_jti_known_and_token_signature_mismatch(emu: Emulator, http: httpx.Client) -> None:
    pem = keys.generate_private_key("ES256")
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT,
                                 public_key=keys.public_key_pem(pem))

    def jwt_form(token: str) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": cred.key_id,
                "client_assertion_type": authx.ASSERTION_TYPE, "client_assertion": token}

    token = _assertion(pem, cred.key_id, url(emu), START)
    assert http.post(url(emu), data=jwt_form(token)).status_code == 200
    failure(http.post(url(emu), data=jwt_form(token)), 401, "jti_known")
    other = keys.generate_private_key("ES256")
    failure(http.post(url(emu), data=jwt_form(_assertion(other, cred.key_id, url(emu), START))), 401,
            "token_signature_mismatch")
    failure(http.post(url(emu), data=form(cred.key_id, "a-secret")), 401, "invalid_client")


def test_token_lifetime_switch(clock: FakeClock, http: httpx.Client) -> None:
    with Emulator(clock=clock, token_lifetime=12) as emu:
        cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        body = http.post(url(emu), data=form(cred.key_id, cred.secret)).json()
        assert body["expires_in"] == 12 and emu.token_lifetime == 12
        h = {"Authorization": f"Bearer {body['access_token']}"}
        accounts = emu.urls["broker-sandbox"] + "/v1/accounts"
        clock.advance(11)
        assert http.get(accounts, headers=h).status_code == 200
        clock.advance(1)
        assert http.get(accounts, headers=h).status_code == 401
    for bad in (0, 86401):
        with pytest.raises(ValueError):
            Emulator(token_lifetime=bad)


def test_cli_switches_are_checked() -> None:
    for args, message in ((["--token-lifetime", "0"], "--token-lifetime must be between 1 and 86400"),
                          (["--revoked-error", "nope"], "invalid choice")):
        proc = subprocess.run([sys.executable, "-m", "alpaca_tui", "emulator", *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
