"""Conformance: the emulator against Alpaca's documented behaviour (the developers' Alpaca auth notes;
the published OpenAPI specs are in assets/openapi/).

Written from the reference, not from the emulator's code: plain httpx on the wire, keys and
assertions built here with cryptography + pyjwt, and only the emulator's public contract
(constructor, urls, create_credential, fault switches) to set the scene. Where the reference
says a status is UNCONFIRMED, the assertion accepts the RFC 6749 choices (400 or 401).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import Emulator
from tests import emulator_fixtures as fx

TOKEN_PATH = "/v1/oauth2/token"                                    # §2
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOT_AUTHORIZED = {"code": 40110000, "message": "request is not authorized"}   # §3
JSON_CT = "application/json; charset=UTF-8"
START = fx.EMULATOR_START


emulator_clock = fx.emulator_clock
emu = fx.emulator


@pytest.fixture
def clock(emulator_clock: FakeClock) -> FakeClock:
    """The emulator's clock (``fx.emulator_clock``), under the name these tests use."""
    return emulator_clock

http = fx.emulator_http


def token_url(emu: Emulator, sandbox: bool = True) -> str:
    return emu.urls["authx-sandbox" if sandbox else "authx-live"] + TOKEN_PATH


def secret_form(client_id: str, secret: str | None) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret or ""}


def es256_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pub


def rs256_key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pub


def assertion(key, alg: str, client_id: str, audience: str, now: float, **claims) -> str:
    body = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex,
            "iat": int(now), "exp": int(now) + 300}
    body.update(claims)
    return jwt.encode(body, key, algorithm=alg, headers={"kid": client_id})


def jwt_form(client_id: str, token: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


@pytest.fixture
def jwt_client(emu: Emulator):
    key, pub = es256_key()
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, public_key=pub)
    return key, cred.key_id


def oauth_error(r: httpx.Response) -> str:
    return r.json()["error"]


# -- §2 client secret ------------------------------------------------------------------------

def test_client_secret_post_returns_exactly_the_documented_token(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    r = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 899 and body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 16
    assert r.headers["content-type"].startswith("application/json")
    again = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret)).json()
    assert again["access_token"] != body["access_token"]


def test_basic_auth_at_the_token_endpoint_is_invalid_client(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    r = http.post(token_url(emu), data={"grant_type": "client_credentials"},
                  auth=(cred.key_id, cred.secret or ""))
    assert r.status_code == 401 and oauth_error(r) == "invalid_client"
    # even alongside a correct form body: client_secret_basic is not supported
    r = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret),
                  auth=(cred.key_id, cred.secret or ""))
    assert r.status_code == 401 and oauth_error(r) == "invalid_client"


def test_wrong_unknown_expired_and_cross_env_clients_are_invalid_client(emu: Emulator, clock: FakeClock,
                                                                        http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
                                 expires_at=clock.now() + timedelta(days=1))
    cases = {
        "wrong secret": (token_url(emu), secret_form(cred.key_id, "B" * 64)),
        "unknown client": (token_url(emu), secret_form("CK" + "Z" * 24, cred.secret)),
        "sandbox client at live authx": (token_url(emu, sandbox=False),
                                         secret_form(cred.key_id, cred.secret)),
    }
    for what, (url, form) in cases.items():
        r = http.post(url, data=form)
        assert r.status_code == 401 and oauth_error(r) == "invalid_client", what
    assert http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret)).status_code == 200
    clock.advance(86400 + 1)
    r = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret))
    assert r.status_code == 401 and oauth_error(r) == "invalid_client"


def test_form_encoding_and_fields_are_required(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    r = http.post(token_url(emu), json=secret_form(cred.key_id, cred.secret))
    assert r.status_code == 400 and oauth_error(r) == "invalid_request"
    for missing in ("grant_type", "client_id", "client_secret"):
        form = secret_form(cred.key_id, cred.secret)
        del form[missing]
        r = http.post(token_url(emu), data=form)
        assert r.status_code == 400 and oauth_error(r) == "invalid_request", missing


def test_legacy_broker_keys_cannot_get_tokens(emu: Emulator, http: httpx.Client) -> None:
    legacy = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    r = http.post(token_url(emu), data=secret_form(legacy.key_id, legacy.secret))
    assert r.status_code in (400, 401) and oauth_error(r) in ("invalid_client", "unauthorized_client")


# -- §2 private_key_jwt ----------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_private_key_jwt_succeeds_with_es256_and_rs256(emu: Emulator, clock: FakeClock, http: httpx.Client,
                                                       alg: str) -> None:
    key, pub = es256_key() if alg == "ES256" else rs256_key()
    cred = emu.create_credential(Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT, public_key=pub)
    url = token_url(emu, sandbox=False)
    r = http.post(url, data=jwt_form(cred.key_id, assertion(key, alg, cred.key_id, url, clock.time())))
    assert r.status_code == 200
    assert r.json()["expires_in"] == 899 and r.json()["token_type"] == "Bearer"


def test_aud_may_be_the_token_url_or_the_origin(emu: Emulator, clock: FakeClock, http: httpx.Client,
                                                jwt_client) -> None:
    key, client_id = jwt_client
    url = token_url(emu)
    origin = emu.urls["authx-sandbox"]
    for aud in (url, origin, "https://authx.sandbox.alpaca.markets/v1/oauth2/token",
                "https://authx.sandbox.alpaca.markets"):
        r = http.post(url, data=jwt_form(client_id, assertion(key, "ES256", client_id, aud, clock.time())))
        assert r.status_code == 200, aud


@pytest.mark.parametrize("what,claims", [
    ("aud of another server", {"aud": "https://example.com/v1/oauth2/token"}),
    ("aud of the live authx", {"aud": "https://authx.alpaca.markets/v1/oauth2/token"}),
    ("iss differs from sub", {"iss": "CKSOMEBODYELSE000000000000"}),
    ("sub differs from client_id", {"sub": "CKSOMEBODYELSE000000000000"}),
    ("lifetime over 300 s", {"exp": int(START) + 3600}),
    ("already expired", {"iat": int(START) - 900, "exp": int(START) - 600}),
])
def test_bad_claims_are_token_claim(emu: Emulator, clock: FakeClock, http: httpx.Client, jwt_client,
                                    what: str, claims: dict) -> None:
    key, client_id = jwt_client
    url = token_url(emu)
    token = assertion(key, "ES256", client_id, url, clock.time(), **claims)
    r = http.post(url, data=jwt_form(client_id, token))
    assert r.status_code in (400, 401), what
    assert oauth_error(r) == "token_claim", what


def test_replayed_jti_is_jti_known(emu: Emulator, clock: FakeClock, http: httpx.Client, jwt_client) -> None:
    key, client_id = jwt_client
    url = token_url(emu)
    token = assertion(key, "ES256", client_id, url, clock.time())
    assert http.post(url, data=jwt_form(client_id, token)).status_code == 200
    r = http.post(url, data=jwt_form(client_id, token))
    assert r.status_code in (400, 401) and oauth_error(r) == "jti_known"
    fresh = assertion(key, "ES256", client_id, url, clock.time())
    assert http.post(url, data=jwt_form(client_id, fresh)).status_code == 200


def test_signature_by_another_key_is_token_signature_mismatch(emu: Emulator, clock: FakeClock,
                                                              http: httpx.Client, jwt_client) -> None:
    _key, client_id = jwt_client
    other, _pub = es256_key()
    url = token_url(emu)
    r = http.post(url, data=jwt_form(client_id, assertion(other, "ES256", client_id, url, clock.time())))
    assert r.status_code in (400, 401) and oauth_error(r) == "token_signature_mismatch"


# -- tokens in use ---------------------------------------------------------------------------

def test_token_is_accepted_by_broker_and_expires_after_899_seconds(emu: Emulator, clock: FakeClock,
                                                                   http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    token = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret)).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    accounts = emu.urls["broker-sandbox"] + "/v1/accounts"
    assert http.get(accounts, headers=h).status_code == 200
    bars = emu.urls["data-sandbox"] + "/v2/stocks/AAPL/bars/latest"
    assert http.get(bars, headers=h).status_code == 200
    clock.advance(900)
    r = http.get(accounts, headers=h)
    assert r.status_code == 401 and r.json() == NOT_AUTHORIZED


# -- §1/§3 environments, errors, headers -----------------------------------------------------

def test_live_and_paper_keys_never_cross(emu: Emulator, http: httpx.Client) -> None:
    live = emu.create_credential(Env.LIVE, Flow.LEGACY)
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    for cred, own, other in ((live, "trading-live", "trading-paper"),
                             (paper, "trading-paper", "trading-live")):
        h = {"APCA-API-KEY-ID": cred.key_id, "APCA-API-SECRET-KEY": cred.secret or ""}
        assert http.get(emu.urls[own] + "/v2/account", headers=h).status_code == 200
        r = http.get(emu.urls[other] + "/v2/account", headers=h)
        assert r.status_code == 401
        assert r.json() == NOT_AUTHORIZED
        assert r.headers["content-type"] == JSON_CT
        assert r.headers.get("x-request-id")


def test_basic_auth_works_for_legacy_keys(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    assert http.get(emu.urls["trading-paper"] + "/v2/account",
                    auth=(paper.key_id, paper.secret or "")).status_code == 200
    broker = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    assert http.get(emu.urls["broker-sandbox"] + "/v1/accounts",
                    auth=(broker.key_id, broker.secret or "")).status_code == 200


def test_client_secret_credentials_with_basic_get_a_plain_401(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    r = http.get(emu.urls["broker-sandbox"] + "/v1/accounts", auth=(cred.key_id, cred.secret or ""))
    assert r.status_code == 401


def test_underscore_headers_are_forbidden(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    r = http.get(emu.urls["trading-paper"] + "/v2/account",
                 headers={"APCA_API_KEY_ID": paper.key_id, "APCA_API_SECRET_KEY": paper.secret or ""})
    assert r.status_code == 403 and r.json() == {"message": "forbidden."}


def test_sandbox_data_is_for_broker_sandbox_only(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    h = {"APCA-API-KEY-ID": paper.key_id, "APCA-API-SECRET-KEY": paper.secret or ""}
    assert http.get(emu.urls["data-sandbox"] + "/v2/stocks/AAPL/bars/latest", headers=h).status_code == 401
    r = http.get(emu.urls["data"] + "/v2/stocks/AAPL/bars/latest", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == "AAPL" and set(body["bar"]) == {"c", "h", "l", "n", "o", "t", "v", "vw"}


def test_historical_crypto_needs_no_auth_but_stocks_do(emu: Emulator, http: httpx.Client) -> None:
    r = http.get(emu.urls["data"] + "/v1beta3/crypto/us/latest/bars", params={"symbols": "BTC/USD"})
    assert r.status_code == 200 and "BTC/USD" in r.json()["bars"]
    r = http.get(emu.urls["data"] + "/v2/stocks/AAPL/bars/latest")
    assert r.status_code == 401 and r.json() == NOT_AUTHORIZED


def test_clock_and_account_shapes(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    h = {"APCA-API-KEY-ID": paper.key_id, "APCA-API-SECRET-KEY": paper.secret or ""}
    r = http.get(emu.urls["trading-paper"] + "/v2/clock", headers=h)
    assert set(r.json()) == {"timestamp", "is_open", "next_open", "next_close"}
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert r.headers[name].isdigit(), name
    acct = http.get(emu.urls["trading-paper"] + "/v2/account", headers=h).json()
    assert acct["status"] == "ACTIVE" and acct["currency"] == "USD" and acct["account_number"]


# -- scopes (§2 credential management) -------------------------------------------------------

def _broker_bearer(emu: Emulator, http: httpx.Client, access: AccessMatrix) -> dict[str, str]:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, access=access)
    token = http.post(token_url(emu), data=secret_form(cred.key_id, cred.secret)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_scope_none_is_403_and_read_only_blocks_writes(emu: Emulator, http: httpx.Client) -> None:
    accounts = emu.urls["broker-sandbox"] + "/v1/accounts"
    journals = emu.urls["broker-sandbox"] + "/v1/journals"
    none = _broker_bearer(emu, http, AccessMatrix.full().with_level(Scope.ACCOUNTS, Level.NONE))
    r = http.get(accounts, headers=none)
    assert r.status_code == 403 and r.json()["code"] == 40310000
    assert http.get(journals, headers=none).status_code == 200
    ro = _broker_bearer(emu, http, AccessMatrix.read_only())
    assert http.get(accounts, headers=ro).status_code == 200
    assert http.get(journals, headers=ro).status_code == 200
    r = http.post(accounts, headers=ro, json={"contact": {"email_address": "x@example.com"}})
    assert r.status_code == 403 and r.json()["code"] == 40310000
    assert http.post(journals, headers=ro, json={}).status_code == 403
    full = _broker_bearer(emu, http, AccessMatrix.full())
    r = http.post(accounts, headers=full, json={"contact": {"email_address": "x@example.com"}})
    assert r.status_code == 200


# -- §3 rate limits and request ids; faults --------------------------------------------------

def test_request_id_and_rate_limit_headers_everywhere(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    h = {"APCA-API-KEY-ID": paper.key_id, "APCA-API-SECRET-KEY": paper.secret or ""}
    responses = [http.get(emu.urls["trading-paper"] + "/v2/clock", headers=h),
                 http.get(emu.urls["trading-paper"] + "/v2/clock"),
                 http.get(emu.urls["data"] + "/v2/stocks/AAPL/bars/latest", headers=h),
                 http.get(emu.urls["broker-sandbox"] + "/v1/accounts")]
    ids = set()
    for r in responses:
        ids.add(r.headers["x-request-id"])
        assert int(r.headers["x-ratelimit-limit"]) > 0
        assert int(r.headers["x-ratelimit-remaining"]) >= 0
        assert int(r.headers["x-ratelimit-reset"]) > START
    assert len(ids) == len(responses)


def test_rate_limit_gives_429_with_retry_after(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    h = {"APCA-API-KEY-ID": paper.key_id, "APCA-API-SECRET-KEY": paper.secret or ""}
    emu.set_rate_limit("trading-paper", 5)
    statuses = [http.get(emu.urls["trading-paper"] + "/v2/clock", headers=h).status_code for _ in range(5)]
    assert statuses == [200] * 5
    r = http.get(emu.urls["trading-paper"] + "/v2/clock", headers=h)
    assert r.status_code == 429
    # Alpaca's specs list X-RateLimit-* and no Retry-After: it is there only behind the switch
    assert "retry-after" not in r.headers and int(r.headers["x-ratelimit-reset"]) > START
    emu.set_retry_after(True)
    r = http.get(emu.urls["trading-paper"] + "/v2/clock", headers=h)
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["x-ratelimit-remaining"] == "0"


def test_default_rate_limits_are_200_and_1000(emu: Emulator, http: httpx.Client) -> None:
    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    broker = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    r = http.get(emu.urls["trading-paper"] + "/v2/clock", auth=(paper.key_id, paper.secret or ""))
    assert r.headers["x-ratelimit-limit"] == "200"
    r = http.get(emu.urls["broker-sandbox"] + "/v1/accounts", auth=(broker.key_id, broker.secret or ""))
    assert r.headers["x-ratelimit-limit"] == "1000"


def test_fault_switches(emu: Emulator, http: httpx.Client) -> None:
    cred = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    url = token_url(emu)
    emu.set_latency("authx-sandbox", 0.25)
    t0 = time.monotonic()
    assert http.post(url, data=secret_form(cred.key_id, cred.secret)).status_code == 200
    assert time.monotonic() - t0 >= 0.25
    emu.set_latency("authx-sandbox", 0)
    emu.fail_next("authx-sandbox", 2, status=503)
    assert [http.post(url, data=secret_form(cred.key_id, cred.secret)).status_code for _ in range(3)] == \
        [503, 503, 200]
    emu.drop_next("broker-sandbox", 1)
    with pytest.raises(httpx.TransportError):
        http.get(emu.urls["broker-sandbox"] + "/v1/accounts", auth=("x", "y"))
    assert http.get(emu.urls["broker-sandbox"] + "/v1/accounts", auth=("x", "y")).status_code == 401
    emu.fail_next("data", 1, status=500)
    assert http.get(emu.urls["data"] + "/v1beta3/crypto/us/latest/bars",
                    params={"symbols": "BTC/USD"}).status_code == 500
