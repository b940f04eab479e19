"""The emulator's answers to a missing, malformed or non-object JSON body on every route that
reads one (Alpaca's 400 ``{"code":40010001,...}``; 422 where a field check comes first)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix
from tests import emulator_fixtures as fx
from tests.emulator_fixtures import http_client, legacy_headers

emulator = fx.emulator
emulator_clock = fx.emulator_clock

MISSING = {"code": 40010001, "message": "request body is required"}
INVALID = {"code": 40010001, "message": "request body format is invalid"}
NOT_OBJECT = {"code": 40010001, "message": "request body must be a JSON object"}
ACCT = "/v1/accounts/{account}"  # the sandbox's first customer account

# (role, method, path, answer to a JSON array: (status, body or None to skip the body check))
ROUTES: list[tuple[str, str, str, tuple[int, dict[str, Any] | None]]] = [
    ("trading-paper", "POST", "/v2/orders", (422, None)),
    ("broker-sandbox", "POST", "/v1/accounts", (400, NOT_OBJECT)),
    ("broker-sandbox", "POST", ACCT + "/transfers", (400, NOT_OBJECT)),
    ("broker-sandbox", "POST", "/v1/journals", (400, NOT_OBJECT)),
    ("broker-sandbox", "POST", "/v1/rebalancing/portfolios",
     (422, {"code": 40010001, "message": "name is required"})),
    ("broker-sandbox", "POST", ACCT + "/wallets/transfers",
     (422, {"code": 40010001, "message": "amount, address and asset are required"})),
    ("broker-sandbox", "PATCH", "/v1/correspondents/me", (400, NOT_OBJECT)),
]


@pytest.fixture
def auth(emulator: Any) -> dict[str, dict[str, str]]:
    paper = emulator.create_credential(Env.PAPER, Flow.LEGACY)
    broker = emulator.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY, access=AccessMatrix.full())
    basic = base64.b64encode(f"{broker.key_id}:{broker.secret}".encode()).decode()
    return {"trading-paper": legacy_headers(paper.key_id, paper.secret),
            "broker-sandbox": {"Authorization": f"Basic {basic}"}}


@pytest.mark.parametrize(("role", "method", "path", "array_answer"), ROUTES)
def test_bad_bodies_get_alpaca_errors(emulator: Any, auth: dict[str, dict[str, str]], role: str, method: str,
                                      path: str, array_answer: tuple[int, dict[str, Any] | None]) -> None:
    headers = {**auth[role], "Content-Type": "application/json"}
    with http_client(timeout=5) as http:
        accounts = http.get(emulator.urls["broker-sandbox"] + "/v1/accounts", headers=auth["broker-sandbox"])
        url = emulator.urls[role] + path.format(account=accounts.json()[0]["id"])
        for content, status, body in ((b"", 400, MISSING), (b"  \n", 400, MISSING),
                                      (b"{not json", 400, INVALID), (b"\xff\xfe", 400, INVALID),
                                      (b"[1, 2]", *array_answer)):
            r = http.request(method, url, content=content, headers=headers)
            assert r.status_code == status, (content, r.text)
            if body is not None:
                assert r.json() == body, content
