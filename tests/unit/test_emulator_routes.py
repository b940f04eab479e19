"""Walk every route of every host role's table (``routes.table(role)``) over real loopback
HTTP with valid credentials: each one answers from its own handler with a 2xx, never the 404 of
an unknown path, a 405, a 401/403 or a 500.

A new route needs sample path parameters (:data:`PARAM_NAMES` below) and, if it writes, a
sample body (:data:`BODIES`); the walk fails until it has them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.emulator import API_ROLES, ROLES, Emulator
from alpaca_tui.emulator import api as emu_api
from alpaca_tui.emulator.routes import table, tables
from alpaca_tui.emulator.routing import Route, RouteTable
from tests.emulator_fixtures import EMULATOR_START, legacy_headers

MARKET_OPEN = EMULATOR_START + 7 * 3600   # 2027-01-15 15:00 UTC, 10:00 in New York: orders fill

ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "10",
         "time_in_force": "day"}
# (kind, "METHOD /template") -> a valid body for every route that reads one.
BODIES: dict[tuple[str, str], Any] = {
    ("trading", "POST /v2/orders"): ORDER,
    ("broker", "POST /v1/accounts"): {"contact": {"email_address": "walk@example.com"}},
    ("broker", "POST /v1/accounts/{account_id}/transfers"): {"amount": "10", "direction": "INCOMING"},
    ("broker", "POST /v1/accounts/{account_id}/wallets/transfers"):
        {"address": "bc1qwalk", "asset": "BTC", "amount": "0.1"},
    ("broker", "POST /v1/journals"): {"entry_type": "JNLC", "amount": "5"},   # + both accounts
    ("broker", "POST /v1/trading/accounts/{account_id}/orders"): ORDER,
    ("broker", "POST /v1/rebalancing/portfolios"):
        {"name": "walk", "weights": [{"type": "cash", "percent": "100"}]},
    ("broker", "PATCH /v1/correspondents"): {"name": "walk"},
    ("broker", "PATCH /v1/correspondents/me"): {"name": "walk"},
    ("admin", "POST /admin/credentials"): {"env": "paper", "flow": "legacy"},
    ("admin", "POST /admin/credentials/{key_id}/revoke"): {},
    ("admin", "POST /admin/credentials/{key_id}/expire"): {},
    ("admin", "PUT /admin/credentials/{key_id}/expires-at"): {"expires_at": "2030-01-01T00:00:00Z"},
    ("admin", "PUT /admin/credentials/{key_id}/access"): {"access": "read-only"},
    ("admin", "PUT /admin/credentials/{key_id}/public-key"): None,   # the walk's own key
    ("admin", "POST /admin/counters/reset"): {},
    ("admin", "POST /admin/faults/latency"): {"role": "data", "seconds": 0},
    ("admin", "POST /admin/faults/fail"): {"role": "data", "n": 0},
    ("admin", "POST /admin/faults/drop"): {"role": "data", "n": 0},
    ("admin", "POST /admin/faults/clock-skew"): {"seconds": 0},
    ("admin", "POST /admin/faults/rate-limit"): {"role": "data", "per_minute": 500},
    ("admin", "POST /admin/faults/reset"): {},
    ("admin", "POST /admin/faults/{name}"): {},
}
# (kind, "METHOD /template") -> the query a route needs.
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("data", "GET /v2/stocks/bars/latest"): {"symbols": "AAPL,MSFT"},
    ("data", "GET /v2/stocks/quotes/latest"): {"symbols": "AAPL"},
    ("data", "GET /v1beta3/crypto/{loc}/latest/bars"): {"symbols": "BTC/USD"},
    ("data", "GET /v1beta3/crypto/{loc}/latest/quotes"): {"symbols": "BTC/USD,ETH/USD"},
}
# Routes whose correct answer is an error: the route's own, told apart from "no such path".
EXPECTED_ERRORS: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {
    ("admin", "POST /admin/faults/{name}"): (404, {"error": "unknown fault 'walk'"}),
}
PARAM_NAMES = {"account_id", "order_id", "symbol", "loc", "key_id", "env", "name"}

WALK = [(role, route.key) for role, tbl in tables().items() for route in tbl]


class World:
    """A started emulator at market open, a valid credential for each role, and the setup some
    routes need (an order to read or cancel, a position, a credential to manage)."""

    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu, self.http = emu, http
        self.pem = keys.generate_private_key("ES256")
        paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
        live = emu.create_credential(Env.LIVE, Flow.LEGACY)
        sandbox = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY, access=AccessMatrix.full())
        blive = emu.create_credential(Env.BROKER_LIVE, Flow.LEGACY, access=AccessMatrix.full())
        self.oauth = {"authx-sandbox": emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET),
                      "authx-live": emu.create_credential(Env.BROKER_LIVE, Flow.CLIENT_SECRET)}
        token = self.token("authx-sandbox")
        self.auth: dict[str, dict[str, str]] = {
            "trading-live": legacy_headers(live.key_id, live.secret),
            "trading-paper": legacy_headers(paper.key_id, paper.secret),
            "data": legacy_headers(paper.key_id, paper.secret),
            "data-sandbox": legacy_headers(sandbox.key_id, sandbox.secret),
            "broker-live": _basic(blive.key_id, blive.secret or ""),
            "broker-sandbox": {"Authorization": f"Bearer {token}"},
            "authx-live": {}, "authx-sandbox": {}, "admin": {},
        }

    def token(self, role: str) -> str:
        r = self.http.post(self.emu.urls[role] + "/v1/oauth2/token", data=self.token_form(role))
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def token_form(self, role: str) -> dict[str, str]:
        cred = self.oauth[role]
        return {"grant_type": "client_credentials", "client_id": cred.key_id,
                "client_secret": cred.secret or ""}

    def call(self, role: str, method: str, path: str, body: Any = None,
             query: dict[str, str] | None = None) -> httpx.Response:
        kw: dict[str, Any] = {"json": body} if body is not None else {}
        return self.http.request(method, self.emu.urls[role] + path, headers=self.auth[role], params=query,
                                 **kw)

    def params(self, role: str, route: Route) -> dict[str, str]:
        """Sample values for the route's path parameters, created fresh on the emulator."""
        out: dict[str, str] = {"symbol": "AAPL", "loc": "us", "env": "paper", "name": "walk"}
        kind = table(role).kind
        if kind == "broker":
            out["account_id"] = next(iter(self.emu.book.broker[role]))
        if kind == "trading":
            placed = self.call(role, "POST", "/v2/orders", ORDER)
            bought = self.call(role, "POST", "/v2/orders", {**ORDER, "type": "market", "limit_price": None})
            assert placed.status_code == 200 and bought.json()["status"] == "filled", bought.text
            out["order_id"] = placed.json()["id"]
        if kind == "admin":
            out["key_id"] = self.emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT).key_id
        return out

    def body(self, role: str, route: Route, params: dict[str, str]) -> Any:
        kind = table(role).kind
        if kind == "authx":
            return None
        body = BODIES.get((kind, route.key))
        if route.key == "POST /v1/journals":
            body = {**body, "from_account": params["account_id"], "to_account": params["account_id"]}
        if route.key.endswith("/public-key"):
            body = {"public_key": keys.public_key_pem(self.pem)}
        return body


def _basic(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


@pytest.fixture
def world() -> Iterator[World]:
    with Emulator(clock=FakeClock(MARKET_OPEN)) as emu, httpx.Client(timeout=10) as http:
        yield World(emu, http)


def _route(role: str, key: str) -> Route:
    return next(r for r in table(role) if r.key == key)


@pytest.mark.parametrize(("role", "key"), WALK, ids=[f"{role} {key}" for role, key in WALK])
def test_every_route_answers_with_valid_auth(world: World, role: str, key: str) -> None:
    route = _route(role, key)
    kind = table(role).kind
    assert set(route.params) <= PARAM_NAMES, f"{route.key}: give the walk a sample for its parameters"
    if route.method in ("POST", "PUT", "PATCH") and kind != "authx":
        assert (kind, route.key) in BODIES, f"{route.key}: give the walk a sample body"
    params = world.params(role, route)
    path = route.fill(params)
    assert table(role).match(route.method, path).route is route, f"{path} is served by another route"
    if kind == "authx":
        r = world.http.request(route.method, world.emu.urls[role] + path, data=world.token_form(role))
    else:
        r = world.call(role, route.method, path, world.body(role, route, params),
                       QUERIES.get((kind, route.key)))
    expected = EXPECTED_ERRORS.get((kind, route.key))
    if expected is not None:
        assert (r.status_code, r.json()) == expected, r.text
        return
    assert 200 <= r.status_code < 300, f"{role} {route.method} {path}: {r.status_code} {r.text[:300]}"
    assert "x-emulator-reason" not in r.headers


def test_the_walk_tells_an_unknown_path_from_a_route(world: World) -> None:
    """The walk's success criterion discriminates: paths and methods outside the table fail."""
    assert world.call("trading-paper", "GET", "/v2/no-such-route").status_code == 404
    assert world.call("trading-paper", "PATCH", "/v2/account").status_code == 405
    assert world.call("broker-sandbox", "GET", "/v2/account").status_code == 404   # a trading path
    assert world.call("admin", "GET", "/admin/no-such-route").status_code == 404
    r = world.http.get(world.emu.urls["authx-sandbox"] + "/v1/oauth2/token")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_tables_cover_every_role_and_share_routes_per_kind() -> None:
    all_tables = tables()
    assert list(all_tables) == list(ROLES)
    assert all(isinstance(t, RouteTable) and t.role == r and len(t) for r, t in all_tables.items())
    assert table("trading-live").routes is table("trading-paper").routes
    assert table("broker-live").routes is table("broker-sandbox").routes
    assert [r.key for r in table("authx-live")] == ["POST /v1/oauth2/token"]
    api_roles = [role for role in API_ROLES if table(role).kind != "authx"]
    assert set(emu_api.ROUTES) == {r for role in api_roles for r in table(role)}
    with pytest.raises(ValueError, match="unknown emulator role"):
        table("nope")


def test_broker_routes_carry_scope_and_level() -> None:
    levels = {(r.method, r.scope, r.level) for r in table("broker-sandbox") if r.scope is not None}
    assert all(lv is (Level.RO if m == "GET" else Level.RW) for m, _s, lv in levels)
    unscoped = [r.key for r in table("broker-sandbox") if r.scope is None]
    assert unscoped == ["GET /v1/assets"]   # reference data
    assert {r.scope for r in table("broker-sandbox")} - {None} == set(Scope) - {Scope.DATA}
    assert all(r.scope is Scope.DATA for r in table("data"))
    assert emu_api.scope_for("broker", "POST", "/v1/accounts/x/transfers") is Scope.FUNDING
    assert emu_api.scope_for("broker", "HEAD", "/v1/journals/") is Scope.JOURNALING
    assert emu_api.scope_for("broker", "GET", "/v1/nowhere") is None


def test_route_templates_match_like_alpacas_paths() -> None:
    asset = _route("trading-paper", "GET /v2/assets/{symbol}")
    assert asset.match("/v2/assets/BTC/USD") == {"symbol": "BTC/USD"}
    assert asset.match("/v2/assets/AAPL/") == {"symbol": "AAPL"}
    assert asset.match("/v2/assets/AAPL//") is None
    position = _route("trading-paper", "GET /v2/positions/{symbol}")
    assert position.match("/v2/positions/BTC/USD") is None
    assert position.fill({"symbol": "MSFT"}) == "/v2/positions/MSFT"
    with pytest.raises(KeyError, match=r"needs a value for \{symbol\}"):
        position.fill({})
    m = table("broker-sandbox").match("GET", "/v1/accounts/activities")
    assert m.route is not None and m.route.key == "GET /v1/accounts/activities"   # before {account_id}
    assert table("trading-paper").match("HEAD", "/v2/clock").route is not None
    assert table("admin").match("HEAD", "/admin/health").route is None
    assert table("admin").match("GET", "/admin/health///").route is not None
    with pytest.raises(ValueError, match="duplicate routes"):
        RouteTable("x", "trading", (asset, asset))
