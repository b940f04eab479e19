"""The emulator itself: lifecycle, credentials, request authentication, scopes, rate limits,
faults and the Alpaca-shaped trading/data/broker answers."""

from __future__ import annotations

import base64
import json
import random
import re
import socket
import string
import time
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import TOKEN_PATH, Api, Env
from alpaca_tui.core.errors import NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import ROLES, Emulator, EmulatorError, IssuedCredential
from alpaca_tui.emulator import api as emu_api
from tests import emulator_fixtures as fx
from tests.emulator_fixtures import http_client, legacy_headers

emulator = fx.emulator
emulator_clock = fx.emulator_clock

UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def http():
    with http_client(timeout=5) as client:
        yield client


def token_for(http: httpx.Client, emu: Emulator, env: Env, cred: IssuedCredential) -> str:
    r = http.post(emu.endpoints_for(env)[Api.AUTH] + TOKEN_PATH,
                  data={"grant_type": "client_credentials", "client_id": cred.key_id,
                        "client_secret": cred.secret})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


# -- lifecycle -------------------------------------------------------------------------------

def test_start_serves_every_role_and_stop_is_quick_and_idempotent() -> None:
    t0 = time.monotonic()
    emu = Emulator().start()
    try:
        assert list(emu.urls) == list(ROLES)
        ports = {int(u.rsplit(":", 1)[1]) for u in emu.urls.values()}
        assert len(ports) == len(ROLES)
        assert all(u.startswith("http://127.0.0.1:") for u in emu.urls.values())
        for url in emu.urls.values():
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=2):
                pass
    finally:
        emu.stop()
    emu.stop()
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", min(ports)), timeout=1).close()


def test_stop_does_not_wait_for_idle_keepalive_connections() -> None:
    emu = Emulator().start()
    client = http_client(timeout=5)
    try:
        assert client.get(emu.urls["trading-paper"] + "/v2/clock").status_code == 401  # keep-alive open
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 1.0
    finally:
        client.close()
        emu.stop()


def test_port_base_assigns_ports_in_documented_role_order() -> None:
    for _ in range(20):
        base = random.randint(20000, 60000)
        try:
            emu = Emulator(port_base=base).start()
        except EmulatorError:
            continue
        try:
            assert emu.urls == {role: f"http://127.0.0.1:{base + i}" for i, role in enumerate(ROLES)}
            assert ROLES == ("trading-live", "trading-paper", "data", "data-sandbox", "broker-live",
                             "broker-sandbox", "authx-live", "authx-sandbox", "admin")
        finally:
            emu.stop()
        return
    pytest.skip("no free port range found")


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(EmulatorError, match="cannot listen"):
            Emulator(port_base=taken).start()


def test_context_manager_and_endpoints_for_each_env() -> None:
    with Emulator() as emu:
        u = emu.urls
        assert emu.endpoints_for(Env.LIVE) == {Api.TRADING: u["trading-live"], Api.DATA: u["data"]}
        assert emu.endpoints_for(Env.PAPER) == {Api.TRADING: u["trading-paper"], Api.DATA: u["data"]}
        assert emu.endpoints_for(Env.BROKER_LIVE) == {
            Api.BROKER: u["broker-live"], Api.DATA: u["data"], Api.AUTH: u["authx-live"]}
        assert emu.endpoints_for(Env.BROKER_SANDBOX) == {
            Api.BROKER: u["broker-sandbox"], Api.DATA: u["data-sandbox"], Api.AUTH: u["authx-sandbox"]}
    with pytest.raises(EmulatorError):
        Emulator().endpoints_for(Env.LIVE)


# -- credentials -----------------------------------------------------------------------------

def test_generated_ids_and_secrets_look_like_alpacas(emulator: Emulator) -> None:
    live = emulator.create_credential(Env.LIVE, Flow.LEGACY)
    paper = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    broker = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    jwt_cred = emulator.create_credential(Env.BROKER_LIVE, Flow.PRIVATE_KEY_JWT)
    assert re.fullmatch(r"AK[A-Z0-9]{18}", live.key_id)
    assert re.fullmatch(r"PK[A-Z0-9]{18}", paper.key_id)
    assert re.fullmatch(r"CK[A-Z0-9]{24}", broker.key_id)
    assert re.fullmatch(r"CK[A-Z0-9]{24}", jwt_cred.key_id)
    assert live.secret and re.fullmatch(r"[A-Za-z0-9]{40}", live.secret)
    assert broker.secret and re.fullmatch(r"[A-Z2-7]{64}", broker.secret)
    assert jwt_cred.secret is None
    for issued in (live, paper, broker):
        assert issued.secret not in repr(issued) and issued.secret not in str(issued)
        assert issued.key_id in repr(issued)


def test_credential_validation(emulator: Emulator) -> None:
    with pytest.raises(UsageError, match="broker"):
        emulator.create_credential(Env.PAPER, Flow.CLIENT_SECRET)
    emulator.create_credential(Env.PAPER, Flow.LEGACY, key_id="PKDUPLICATE000000000")
    with pytest.raises(UsageError, match="already exists"):
        emulator.create_credential(Env.PAPER, Flow.LEGACY, key_id="PKDUPLICATE000000000")
    with pytest.raises(UsageError):
        emulator.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, public_key="not a key")
    with pytest.raises(UsageError, match="private key"):
        emulator.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT,
                                   public_key=keys.generate_private_key("ES256"))
    with pytest.raises(NotFoundError):
        emulator.revoke("CKNOSUCHKEY0000000000000000")
    with pytest.raises(UsageError, match="only private-key-jwt"):
        key = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        emulator.register_public_key(key.key_id, keys.public_key_pem(keys.generate_private_key()))


def test_list_credentials_never_contains_secrets(emulator: Emulator) -> None:
    issued = [emulator.create_credential(Env.PAPER, Flow.LEGACY),
              emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
                                         access=AccessMatrix.read_only())]
    listing = emulator.list_credentials()
    text = json.dumps(listing)
    for cred in issued:
        assert cred.secret and cred.secret not in text
    by_id = {c["key_id"]: c for c in listing}
    assert by_id[issued[1].key_id]["access_preset"] == "read-only"
    assert by_id[issued[0].key_id]["status"] == "active"


def test_given_key_and_secret_are_used(emulator: Emulator, http: httpx.Client) -> None:
    emulator.create_credential(Env.PAPER, Flow.LEGACY, key_id="PKFIXED0000000000001", secret="s" * 40)
    r = http.get(emulator.urls["trading-paper"] + "/v2/account",
                 headers=legacy_headers("PKFIXED0000000000001", "s" * 40))
    assert r.status_code == 200


# -- legacy authentication -------------------------------------------------------------------

def test_legacy_headers_and_basic_both_work(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    url = emulator.urls["trading-paper"] + "/v2/account"
    assert http.get(url, headers=legacy_headers(key.key_id, key.secret)).status_code == 200
    assert http.get(url, headers=basic(key.key_id, key.secret or "")).status_code == 200
    bkey = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    assert http.get(emulator.urls["broker-sandbox"] + "/v1/accounts",
                    headers=basic(bkey.key_id, bkey.secret or "")).status_code == 200


@pytest.mark.parametrize("headers", [
    {},
    {"APCA-API-KEY-ID": "PKNOTAKEY00000000000", "APCA-API-SECRET-KEY": "x" * 40},
    {"APCA-API-KEY-ID": "PKNOTAKEY00000000000"},
    {"Authorization": "Basic !!!notbase64"},
    {"Authorization": "Bearer nosuchtoken"},
    {"Authorization": "Digest abc"},
])
def test_missing_or_bad_credentials_get_alpacas_401(emulator: Emulator, http: httpx.Client,
                                                    headers: dict[str, str]) -> None:
    r = http.get(emulator.urls["trading-paper"] + "/v2/account", headers=headers)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.headers["x-request-id"]


def test_wrong_secret_and_env_mismatch_look_identical_but_are_noted(emulator: Emulator,
                                                                    http: httpx.Client) -> None:
    paper = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    wrong = http.get(emulator.urls["trading-paper"] + "/v2/account",
                     headers=legacy_headers(paper.key_id, "x" * 40))
    cross = http.get(emulator.urls["trading-live"] + "/v2/account",
                     headers=legacy_headers(paper.key_id, paper.secret))
    assert wrong.status_code == cross.status_code == 401
    assert wrong.content == cross.content
    notes = emulator.rejections()
    assert {"role": "trading-live", "key_id": paper.key_id, "credential_env": "paper"}.items() <= \
        notes[-1].items()
    assert "paper" in cross.headers["x-emulator-reason"]


def test_paper_keys_are_refused_by_the_sandbox_data_host(emulator: Emulator, http: httpx.Client) -> None:
    paper = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(paper.key_id, paper.secret)
    assert http.get(emulator.urls["data"] + "/v2/stocks/AAPL/bars/latest", headers=h).status_code == 200
    assert http.get(emulator.urls["data-sandbox"] + "/v2/stocks/AAPL/bars/latest",
                    headers=h).status_code == 401


def test_underscore_headers_get_bare_forbidden(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    r = http.get(emulator.urls["trading-paper"] + "/v2/account",
                 headers={"APCA_API_KEY_ID": key.key_id, "APCA_API_SECRET_KEY": key.secret or ""})
    assert r.status_code == 403
    assert r.json() == {"message": "forbidden."}


def test_oauth_credentials_cannot_authenticate_api_calls_directly(emulator: Emulator,
                                                                 http: httpx.Client) -> None:
    cs = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    url = emulator.urls["broker-sandbox"] + "/v1/accounts"
    for h in (basic(cs.key_id, cs.secret or ""), legacy_headers(cs.key_id, cs.secret)):
        r = http.get(url, headers=h)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED


def test_expired_and_revoked_credentials_get_401(emulator: Emulator, emulator_clock, http) -> None:
    soon = emulator.create_credential(Env.PAPER, Flow.LEGACY,
                                      expires_at=emulator_clock.now() + timedelta(seconds=30))
    url = emulator.urls["trading-paper"] + "/v2/account"
    h = legacy_headers(soon.key_id, soon.secret)
    assert http.get(url, headers=h).status_code == 200
    emulator_clock.advance(31)
    r = http.get(url, headers=h)
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert "expired" in r.headers["x-emulator-reason"]
    other = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    emulator.revoke(other.key_id)
    assert http.get(url, headers=legacy_headers(other.key_id, other.secret)).status_code == 401
    third = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    emulator.expire(third.key_id)
    assert http.get(url, headers=legacy_headers(third.key_id, third.secret)).status_code == 401
    assert emulator.credential_info(third.key_id)["status"] == "expired"


# -- tokens ----------------------------------------------------------------------------------

def test_token_works_on_broker_and_own_data_host_only(emulator: Emulator, http: httpx.Client) -> None:
    sb = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    tok = token_for(http, emulator, Env.BROKER_SANDBOX, sb)
    u = emulator.urls
    assert http.get(u["broker-sandbox"] + "/v1/accounts", headers=bearer(tok)).status_code == 200
    assert http.get(u["data-sandbox"] + "/v2/stocks/AAPL/bars/latest", headers=bearer(tok)).status_code == 200
    assert http.get(u["data"] + "/v2/stocks/AAPL/bars/latest", headers=bearer(tok)).status_code == 401
    assert http.get(u["broker-live"] + "/v1/accounts", headers=bearer(tok)).status_code == 401
    assert http.get(u["trading-paper"] + "/v2/account", headers=bearer(tok)).status_code == 401
    live = emulator.create_credential(Env.BROKER_LIVE, Flow.CLIENT_SECRET)
    ltok = token_for(http, emulator, Env.BROKER_LIVE, live)
    assert http.get(u["data"] + "/v2/stocks/AAPL/bars/latest", headers=bearer(ltok)).status_code == 200
    assert http.get(u["broker-live"] + "/v1/accounts", headers=bearer(ltok)).status_code == 200


def test_token_expires_by_emulator_clock_and_skew_shifts_it(emulator: Emulator, emulator_clock,
                                                            http: httpx.Client) -> None:
    sb = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    url = emulator.urls["broker-sandbox"] + "/v1/accounts"
    tok = token_for(http, emulator, Env.BROKER_SANDBOX, sb)
    emulator_clock.advance(898)
    assert http.get(url, headers=bearer(tok)).status_code == 200
    emulator_clock.advance(2)
    r = http.get(url, headers=bearer(tok))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    tok2 = token_for(http, emulator, Env.BROKER_SANDBOX, sb)
    emulator.set_clock_skew(600)   # the server's clock jumps ahead 10 minutes
    assert http.get(url, headers=bearer(tok2)).status_code == 200
    emulator.set_clock_skew(900)
    assert http.get(url, headers=bearer(tok2)).status_code == 401


def test_revoking_or_expiring_the_client_kills_its_tokens(emulator: Emulator, http: httpx.Client) -> None:
    url = emulator.urls["broker-sandbox"] + "/v1/accounts"
    for action in (emulator.revoke, emulator.expire):
        sb = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        tok = token_for(http, emulator, Env.BROKER_SANDBOX, sb)
        assert http.get(url, headers=bearer(tok)).status_code == 200
        action(sb.key_id)
        assert http.get(url, headers=bearer(tok)).status_code == 401


def test_token_endpoint_details(emulator: Emulator, http: httpx.Client) -> None:
    sb = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    legacy = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    url = emulator.urls["authx-sandbox"] + TOKEN_PATH
    base = {"grant_type": "client_credentials", "client_id": sb.key_id, "client_secret": sb.secret}

    r = http.post(url, data=base)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert http.post(url, json=base).json()["error"] == "invalid_request"
    r = http.post(url, data={**base, "grant_type": "password"})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = http.post(url, data={"grant_type": "client_credentials", "client_id": sb.key_id})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "fields": [{"name": "client_secret"}]}
    r = http.post(url, content=f"grant_type=client_credentials&client_id={sb.key_id}&client_id=X"
                  f"&client_secret={sb.secret}", headers={"content-type": FORM})
    assert r.json()["error"] == "invalid_request"
    r = http.post(url, data={**base, "client_assertion_type": "x", "client_assertion": "y"})
    assert r.json()["error"] == "invalid_request"
    r = http.post(url, data={"grant_type": "client_credentials", "client_id": legacy.key_id,
                             "client_secret": legacy.secret})
    assert r.json()["error"] in ("unauthorized_client", "invalid_client")
    r = http.post(url, data={**base, "client_secret": "A" * 64})
    assert (r.status_code, r.json()) == (401, {"error": "invalid_client"})
    assert http.get(url).status_code == 405
    r = http.post(emulator.urls["authx-sandbox"] + "/v1/nothing", data=base)
    assert r.status_code == 404
    assert emulator.token_requests(sb.key_id) == 6
    assert emulator.token_requests() >= 8


def _assertion(client_id: str, pem: str, aud: str, now: float, **over) -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4()),
              "iat": int(now), "exp": int(now) + 300}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    key, alg = keys.load_private_key(pem)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": client_id})


def _jwt_form(client_id: str, assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def test_private_key_jwt_with_jwk_registration_and_claim_checks(emulator: Emulator, emulator_clock,
                                                               http: httpx.Client) -> None:
    pem = keys.generate_private_key("ES256")
    cred = emulator.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    url = emulator.urls["authx-sandbox"] + TOKEN_PATH
    now = emulator_clock.time()
    # no key registered yet
    r = http.post(url, data=_jwt_form(cred.key_id, _assertion(cred.key_id, pem, url, now)))
    assert r.json()["error"] == "invalid_client"
    emulator.register_public_key(cred.key_id, json.dumps(keys.public_jwk(pem, kid=cred.key_id)))
    ok = _assertion(cred.key_id, pem, url, now)
    assert http.post(url, data=_jwt_form(cred.key_id, ok)).status_code == 200
    assert http.post(url, data=_jwt_form(cred.key_id, ok)).json() == {"error": "jti_known"}
    # real Alpaca's token URL and origin are accepted as aud too
    for aud in ("https://authx.sandbox.alpaca.markets/v1/oauth2/token", "https://authx.sandbox.alpaca.markets",
                emulator.urls["authx-sandbox"]):
        form = _jwt_form(cred.key_id, _assertion(cred.key_id, pem, aud, now))
        assert http.post(url, data=form).status_code == 200
    bad = {
        "no exp": {"exp": None},
        "no jti": {"jti": None},
        "iat in future": {"iat": int(now) + 120, "exp": int(now) + 200},
        "nbf in future": {"nbf": int(now) + 120},
        "sub differs": {"sub": "SOMEONEELSE"},
        "stale": {"iat": int(now) - 400, "exp": int(now) - 100},
        "lifetime": {"exp": int(now) + 301},
    }
    for what, over in bad.items():
        r = http.post(url, data=_jwt_form(cred.key_id, _assertion(cred.key_id, pem, url, now, **over)))
        assert (r.status_code, r.json()) == (401, {"error": "token_claim"}), what
    live_aud = _assertion(cred.key_id, pem, "https://authx.alpaca.markets/v1/oauth2/token", now)
    assert http.post(url, data=_jwt_form(cred.key_id, live_aud)).json() == {"error": "token_claim"}
    # leeway: 20 s past exp is still fine
    late = _assertion(cred.key_id, pem, url, now, iat=int(now) - 310, exp=int(now) - 20)
    assert http.post(url, data=_jwt_form(cred.key_id, late)).status_code == 200
    # a skewed server clock (10 min ahead) rejects a fresh assertion: check your clock
    emulator.set_clock_skew(600)
    r = http.post(url, data=_jwt_form(cred.key_id, _assertion(cred.key_id, pem, url, now)))
    assert r.json() == {"error": "token_claim"}
    emulator.set_clock_skew(0)
    # RS256 signature against an ES256 key, and garbage
    rsa_pem = keys.generate_private_key("RS256")
    r = http.post(url, data=_jwt_form(cred.key_id, _assertion(cred.key_id, rsa_pem, url, now)))
    assert r.json() == {"error": "token_signature_mismatch"}
    r = http.post(url, data=_jwt_form(cred.key_id, "not.a.jwt"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    unsigned = jwt.encode({"iss": cred.key_id}, None, algorithm="none")
    assert http.post(url, data=_jwt_form(cred.key_id, unsigned)).json()["error"] == "invalid_client"
    # a client secret for a JWT client, and an assertion for a secret client
    r = http.post(url, data={"grant_type": "client_credentials", "client_id": cred.key_id,
                             "client_secret": "x"})
    assert r.json()["error"] == "invalid_client"
    cs = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    r = http.post(url, data=_jwt_form(cs.key_id, _assertion(cs.key_id, pem, url, now)))
    assert r.json()["error"] == "invalid_client"


# -- scopes ----------------------------------------------------------------------------------

BROKER_ROUTES = [(r, m) for r in emu_api.ROUTES if r.kind == "broker" and r.scope is not None
                 for m in sorted(r.methods)]


@pytest.mark.parametrize("route,method", BROKER_ROUTES,
                         ids=[f"{m} {r.pattern.pattern}" for r, m in BROKER_ROUTES])
def test_every_scoped_broker_route_enforces_its_scope(emulator: Emulator, http: httpx.Client,
                                                      route, method) -> None:
    scope: Scope = route.scope
    write = method != "GET"
    account_id = next(iter(emulator.book.broker["broker-sandbox"]))
    path = route.fill({p: account_id if p == "account_id" else "AAPL" for p in route.params})
    assert "(" not in path, path
    url = emulator.urls["broker-sandbox"] + path
    levels = {"none": AccessMatrix.full().with_level(scope, Level.NONE),
              "ro": AccessMatrix.full().with_level(scope, Level.RO),
              "rw": AccessMatrix({scope: Level.RW})}
    for name, matrix in levels.items():
        cred = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY, access=matrix)
        r = http.request(method, url, headers=basic(cred.key_id, cred.secret or ""), json={})
        denied = name == "none" or (name == "ro" and write)
        if denied:
            assert r.status_code == 403, (name, r.text)
            body = r.json()
            assert body["code"] == 40310000 and body["message"].startswith("forbidden")
            assert scope.label in body["message"]
        else:
            assert r.status_code not in (401, 403), (name, r.text)


def test_data_host_needs_the_data_scope_for_broker_credentials(emulator: Emulator,
                                                              http: httpx.Client) -> None:
    no_data = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET,
                                         access=AccessMatrix.full().with_level(Scope.DATA, Level.NONE))
    tok = token_for(http, emulator, Env.BROKER_SANDBOX, no_data)
    r = http.get(emulator.urls["data-sandbox"] + "/v2/stocks/AAPL/quotes/latest", headers=bearer(tok))
    assert r.status_code == 403 and r.json()["code"] == 40310000
    # trading keys have no matrix
    paper = emulator.create_credential(Env.PAPER, Flow.LEGACY, access=AccessMatrix({}))
    r = http.get(emulator.urls["data"] + "/v2/stocks/AAPL/quotes/latest",
                 headers=legacy_headers(paper.key_id, paper.secret))
    assert r.status_code == 200


def test_reference_assets_need_no_scope(emulator: Emulator, http: httpx.Client) -> None:
    nothing = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY, access=AccessMatrix({}))
    r = http.get(emulator.urls["broker-sandbox"] + "/v1/assets",
                 headers=basic(nothing.key_id, nothing.secret))
    assert r.status_code == 200 and r.json()[0]["symbol"]


# -- rate limits, errors and faults ----------------------------------------------------------

def test_rate_limit_headers_429_and_window_reset(emulator: Emulator, emulator_clock, http) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    url = emulator.urls["trading-paper"] + "/v2/clock"
    first = http.get(url, headers=h)
    assert first.headers["x-ratelimit-limit"] == "200"
    assert first.headers["x-ratelimit-remaining"] == "199"
    reset = int(first.headers["x-ratelimit-reset"])
    assert emulator_clock.time() < reset <= emulator_clock.time() + 60
    emulator.set_rate_limit("trading-paper", 3)
    emulator.set_retry_after(True)   # Retry-After is behind a switch (Alpaca's specs do not list it)
    remaining = [http.get(url, headers=h).headers["x-ratelimit-remaining"] for _ in range(2)]
    assert remaining == ["1", "0"]
    r = http.get(url, headers=h)
    assert r.status_code == 429
    assert r.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # another key has its own budget; the next window starts fresh
    other = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    assert http.get(url, headers=legacy_headers(other.key_id, other.secret)).status_code == 200
    emulator_clock.advance(60)
    assert http.get(url, headers=h).status_code == 200
    broker = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    r = http.get(emulator.urls["broker-sandbox"] + "/v1/accounts",
                 headers=basic(broker.key_id, broker.secret))
    assert r.headers["x-ratelimit-limit"] == "1000"


def test_unknown_path_and_method(emulator: Emulator, http: httpx.Client) -> None:
    r = http.get(emulator.urls["trading-paper"] + "/v2/nothing-here")
    assert r.status_code == 404 and r.json() == {"code": 40410000, "message": "endpoint not found"}
    assert r.headers["x-request-id"] and r.headers["x-ratelimit-limit"]
    r = http.put(emulator.urls["trading-paper"] + "/v2/account")
    assert r.status_code == 405
    # trading routes do not exist on the broker host
    assert http.get(emulator.urls["broker-sandbox"] + "/v2/account").status_code == 404


def test_fault_switches_and_counters(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    url = emulator.urls["trading-paper"] + "/v2/clock"
    emulator.reset_counters()
    emulator.fail_next("trading-paper", 2, status=503)
    statuses = [http.get(url, headers=h).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    emulator.fail_next("trading-paper", 1, status=500)
    r = http.get(url, headers=h)
    assert r.status_code == 500 and r.json()["code"] == 50010000
    emulator.drop_next("trading-paper", 1)
    with pytest.raises(httpx.TransportError):
        http.get(url, headers=h)
    assert http.get(url, headers=h).status_code == 200
    emulator.set_latency("trading-paper", 0.3)
    t0 = time.monotonic()
    assert http.get(url, headers=h).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    emulator.set_latency("trading-paper", 0)
    assert emulator.requests("trading-paper") == 7
    assert emulator.requests("trading-live") == 0
    emulator.fail_next("authx-sandbox", 1)
    r = http.post(emulator.urls["authx-sandbox"] + TOKEN_PATH, data={"grant_type": "client_credentials"})
    assert (r.status_code, r.json()) == (503, {"error": "temporarily_unavailable"})
    emulator.fail_next("*", 1, status=429)
    emulator.set_retry_after(True)   # Retry-After is behind a switch (Alpaca's specs do not list it)
    r = http.get(url, headers=h)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    emulator.reset_faults()
    crypto = emulator.urls["data"] + "/v1beta3/crypto/us/latest/bars?symbols=BTC/USD"
    assert http.get(crypto).status_code == 200
    with pytest.raises(ValueError):
        emulator.set_latency("nope", 1)
    with pytest.raises(ValueError):
        emulator.requests("admin")


# -- shapes ----------------------------------------------------------------------------------

def test_trading_shapes(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    base = emulator.urls["trading-paper"]
    acct = http.get(base + "/v2/account", headers=h).json()
    assert acct["account_number"] == "PALPACA_123" and acct["status"] == "ACTIVE"
    assert acct["currency"] == "USD" and float(acct["cash"]) > 0 and float(acct["buying_power"]) > 0
    uuid.UUID(acct["id"])
    clock = http.get(base + "/v2/clock", headers=h).json()
    assert set(clock) == {"timestamp", "is_open", "next_open", "next_close"}
    assert clock["is_open"] is False   # 2027-01-15 03:00 New York time
    assert clock["next_open"].startswith("2027-01-15T09:30:00")
    assert http.get(base + "/v2/positions", headers=h).json() == []
    asset = http.get(base + "/v2/assets/AAPL", headers=h).json()
    assert asset["symbol"] == "AAPL" and asset["class"] == "us_equity" and asset["tradable"] is True
    assert http.get(base + "/v2/assets/BTC/USD", headers=h).json()["class"] == "crypto"
    assert http.get(base + "/v2/assets/%24%24%24", headers=h).status_code == 404


def test_order_lifecycle_and_validation(emulator: Emulator, emulator_clock, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    base = emulator.urls["trading-paper"]
    r = http.post(base + "/v2/orders", headers={**h, "content-type": "application/json"},
                  content=b"{not json")
    assert (r.status_code, r.json()["code"]) == (400, 40010001)
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "AAPL", "side": "buy", "type": "market",
                                                        "time_in_force": "day"})
    assert (r.status_code, r.json()["code"]) == (422, 40010001) and "qty" in r.json()["message"]
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "AAPL", "qty": "1", "side": "buy",
                                                        "type": "limit", "time_in_force": "day"})
    assert r.status_code == 422 and "limit_price" in r.json()["message"]
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "aapl", "qty": 2, "side": "buy",
                                                        "type": "limit", "limit_price": "100.5",
                                                        "time_in_force": "gtc", "client_order_id": "mine-1"})
    assert r.status_code == 200
    order = r.json()
    assert (order["symbol"], order["qty"], order["status"], order["client_order_id"]) == ("AAPL", "2", "new",
                                                                                          "mine-1")
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "MSFT", "qty": 1, "side": "buy",
                                                        "type": "limit", "limit_price": "1",
                                                        "time_in_force": "gtc", "client_order_id": "mine-1"})
    assert r.status_code == 422
    # market order while the market is closed: accepted; at 15:00 New York: filled
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "MSFT", "notional": "500", "side": "buy",
                                                        "type": "market", "time_in_force": "day"})
    assert r.json()["status"] == "accepted"
    emulator_clock.advance(12 * 3600)
    r = http.post(base + "/v2/orders", headers=h, json={"symbol": "NVDA", "qty": "3", "side": "buy",
                                                        "type": "market", "time_in_force": "day"})
    filled = r.json()
    assert filled["status"] == "filled" and float(filled["filled_avg_price"]) > 0
    positions = http.get(base + "/v2/positions", headers=h).json()
    assert [(p["symbol"], p["qty"], p["side"]) for p in positions] == [("NVDA", "3", "long")]
    open_orders = http.get(base + "/v2/orders", headers=h).json()
    assert {o["symbol"] for o in open_orders} == {"AAPL", "MSFT"}
    all_orders = http.get(base + "/v2/orders", headers=h, params={"status": "all"}).json()
    assert len(all_orders) == 3
    assert http.get(base + f"/v2/orders/{order['id']}", headers=h).json()["id"] == order["id"]
    assert http.delete(base + f"/v2/orders/{order['id']}", headers=h).status_code == 204
    r = http.delete(base + f"/v2/orders/{order['id']}", headers=h)
    assert r.status_code == 422
    assert http.delete(base + f"/v2/orders/{uuid.uuid4()}", headers=h).status_code == 404
    # live has its own account
    live = emulator.create_credential(Env.LIVE, Flow.LEGACY)
    lh = legacy_headers(live.key_id, live.secret)
    assert http.get(emulator.urls["trading-live"] + "/v2/orders", headers=lh,
                    params={"status": "all"}).json() == []


def test_data_shapes(emulator: Emulator, http: httpx.Client) -> None:
    key = emulator.create_credential(Env.LIVE, Flow.LEGACY)
    h = legacy_headers(key.key_id, key.secret)
    base = emulator.urls["data"]
    body = http.get(base + "/v2/stocks/AAPL/bars/latest", headers=h, params={"feed": "iex"}).json()
    assert body["symbol"] == "AAPL" and set(body["bar"]) == {"c", "h", "l", "n", "o", "t", "v", "vw"}
    assert body["bar"]["l"] <= body["bar"]["c"] <= body["bar"]["h"]
    q = http.get(base + "/v2/stocks/AAPL/quotes/latest", headers=h).json()
    assert q["quote"]["ap"] >= q["quote"]["bp"]
    multi = http.get(base + "/v2/stocks/bars/latest", headers=h, params={"symbols": "AAPL,MSFT"}).json()
    assert set(multi["bars"]) == {"AAPL", "MSFT"}
    assert http.get(base + "/v2/stocks/bars/latest", headers=h).status_code == 400
    crypto = http.get(base + "/v1beta3/crypto/us/latest/bars", params={"symbols": "BTC/USD,ETH/USD"})
    assert crypto.status_code == 200 and set(crypto.json()["bars"]) == {"BTC/USD", "ETH/USD"}
    # anonymous is fine for crypto, but presented credentials are still checked
    r = http.get(base + "/v1beta3/crypto/us/latest/bars", params={"symbols": "BTC/USD"},
                 headers=legacy_headers(key.key_id, "wrong"))
    assert r.status_code == 401
    assert http.get(base + "/v2/stocks/AAPL/bars/latest").status_code == 401


def test_broker_flows(emulator: Emulator, http: httpx.Client) -> None:
    cs = emulator.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    h = bearer(token_for(http, emulator, Env.BROKER_SANDBOX, cs))
    base = emulator.urls["broker-sandbox"]
    r = http.post(base + "/v1/accounts", headers=h, json={"contact": {"email_address": "a@example.com"}})
    assert r.status_code == 200
    acct = r.json()
    assert acct["status"] == "ACTIVE"
    assert http.post(base + "/v1/accounts", headers=h, json={}).status_code == 422
    accounts = http.get(base + "/v1/accounts", headers=h).json()
    assert len(accounts) == 2
    seeded = [a for a in accounts if a["id"] != acct["id"]][0]
    assert http.get(base + f"/v1/accounts/{acct['id']}", headers=h).json()["id"] == acct["id"]
    assert http.get(base + f"/v1/accounts/{uuid.uuid4()}", headers=h).status_code == 404
    t = http.post(base + f"/v1/accounts/{acct['id']}/transfers", headers=h,
                  json={"transfer_type": "ach", "amount": "1000", "direction": "INCOMING"})
    assert t.status_code == 200 and t.json()["status"] == "QUEUED"
    assert http.post(base + f"/v1/accounts/{acct['id']}/transfers", headers=h,
                     json={"amount": "-5", "direction": "INCOMING"}).status_code == 422
    assert len(http.get(base + f"/v1/accounts/{acct['id']}/transfers", headers=h).json()) == 1
    j = http.post(base + "/v1/journals", headers=h,
                  json={"from_account": acct["id"], "to_account": seeded["id"], "entry_type": "JNLC",
                        "amount": "250"})
    assert j.status_code == 200 and j.json()["status"] == "executed"
    ta = http.get(base + f"/v1/trading/accounts/{acct['id']}/account", headers=h).json()
    assert ta["cash"] == "750.00"
    o = http.post(base + f"/v1/trading/accounts/{acct['id']}/orders", headers=h,
                  json={"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "10",
                        "time_in_force": "day"})
    assert o.status_code == 200
    assert len(http.get(base + f"/v1/trading/accounts/{acct['id']}/orders", headers=h).json()) == 1
    p = http.post(base + "/v1/rebalancing/portfolios", headers=h,
                  json={"name": "balanced", "weights": [{"type": "asset", "symbol": "SPY", "percent": "60"},
                                                        {"type": "cash", "percent": "40"}]})
    assert p.status_code == 200
    assert http.get(base + "/v1/rebalancing/portfolios", headers=h).json()[0]["name"] == "balanced"
    # the spec: history only with since / since_id / since_ulid
    sse = http.get(base + "/v1/events/accounts/status", headers=h, params={"since": "2027-01-01"})
    assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
    assert sse.text.startswith("id: 1\ndata: {")
    # the SSE stream is closed after the events; the client still works afterwards
    assert http.get(base + "/v1/accounts", headers=h).status_code == 200


def test_secret_chars_not_in_logs(emulator: Emulator, http: httpx.Client) -> None:
    lines: list[str] = []
    emulator.log = lines.append
    key = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    http.get(emulator.urls["trading-paper"] + "/v2/account", headers=legacy_headers(key.key_id, key.secret))
    assert lines and all(key.secret not in line for line in lines)
    assert all(c in string.printable for c in "".join(lines))
