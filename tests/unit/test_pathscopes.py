"""core.pathscopes: which broker scope a route needs, and the engine's pre-flight built on it."""

from __future__ import annotations

import pytest

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.engine import infer_api, scope_preflight
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.http import ErrorCategory
from alpaca_tui.core.pathscopes import Kind, normalize_path, required_scope
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope

ACC = "b7c3f6a0-1111-2222-3333-444455556666"


@pytest.mark.parametrize(("method", "path", "scope", "write"), [
    ("GET", "/v1/accounts", Scope.ACCOUNTS, False),
    ("POST", "/v1/accounts", Scope.ACCOUNTS, True),
    ("PATCH", f"/v1/accounts/{ACC}", Scope.ACCOUNTS, True),
    ("GET", f"/v1/accounts/{ACC}?x=1", Scope.ACCOUNTS, False),
    ("GET", f"/v1/accounts/{ACC}/transfers", Scope.FUNDING, False),
    ("POST", f"/v1/accounts/{ACC}/transfers", Scope.FUNDING, True),
    # Was GET /v1/transfers: not in the Broker API 1.1.1 (test_paths_alpaca_does_not_have)
    ("GET", "/v1/transfers/jit/ledgers", Scope.FUNDING, False),
    ("POST", f"/v1/accounts/{ACC}/ach_relationships", Scope.FUNDING, True),
    ("DELETE", f"/v1/accounts/{ACC}/recipient_banks/abc", Scope.FUNDING, True),
    ("POST", "/v1/journals", Scope.JOURNALING, True),
    ("GET", "/v1/journals/abc", Scope.JOURNALING, False),
    ("POST", f"/v1/trading/accounts/{ACC}/orders", Scope.TRADING, True),
    ("GET", f"/v1/trading/accounts/{ACC}/positions", Scope.TRADING, False),
    ("GET", f"/v1/trading/accounts/{ACC}/account", Scope.TRADING, False),
    ("POST", "/v1/rebalancing/portfolios", Scope.REBALANCING, True),
    ("GET", "/v1/events/accounts/status", Scope.SSE_EVENTS, False),
    ("GET", "/v2/events/trades", Scope.SSE_EVENTS, False),
    ("GET", f"/v1/accounts/{ACC}/wallets", Scope.CRYPTO, False),
    ("POST", f"/v1/accounts/{ACC}/wallets/transfers", Scope.CRYPTO, True),
    ("GET", f"/v1/accounts/{ACC}/documents", Scope.REPORTING, False),
    ("GET", "/v1/accounts/activities", Scope.REPORTING, False),
    ("GET", "/v1/accounts/activities/FILL", Scope.REPORTING, False),
    # Was /v1/reports/daily, /v1/correspondents/config, PATCH /v1/admin/settings, PUT /v1/config/x:
    # paths Alpaca's Broker API 1.1.1 does not have (assets/openapi/broker-api.json; see
    # test_paths_alpaca_does_not_have); the same scopes on the spec's own paths:
    ("GET", "/v1/reporting/eod/positions", Scope.REPORTING, False),
    ("GET", "/v1/oauth/clients/abc", Scope.ADMIN, False),
    ("POST", "/v1/oauth/authorize", Scope.ADMIN, True),
    ("POST", "/v1/oauth/token", Scope.ADMIN, True),
    ("GET", "/v1/accounts/", Scope.ACCOUNTS, False),
    ("get", "//v1//journals/", Scope.JOURNALING, False),
])
def test_broker_routes(method: str, path: str, scope: Scope, write: bool) -> None:
    assert required_scope(Api.BROKER, method, path).need == (scope, write)


def test_data_host_needs_data_scope_and_trading_has_none() -> None:
    assert required_scope(Api.DATA, "GET", "/v2/stocks/AAPL/bars/latest").need == (Scope.DATA, False)
    assert required_scope(Api.TRADING, "POST", "/v2/orders").need is None
    assert required_scope(Api.AUTH, "POST", "/v1/oauth2/token").need is None
    assert required_scope(Api.TRADING, "POST", "/v2/orders").kind is Kind.NO_MATRIX


@pytest.mark.parametrize("path", ["/v1/assets", "/v1/calendar", "/v1/clock", "/v1/accountsx"])
def test_unscoped_broker_paths(path: str) -> None:
    assert required_scope(Api.BROKER, "GET", path).need is None
    kind = Kind.UNKNOWN if path == "/v1/accountsx" else Kind.REFERENCE
    assert required_scope(Api.BROKER, "GET", path).kind is kind


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/reports/daily"), ("GET", "/v1/correspondents/config"), ("PATCH", "/v1/admin/settings"),
    ("PUT", "/v1/config/x"), ("GET", "/v1/statements"), ("GET", "/v1/documents"), ("GET", "/v1/transfers"),
])
def test_paths_alpaca_does_not_have(method: str, path: str) -> None:
    """The old table's invented paths are unknown now: a write is refused, a read warned about."""
    assert required_scope(Api.BROKER, method, path).kind is Kind.UNKNOWN


def test_normalize_path() -> None:
    assert normalize_path("v1/accounts/?q=1#x") == "/v1/accounts"
    assert normalize_path("/") == "/"


def test_infer_api() -> None:
    assert infer_api(Env.PAPER, "/v2/account") is Api.TRADING
    assert infer_api(Env.PAPER, "/v2/stocks/AAPL/bars/latest") is Api.DATA
    assert infer_api(Env.LIVE, "/v1beta3/crypto/us/latest/bars") is Api.DATA
    assert infer_api(Env.BROKER_SANDBOX, "/v1/accounts") is Api.BROKER
    assert infer_api(Env.BROKER_LIVE, "/v2/stocks/bars") is Api.DATA


def _broker(levels: dict[Scope, Level]) -> Profile:
    return Profile("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK…", access=AccessMatrix(levels))


def test_preflight_refuses_write_with_read_only_and_names_scope() -> None:
    p = _broker({Scope.FUNDING: Level.RO, Scope.ACCOUNTS: Level.RW})
    err = scope_preflight(p, Api.BROKER, "POST", f"/v1/accounts/{ACC}/transfers")
    assert err is not None
    assert err.category is ErrorCategory.FORBIDDEN_SCOPE
    assert "Funding (read-write)" in err.message and "read-only" in err.message and "bx" in err.message
    assert err.status is None
    assert scope_preflight(p, Api.BROKER, "GET", f"/v1/accounts/{ACC}/transfers") is None
    assert scope_preflight(p, Api.BROKER, "POST", "/v1/accounts") is None
    none = scope_preflight(p, Api.BROKER, "GET", "/v1/journals")
    assert none is not None and "Journaling" in none.message and "no access" in none.message


def test_preflight_ignores_trading_keys() -> None:
    p = Profile("paper", Env.PAPER, Flow.LEGACY, "PK…", access=AccessMatrix({}))
    assert scope_preflight(p, Api.TRADING, "POST", "/v2/orders") is None
    assert scope_preflight(p, Api.DATA, "GET", "/v2/stocks/AAPL/bars/latest") is None
