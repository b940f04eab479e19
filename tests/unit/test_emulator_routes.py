"""Walk every route of every host role's table (``routes.table(role)``) over real loopback
HTTP with valid credentials: each one answers from its own handler with a 2xx, never the 404 of
an unknown path, a 405, a 401/403 or a 500.

A new route needs sample path parameters (``PARAM_NAMES`` and ``World.params`` in
``tests/emulator_world.py``) and, if it writes, a sample body (``BODIES`` there); the walk fails
until it has them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.emulator import API_ROLES, ROLES, Emulator
from alpaca_tui.emulator import api as emu_api
from alpaca_tui.emulator.routes import table, tables
from alpaca_tui.emulator.routing import Route, RouteTable
from tests.emulator_fixtures import http_client
from tests.emulator_world import BODIES, EXPECTED_ERRORS, MARKET_OPEN, PARAM_NAMES, QUERIES, World

WALK = [(role, route.key) for role, tbl in tables().items() for route in tbl]


@pytest.fixture
def world() -> Iterator[World]:
    with Emulator(clock=FakeClock(MARKET_OPEN)) as emu, http_client(timeout=10) as http:
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
    # reference data (the spec's assets, clock and calendar; the list grew with the spec routes)
    assert unscoped == ["GET /v1/assets", "GET /v1/assets/{symbol}", "GET /v1/clock", "GET /v1/calendar"]
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
    # the spec: crypto pairs by slash (BTC/USD, or encoded BTC%2FUSD) or old symbology (BTCUSD)
    assert position.match("/v2/positions/BTC/USD") == {"symbol": "BTC/USD"}
    assert position.match("/v2/positions/BTC%2FUSD") == {"symbol": "BTC/USD"}
    assert position.match("/v2/positions/BTC/USD/x") is None
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
