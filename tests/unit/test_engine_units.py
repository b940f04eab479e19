"""Narrow engine units over respx: headers per flow, token form, error mapping, retries, redaction.

End-to-end behaviour over real loopback HTTP against the emulator is in tests/e2e/test_engine_*.py.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx

from alpaca_tui.core import keys
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.engine import Engine, RotationError
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.http import ApiError, ErrorCategory, retry_delay, server_message
from alpaca_tui.core.oauth import ASSERTION_TYPE, AccessToken
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope

PAPER = "https://paper-api.alpaca.markets"
LIVE = "https://api.alpaca.markets"
DATA = "https://data.alpaca.markets"
BROKER = "https://broker-api.sandbox.alpaca.markets"
SDATA = "https://data.sandbox.alpaca.markets"
AUTHX = "https://authx.sandbox.alpaca.markets/v1/oauth2/token"
SECRET = "Zq3xV8nL2mK9pR4tY7wB1cD6fG0hJ5sA8eU2iO4k"
CLIENT_SECRET = "CS7Q2W4E6R8T0Y1U3I5O7P9A2S4D6F8G0H1J3K5L7Z9X1C3V5B7N9M2Q4W6E8R0T"
HOUR = timedelta(hours=1)
OK_TOKEN = {"access_token": "tok-aaaaaaaaaaaaaaaa", "expires_in": 899, "token_type": "Bearer"}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def engine(clock: FakeClock | None = None, **kw: object) -> tuple[Engine, Sleeps]:
    sleeps = Sleeps()
    e = Engine(clock=clock or FakeClock(), sleep=sleeps, **kw)  # type: ignore[arg-type]
    return e, sleeps


def legacy(e: Engine, name: str, env: Env, key_id: str = "PKABCDEFGHIJKLMNOPQR", **kw: object) -> None:
    e.add_credential(Profile(name, env, Flow.LEGACY, "PK…", **kw),  # type: ignore[arg-type]
                     SecretBundle(Secret(key_id, secret=SECRET)))


def oauth(e: Engine, name: str = "bx", **kw: object) -> None:
    e.add_credential(Profile(name, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK…", **kw),  # type: ignore[arg-type]
                     SecretBundle(Secret("CKQ7TESTCLIENT0000000000AB", secret=CLIENT_SECRET)))


# -- headers per flow --------------------------------------------------------------------------


@respx.mock
async def test_legacy_trading_and_data_use_apca_headers() -> None:
    acct = respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(200, json={"id": "x"}))
    bars = respx.get(f"{DATA}/v2/stocks/AAPL/bars/latest").mock(return_value=httpx.Response(200, json={}))
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert r.ok and r.json == {"id": "x"}
    await e.request("paper", "GET", "/v2/stocks/AAPL/bars/latest")
    for route in (acct, bars):
        h = route.calls[0].request.headers
        assert h["APCA-API-KEY-ID"] == "PKABCDEFGHIJKLMNOPQR"
        assert h["APCA-API-SECRET-KEY"] == SECRET
        assert "authorization" not in h
    await e.aclose()


@respx.mock
async def test_legacy_broker_uses_basic_for_broker_and_data() -> None:
    acc = respx.get(f"{BROKER}/v1/accounts").mock(return_value=httpx.Response(200, json=[]))
    bars = respx.get(f"{SDATA}/v2/stocks/AAPL/bars/latest").mock(return_value=httpx.Response(200, json={}))
    e, _ = engine()
    legacy(e, "bl", Env.BROKER_SANDBOX, key_id="CKBASICKEY0000000000")
    await e.request("bl", "GET", "/v1/accounts")
    await e.request("bl", "GET", "/v2/stocks/AAPL/bars/latest")
    want = "Basic " + base64.b64encode(f"CKBASICKEY0000000000:{SECRET}".encode()).decode()
    for route in (acc, bars):
        h = route.calls[0].request.headers
        assert h["authorization"] == want
        assert "apca-api-key-id" not in h
    await e.aclose()


@respx.mock
async def test_client_secret_post_form_and_bearer() -> None:
    tok = respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    acc = respx.get(f"{BROKER}/v1/accounts").mock(return_value=httpx.Response(200, json=[]))
    e, _ = engine()
    oauth(e)
    await e.request("bx", "GET", "/v1/accounts")
    req = tok.calls[0].request
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in req.headers  # client_secret_post only, never Basic
    form = parse_qs(req.content.decode())
    assert form == {"grant_type": ["client_credentials"], "client_id": ["CKQ7TESTCLIENT0000000000AB"],
                    "client_secret": [CLIENT_SECRET]}
    assert acc.calls[0].request.headers["authorization"] == "Bearer tok-aaaaaaaaaaaaaaaa"
    await e.aclose()


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
@respx.mock
async def test_private_key_jwt_assertion_claims(alg: str) -> None:
    tok = respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    clock = FakeClock(1_800_000_000)
    e, _ = engine(clock)
    pem = keys.generate_private_key(alg)
    cid = "CKJWTCLIENT000000000000001"
    e.add_credential(Profile("bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, "CK…", alg=alg),
                     SecretBundle(Secret(cid, private_key_pem=pem, alg=alg)))
    await e.token("bj")
    await e.token("bj", force=True)
    jtis = []
    for call in tok.calls:
        form = parse_qs(call.request.content.decode())
        assert form["grant_type"] == ["client_credentials"]
        assert form["client_id"] == [cid]
        assert form["client_assertion_type"] == [ASSERTION_TYPE]
        assert "client_secret" not in form and "authorization" not in call.request.headers
        assertion = form["client_assertion"][0]
        header = jwt.get_unverified_header(assertion)
        assert header["alg"] == alg and header["kid"] == cid
        claims = jwt.decode(assertion, keys.public_key_pem(pem), algorithms=[alg], audience=AUTHX,
                            options={"verify_exp": False, "verify_iat": False})
        assert claims["iss"] == claims["sub"] == cid
        assert claims["aud"] == AUTHX
        assert claims["iat"] == 1_800_000_000
        assert claims["exp"] - claims["iat"] == 300
        jtis.append(claims["jti"])
    assert len(set(jtis)) == 2  # a fresh assertion per token request
    await e.aclose()


# -- tokens ------------------------------------------------------------------------------------


@respx.mock
async def test_single_flight_and_reuse() -> None:
    async def slow_token(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=OK_TOKEN)

    tok = respx.post(AUTHX).mock(side_effect=slow_token)
    respx.get(f"{BROKER}/v1/accounts").mock(return_value=httpx.Response(200, json=[]))
    e, _ = engine()
    oauth(e)
    rs = await asyncio.gather(*(e.request("bx", "GET", "/v1/accounts") for _ in range(100)))
    assert all(r.ok for r in rs)
    assert tok.call_count == 1
    st = e.token_state("bx")
    assert st is not None and st.token_requests == 1 and st.refresh_count == 0 and not st.refreshing
    await e.aclose()


@respx.mock
async def test_refresh_ahead_with_fake_clock() -> None:
    tok = respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    clock = FakeClock(1_800_000_000)
    e, _ = engine(clock, refresh_ahead=60)
    oauth(e)
    t1 = await e.token("bx")
    assert t1.expires_at == 1_800_000_899 and t1.issued_at == 1_800_000_000
    clock.advance(838)  # 61 s left: still reused
    assert await e.token("bx") is t1
    clock.advance(2)  # 59 s left: refreshed ahead of expiry
    t2 = await e.token("bx")
    assert t2 is not t1 and tok.call_count == 2
    st = e.token_state("bx")
    assert st is not None and st.refresh_count == 1 and st.issued_at == clock.time()
    assert st.remaining(clock.time()) == 899
    assert st.remaining(clock.time() + 2000) == 0
    assert e.token_state("nobody") is None
    await e.aclose()


@respx.mock
async def test_401_forces_one_refresh_and_one_retry() -> None:
    tokens = iter([{**OK_TOKEN, "access_token": "tok-old-000000000"},
                   {**OK_TOKEN, "access_token": "tok-new-1111111"}])
    tok = respx.post(AUTHX).mock(side_effect=lambda req: httpx.Response(200, json=next(tokens)))

    def accounts(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer tok-old-000000000":
            return httpx.Response(401, json={"code": 40110000, "message": "request is not authorized"})
        return httpx.Response(200, json=[])

    respx.get(f"{BROKER}/v1/accounts").mock(side_effect=accounts)
    e, _ = engine()
    oauth(e)
    rs = await asyncio.gather(*(e.request("bx", "GET", "/v1/accounts") for _ in range(20)))
    assert all(r.ok for r in rs)
    assert tok.call_count == 2  # the 20 concurrent 401s share one forced refresh
    assert any(r.token_refreshed for r in rs)
    await e.aclose()


@respx.mock
async def test_401_twice_is_bad_credentials_with_request_id() -> None:
    respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    respx.get(f"{BROKER}/v1/accounts").mock(return_value=httpx.Response(
        401, json={"code": 40110000, "message": "request is not authorized"},
        headers={"X-Request-ID": "rid-9"}))
    e, _ = engine()
    oauth(e)
    r = await e.request("bx", "GET", "/v1/accounts")
    assert r.status == 401 and r.attempts == 2 and r.error is not None
    assert r.error.category is ErrorCategory.BAD_CREDENTIALS
    assert r.error.request_id == "rid-9" and "request-id rid-9" in str(r.error)
    assert "request is not authorized" in str(r.error)
    assert "\n" not in str(r.error)
    await e.aclose()


@respx.mock
async def test_token_endpoint_invalid_client() -> None:
    respx.post(AUTHX).mock(return_value=httpx.Response(
        401, json={"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"}))
    e, _ = engine()
    oauth(e)
    with pytest.raises(ApiError) as ei:
        await e.token("bx")
    err = ei.value
    assert err.category is ErrorCategory.BAD_CREDENTIALS and err.status == 401
    assert "invalid_client" in err.message
    assert CLIENT_SECRET not in err.message and CLIENT_SECRET not in repr(err)
    st = e.token_state("bx")
    assert st is not None and st.last_error and "invalid_client" in st.last_error and st.expires_at is None
    with pytest.raises(ApiError):
        await e.request("bx", "GET", "/v1/accounts")
    await e.aclose()


async def test_legacy_profile_has_no_token() -> None:
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    with pytest.raises(UsageError, match="no access token"):
        await e.token("paper")
    await e.aclose()


# -- error mapping ------------------------------------------------------------------------------


@respx.mock
async def test_paper_key_on_live_is_wrong_environment() -> None:
    respx.get(f"{LIVE}/v2/account").mock(return_value=httpx.Response(
        401, json={"code": 40110000, "message": "request is not authorized"}))
    e, _ = engine()
    legacy(e, "live", Env.LIVE, key_id="PKABCDEFGHIJKLMNOPQR")
    r = await e.request("live", "GET", "/v2/account")
    assert r.error is not None and r.error.category is ErrorCategory.WRONG_ENVIRONMENT
    assert "paper key" in r.error.message and "against live" in r.error.message
    assert r.attempts == 1  # legacy: no retry
    await e.aclose()


@respx.mock
async def test_live_key_on_paper_is_wrong_environment() -> None:
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(401, json={"message": "unauthorized"}))
    e, _ = engine()
    legacy(e, "paper", Env.PAPER, key_id="AKABCDEFGHIJKLMNOPQR")
    r = await e.request("paper", "GET", "/v2/account")
    assert r.error is not None and r.error.category is ErrorCategory.WRONG_ENVIRONMENT
    assert "live key" in r.error.message and "against paper" in r.error.message
    await e.aclose()


@respx.mock
async def test_403_names_scope_and_trading_forbidden_hint() -> None:
    respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    respx.post(f"{BROKER}/v1/journals").mock(return_value=httpx.Response(
        403, json={"code": 40310000, "message": "forbidden"}))
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(403, json={"message": "forbidden."}))
    e, _ = engine()
    oauth(e, access=AccessMatrix({Scope.JOURNALING: Level.RO}))
    legacy(e, "paper", Env.PAPER)
    r = await e.request("bx", "POST", "/v1/journals", json_body={"amount": "1"})
    assert r.error is not None and r.error.category is ErrorCategory.FORBIDDEN_SCOPE
    assert "Journaling (read-write)" in r.error.message
    r2 = await e.request("paper", "GET", "/v2/account")
    assert r2.error is not None and r2.error.category is ErrorCategory.FORBIDDEN
    assert "malformed auth headers" in r2.error.message
    await e.aclose()


@respx.mock
async def test_preflight_refuses_before_sending_unless_forced() -> None:
    respx.post(AUTHX).mock(return_value=httpx.Response(200, json=OK_TOKEN))
    route = respx.post(f"{BROKER}/v1/journals").mock(return_value=httpx.Response(200, json={}))
    e, _ = engine()
    oauth(e, access=AccessMatrix({Scope.JOURNALING: Level.RO}))
    with pytest.raises(ApiError) as ei:
        await e.request("bx", "POST", "/v1/journals", json_body={}, preflight=True)
    assert ei.value.category is ErrorCategory.FORBIDDEN_SCOPE and ei.value.status is None
    assert route.call_count == 0
    r = await e.request("bx", "POST", "/v1/journals", json_body={}, preflight=True, force=True)
    assert r.ok and route.call_count == 1
    await e.aclose()


@respx.mock
async def test_429_honours_retry_after_then_succeeds() -> None:
    clock = FakeClock(1_800_000_000)
    responses = iter([
        httpx.Response(429, json={"message": "too many requests"}, headers={"Retry-After": "2"}),
        httpx.Response(429, json={"message": "too many requests"},
                       headers={"X-RateLimit-Reset": str(1_800_000_005), "X-RateLimit-Remaining": "0"}),
        httpx.Response(200, json={}, headers={"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "199",
                                              "X-RateLimit-Reset": "1800000060"}),
    ])
    respx.get(f"{PAPER}/v2/account").mock(side_effect=lambda req: next(responses))
    e, sleeps = engine(clock)
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert r.ok and r.attempts == 3
    assert sleeps.calls == [2.0, 5.0]
    assert r.rate_limit is not None and r.rate_limit.limit == 200 and r.rate_limit.remaining == 199
    await e.aclose()


@respx.mock
async def test_429_bounded_retries_then_rate_limited() -> None:
    route = respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(
        429, json={"message": "too many requests"}, headers={"Retry-After": "1"}))
    e, sleeps = engine(max_retries=3)
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert route.call_count == 4 and len(sleeps.calls) == 3
    assert r.error is not None and r.error.category is ErrorCategory.RATE_LIMITED
    assert "3 retries" in r.error.message
    await e.aclose()


@respx.mock
async def test_5xx_non_json_is_server_error() -> None:
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(
        502, text="<html><body>Bad Gateway</body></html>"))
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert r.error is not None and r.error.category is ErrorCategory.SERVER_ERROR
    assert "non-JSON" in r.error.message and r.json is None
    await e.aclose()


@respx.mock
async def test_network_error_and_timeout_raise() -> None:
    respx.get(f"{PAPER}/v2/account").mock(side_effect=httpx.ConnectError("connection refused"))
    respx.get(f"{PAPER}/v2/clock").mock(side_effect=httpx.ReadTimeout("timed out"))
    respx.get(f"{PAPER}/v2/orders").mock(side_effect=httpx.RemoteProtocolError("server disconnected"))
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    with pytest.raises(ApiError) as ei:
        await e.request("paper", "GET", "/v2/account")
    assert ei.value.category is ErrorCategory.NETWORK_ERROR and "connection failed" in ei.value.message
    with pytest.raises(ApiError) as ei:
        await e.request("paper", "GET", "/v2/clock")
    assert ei.value.category is ErrorCategory.TIMEOUT
    with pytest.raises(ApiError) as ei:
        await e.request("paper", "GET", "/v2/orders")
    assert ei.value.category is ErrorCategory.NETWORK_ERROR and "dropped" in ei.value.message
    await e.aclose()


@respx.mock
async def test_expired_credential_refused_locally() -> None:
    route = respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(200, json={}))
    clock = FakeClock(1_800_000_000)
    e, _ = engine(clock)
    legacy(e, "old", Env.PAPER, expires_at=clock.now() - timedelta(days=2))
    with pytest.raises(ApiError) as ei:
        await e.request("old", "GET", "/v2/account")
    assert ei.value.category is ErrorCategory.EXPIRED_CREDENTIAL and "'old'" in ei.value.message
    assert route.call_count == 0
    results = await e.check("old")
    assert [r.ok for r in results] == [False, False]
    assert all(r.category is ErrorCategory.EXPIRED_CREDENTIAL for r in results)
    await e.aclose()


@respx.mock
async def test_server_echo_of_secret_is_redacted() -> None:
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(
        400, json={"message": f"bad key {SECRET}"}))
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert r.error is not None and SECRET not in str(r.error) and SECRET not in r.text
    assert r.error.category is ErrorCategory.CLIENT_ERROR
    await e.aclose()


async def test_usage_errors() -> None:
    e, _ = engine()
    legacy(e, "paper", Env.PAPER)
    with pytest.raises(UsageError):
        await e.request("paper", "GET", "https://evil.example/v2/account")
    with pytest.raises(UsageError):
        await e.request("paper", "BREW", "/v2/account")
    with pytest.raises(UsageError, match="no broker API"):
        await e.request("paper", "GET", "/v1/accounts", api=Api.BROKER)
    await e.aclose()


def test_access_token_repr_masks() -> None:
    t = AccessToken(value="tok-secret-value-123456", expires_at=2.0, issued_at=1.0)
    assert "tok-secret-value-123456" not in repr(t) and "tok-secret-value-123456" not in str(t)
    assert t.authorization() == "Bearer tok-secret-value-123456"


def test_retry_delay_and_server_message() -> None:
    assert retry_delay({"Retry-After": "3"}, 0, attempt=0) == 3
    assert retry_delay({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 1445412480, attempt=0) == 10
    assert retry_delay({"X-RateLimit-Reset": "110"}, 100, attempt=0) == 10
    assert retry_delay({}, 0, attempt=2) == 4
    assert retry_delay({"Retry-After": "9999"}, 0, attempt=0, max_wait=60) == 60
    assert server_message({"code": 40110000, "message": "request is not authorized"}, "", []) == \
        "request is not authorized (code 40110000)"
    assert server_message({"error": "invalid_client", "fields": [{"name": "client_id"}]}, "", []) == \
        "invalid_client: fields: client_id"
    assert server_message(None, "", []) is None


# -- rotation without a store -------------------------------------------------------------------


@respx.mock
async def test_rotation_in_memory_verify_promote_rollback() -> None:
    def account(request: httpx.Request) -> httpx.Response:
        ok = request.headers["APCA-API-SECRET-KEY"] in (SECRET, "N" * 40)
        return httpx.Response(200 if ok else 401, json={} if ok else {"message": "request is not authorized"})

    respx.get(f"{PAPER}/v2/account").mock(side_effect=account)
    clock = FakeClock(1_800_000_000)
    e, sleeps = engine(clock)
    legacy(e, "paper", Env.PAPER)
    with pytest.raises(RotationError) as ei:
        await e.rotate("paper", Secret("PKNEWKEY000000000000", secret="B" * 40), keep_old_for=HOUR)
    assert ei.value.result.attempts == 5 and len(sleeps.calls) == 4
    assert "old secret is still active" in ei.value.message
    assert (await e.request("paper", "GET", "/v2/account")).ok
    res = await e.rotate("paper", Secret("PKNEWKEY000000000000", secret="N" * 40), keep_old_for=HOUR)
    assert res.ok and res.previous_retire_at is not None
    assert (await e.profile("paper")).rotation_state == "overlap"
    await e.rollback("paper")
    p = await e.profile("paper")
    assert p.key_id_masked.startswith("PKAB")
    await e.aclose()


# -- hostile header / body values (found by the fuzz suite) ------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_retry_delay_ignores_non_finite_headers(value: str) -> None:
    assert retry_delay({"Retry-After": value}, 1000.0, attempt=0) == 1.0
    assert retry_delay({"X-RateLimit-Reset": value}, 1000.0, attempt=1) == 2.0


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", -5, 0])
def test_token_response_with_bad_lifetime_is_rejected(value: object) -> None:
    from alpaca_tui.core.oauth import parse_token_response

    assert parse_token_response({"access_token": "t", "expires_in": value}, now=1000.0, token_url="u") is None
    huge = parse_token_response({"access_token": "t", "expires_in": 1e300}, now=1000.0, token_url="u")
    assert huge is not None and huge.expires_at == 1000.0 + 86400


@pytest.mark.parametrize("reset", ["1e20", "inf", "nan", "-1"])
@respx.mock
async def test_429_with_bogus_reset_is_still_one_line(reset: str) -> None:
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(
        429, json={"message": "too many requests"}, headers={"X-RateLimit-Reset": reset}))
    e, sleeps = engine(max_retries=1)
    legacy(e, "paper", Env.PAPER)
    r = await e.request("paper", "GET", "/v2/account")
    assert r.error is not None and r.error.category is ErrorCategory.RATE_LIMITED
    assert "\n" not in str(r.error) and all(0 <= s <= 60 for s in sleeps.calls)
    await e.aclose()
