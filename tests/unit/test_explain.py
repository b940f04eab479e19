"""core/explain.py: every Alpaca and AuthX error code has a cause and a fix, and the engine's
error mapping (api_error, token_error, the pre-flight) attaches them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alpaca_tui.core.api import api_error
from alpaca_tui.core.auth.endpoint import token_error
from alpaca_tui.core.credentials import Flow, Profile, Secret
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.explain import (
    ALPACA_CODES,
    AUTHX_CODES,
    MALFORMED_HEADERS,
    SUBSCRIPTION,
    Explanation,
    explain_api,
    explain_authx,
    field_names,
)
from alpaca_tui.core.http import ErrorCategory
from alpaca_tui.core.oauth import OAUTH_HINTS

AUTHX = Path(__file__).resolve().parents[2] / "assets" / "openapi" / "authx.json"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def authx_codes() -> list[str]:
    doc = json.loads(AUTHX.read_text(encoding="utf-8"))
    codes: list[str] = doc["components"]["schemas"]["error_code"]["enum"]
    return codes


def test_every_authx_error_code_has_an_explanation_and_no_other() -> None:
    codes = authx_codes()
    assert len(codes) == 32
    missing = sorted(set(codes) - set(AUTHX_CODES))
    assert not missing, f"AuthX error codes without a cause/fix in core/explain.py: {missing}"
    assert sorted(AUTHX_CODES) == sorted(codes), "core/explain.py explains codes authx.json does not list"
    assert OAUTH_HINTS == {c: e.hint for c, e in AUTHX_CODES.items()}  # the old hint table draws on it


@pytest.mark.parametrize("explanation", [*ALPACA_CODES.values(), *AUTHX_CODES.values(), SUBSCRIPTION,
                                         MALFORMED_HEADERS], ids=lambda e: e.code)
def test_each_explanation_is_one_cause_line_and_one_fix_line(explanation: Explanation) -> None:
    for text in (explanation.hint, explanation.cause, explanation.fix):
        assert text and "\n" not in text and text == text.strip() and len(text) < 300
    assert explanation.cause != explanation.fix
    assert explanation.lines() == [f"cause: {explanation.cause}", f"fix:   {explanation.fix}"]
    named = explanation.named("bx")
    assert "NAME" not in named.cause + named.fix + named.hint


def _body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def test_alpaca_codes_name_their_usual_causes() -> None:
    unauthorized = explain_api(401, _body(40110000, "request is not authorized"), "request is not authorized")
    assert unauthorized is ALPACA_CODES["40110000"]
    for cause in ("paper key used on live", "wrong host", "revoked"):
        assert cause in unauthorized.cause
    forbidden = explain_api(403, _body(40310000, "forbidden"), "forbidden")
    assert forbidden is ALPACA_CODES["40310000"]
    assert "scope" in forbidden.cause and "account's status" in forbidden.cause
    assert explain_api(401, None, None) is unauthorized               # the status alone
    assert explain_api(404, _body(40410000, "not found"), "not found") is ALPACA_CODES["40410000"]


def test_a_data_subscription_limit_is_told_apart_from_an_auth_error() -> None:
    sip = "subscription does not permit querying recent SIP data"
    assert explain_api(403, {"message": sip}, sip) is SUBSCRIPTION
    assert explain_api(422, _body(42210000, "invalid feed"), "invalid feed", data_host=True) is SUBSCRIPTION
    generic = explain_api(422, _body(42210000, "invalid symbol"), "invalid symbol")
    assert generic is ALPACA_CODES["42210000"] and generic is not SUBSCRIPTION
    assert "feed=iex" in SUBSCRIPTION.fix and "not a credential problem" in SUBSCRIPTION.hint


def test_rate_limits_and_malformed_headers() -> None:
    assert explain_api(429, None, "too many requests") is ALPACA_CODES["429"]
    assert explain_api(429, _body(42910000, "rate limit exceeded"), "x") is ALPACA_CODES["42910000"]
    assert "X-RateLimit-Reset" in ALPACA_CODES["429"].fix
    assert explain_api(403, {"message": "forbidden."}, "forbidden.") is MALFORMED_HEADERS
    assert explain_api(500, None, "boom") is None


def test_invalid_request_names_its_fields() -> None:
    ex = explain_authx("invalid_request", ["client_id"])
    assert ex is not None and "(fields: client_id)" in ex.cause and "20-32 upper-case" in ex.fix
    odd = field_names({"error": "invalid_request", "fields": [{"name": "x\x1b[31mevil"}, {"nope": 1}, "z"]})
    assert odd == ["x31mevil"]
    assert explain_authx("no_such_code") is None and explain_authx(None) is None


def _profile(env: Env = Env.BROKER_SANDBOX, flow: Flow = Flow.CLIENT_SECRET) -> Profile:
    return Profile("bx", env, flow, "CK…")


def _api_error(status: int, body: Any, *, api: Api = Api.BROKER, env: Env = Env.BROKER_SANDBOX,
               path: str = "/v1/accounts") -> Any:
    text = json.dumps(body)
    return api_error(_profile(env), Secret("CK0000000000000000000001", secret="s" * 40), api, "GET", path,
                     status, {"x-request-id": "r1"}, body, text, [], attempts=1, now=NOW)


def test_api_error_attaches_the_explanation() -> None:
    err = _api_error(401, _body(40110000, "request is not authorized"))
    assert err.explanation == ALPACA_CODES["40110000"].named("bx")
    doc = err.to_dict()
    assert doc["cause"] == err.explanation.cause and doc["fix"] == err.explanation.fix
    sip = _api_error(403, {"message": "subscription does not permit querying recent SIP data"},
                     api=Api.DATA, path="/v2/stocks/AAPL/bars")
    assert sip.category is ErrorCategory.FORBIDDEN and sip.explanation == SUBSCRIPTION
    assert "not a credential problem" in sip.message
    malformed = _api_error(403, {"message": "forbidden."}, env=Env.PAPER, api=Api.TRADING, path="/v2/account")
    assert malformed.explanation == MALFORMED_HEADERS.named("bx")
    assert "malformed auth headers" in malformed.message
    assert _api_error(503, {"message": "down"}).explanation is None


@pytest.mark.parametrize("code", authx_codes())
def test_token_error_explains_every_authx_code(code: str) -> None:
    body: dict[str, Any] = {"error": code}
    if code == "invalid_request":
        body["fields"] = [{"name": "client_secret"}]
    resp = httpx.Response(400 if code != "invalid_client" else 401, json=body)
    err = token_error(_profile(), Secret("CK0000000000000000000001", secret="s" * 40), resp, body, [],
                      now=NOW.timestamp())
    expected = explain_authx(code, field_names(body))
    assert expected is not None and err.explanation == expected.named("bx")
    assert err.to_dict()["cause"] == err.explanation.cause
    if code == "invalid_request":
        assert "client_secret" in err.explanation.cause and "128 characters" in err.explanation.fix


def test_token_error_without_a_code_falls_back_to_the_status() -> None:
    resp = httpx.Response(429, text="slow down")
    err = token_error(_profile(), Secret("CK0000000000000000000001", secret="s" * 40), resp, None, [],
                      now=NOW.timestamp())
    assert err.category is ErrorCategory.RATE_LIMITED and err.explanation is not None
    assert err.explanation.code == "429"
