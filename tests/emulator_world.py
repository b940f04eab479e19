"""A started emulator at market open with a valid credential for every host role, and what each
route needs to answer 2xx: sample path parameters created fresh on the emulator (an open order,
a filled position, a watchlist, an ACH relationship, a queued transfer, a pending journal ...),
a sample body for every route that reads one, and the query some routes need.

Used by the route walk (``tests/unit/test_emulator_routes.py``) and the spec tests
(``tests/e2e/test_emulator_spec.py``). A new route needs its parameters here (``PARAM_NAMES``
and :meth:`World.params`) and, if it reads a body, an entry in ``BODIES``.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator import Emulator
from alpaca_tui.emulator.routes import table
from alpaca_tui.emulator.routing import Route
from tests.emulator_fixtures import EMULATOR_START, legacy_headers

MARKET_OPEN = EMULATOR_START + 7 * 3600   # 2027-01-15 15:00 UTC, 10:00 in New York: orders fill

ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "10",
         "time_in_force": "day"}
BUY = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}
COID = "walk-order"
ACH = {"account_owner_name": "Walk Er", "bank_account_type": "CHECKING", "bank_account_number": "32131231abc",
       "bank_routing_number": "121000358", "nickname": "Checking"}
PENDING = "/fixtures/status=pending/"
WATCHLIST = {"name": "walk", "symbols": ["AAPL"]}
_TA = "/v1/trading/accounts/{account_id}"
_WL = "/watchlists/{watchlist_id}"

# (kind, "METHOD /template") -> a valid body for every route that reads one.
BODIES: dict[tuple[str, str], Any] = {
    ("trading", "POST /v2/orders"): ORDER,
    ("trading", "PATCH /v2/account/configurations"): {"no_shorting": True, "trade_confirm_email": "none"},
    ("trading", "PATCH /v2/orders/{order_id}"): {"qty": "2", "limit_price": "11"},
    ("trading", "POST /v2/watchlists"): {"name": "walk2", "symbols": ["AAPL", "BTC/USD"]},
    ("trading", "POST /v2/watchlists:by_name"): {"symbol": "MSFT"},
    ("trading", "PUT /v2/watchlists:by_name"): {"name": "walk", "symbols": ["AAPL", "MSFT"]},
    ("trading", "POST /v2" + _WL): {"symbol": "MSFT"},
    ("trading", "PUT /v2" + _WL): {"name": "walk", "symbols": ["SPY"]},
    ("broker", "POST /v1/accounts"): {"contact": {"email_address": "walk@example.com"},
                                      "identity": {"given_name": "Walk", "family_name": "Er"}},
    ("broker", "PATCH /v1/accounts/{account_id}"): {"contact": {"city": "Oakland"}},
    ("broker", "POST /v1/accounts/{account_id}/actions/close"): {},
    ("broker", "POST /v1/accounts/{account_id}/ach_relationships"): ACH,
    ("broker", "POST /v1/accounts/{account_id}/transfers"):
        {"transfer_type": "ach", "amount": "10", "direction": "INCOMING", "timing": "immediate"},
    ("broker", "POST /v1/accounts/{account_id}/wallets/transfers"):
        {"address": "bc1qwalk", "asset": "BTC", "amount": "0.1"},
    ("broker", "POST /v1/journals"): {"entry_type": "JNLC", "amount": "5"},   # + both accounts
    ("broker", "POST " + _TA + "/orders"): ORDER,
    ("broker", "PATCH " + _TA + "/orders/{order_id}"): {"qty": "2"},
    ("broker", "PATCH " + _TA + "/account/configurations"): {"fractional_trading": False},
    ("broker", "POST " + _TA + "/watchlists"): {"name": "walk2", "symbols": ["AAPL"]},
    ("broker", "POST " + _TA + _WL): {"symbol": "MSFT"},
    ("broker", "PUT " + _TA + _WL): {"name": "walk", "symbols": ["SPY"]},
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
    ("admin", "POST /admin/faults/retry-after"): {"enabled": True},
    ("admin", "POST /admin/faults/revoked-error"): {"error": "token_inactive"},
    ("admin", "POST /admin/faults/reset"): {},
    ("admin", "POST /admin/faults/{name}"): {},
}
_SINCE = {"since": "2027-01-01"}
# (kind, "METHOD /template") -> the query a route needs.
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("trading", "GET /v2/orders:by_client_order_id"): {"client_order_id": COID},
    **{("trading", f"{m} /v2/watchlists:by_name"): {"name": "walk"}
       for m in ("GET", "POST", "PUT", "DELETE")},
    ("trading", "GET /v2/orders"): {"status": "all"},
    **{("data", f"GET /v2/stocks/{p}"): {"symbols": "AAPL,MSFT"} for p in (
        "bars/latest", "quotes/latest", "trades/latest", "trades", "quotes", "snapshots")},
    ("data", "GET /v2/stocks/bars"): {"symbols": "AAPL,MSFT", "timeframe": "5Min"},
    ("data", "GET /v2/stocks/{symbol}/bars"): {"timeframe": "1Min", "limit": "10"},
    **{("data", f"GET /v1beta3/crypto/{{loc}}/{p}"): {"symbols": "BTC/USD,ETH/USD"} for p in (
        "latest/bars", "latest/quotes", "latest/trades", "trades", "quotes", "snapshots")},
    ("data", "GET /v1beta3/crypto/{loc}/bars"): {"symbols": "BTC/USD", "timeframe": "1Hour"},
    **{("broker", f"GET {path}"): _SINCE for path in (
        "/v1/events/accounts/status", "/v1/events/transfers/status", "/v1/events/journals/status",
        "/v1/events/trades", "/v1/events/nta", "/v2/events/system", "/v2/events/journals/status",
        "/v2/events/trades", "/v2/events/admin-actions", "/v2/events/funding/status")},
}
# Routes whose correct answer is an error: the route's own, told apart from "no such path".
EXPECTED_ERRORS: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {
    ("admin", "POST /admin/faults/{name}"): (404, {"error": "unknown fault 'walk'"}),
}
PARAM_NAMES = {"account_id", "order_id", "symbol", "loc", "key_id", "env", "name", "activity_type",
               "watchlist_id", "ach_relationship_id", "transfer_id", "journal_id"}


def _basic(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


class World:
    """A started emulator at market open, a valid credential for each role, and the setup some
    routes need."""

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

    def ok(self, role: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        r = self.call(role, method, path, body)
        assert 200 <= r.status_code < 300, f"setup {method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else {}

    def params(self, role: str, route: Route) -> dict[str, str]:
        """Sample values for the route's path parameters (and its query's objects), created fresh."""
        out: dict[str, str] = {"symbol": "AAPL", "loc": "us", "env": "paper", "name": "walk",
                               "activity_type": "FILL"}
        kind = table(role).kind
        if kind == "broker":
            out["account_id"] = next(iter(self.emu.book.broker[role]))
        base = {"trading": "/v2", "broker": f"/v1/trading/accounts/{out.get('account_id')}"}.get(kind, "")
        wants = set(route.params) | ({"watchlist_id"} if ":by_name" in route.path else set())
        if kind in ("trading", "broker") and ({"order_id", "symbol"} & wants or "activit" in route.path
                                             or ":by_client" in route.path or "events" in route.path):
            placed = self.ok(role, "POST", base + "/orders", {**ORDER, "client_order_id": COID})
            out["order_id"] = placed["id"]
            bought = self.ok(role, "POST", base + "/orders", BUY)
            assert bought["status"] == "filled", bought
        if "watchlist_id" in wants:
            out["watchlist_id"] = self.ok(role, "POST", base + "/watchlists", WATCHLIST)["id"]
        if kind == "broker":
            self._broker_params(role, route, out)
        if kind == "admin":
            out["key_id"] = self.emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT).key_id
        return out

    def _broker_params(self, role: str, route: Route, out: dict[str, str]) -> None:
        acct = f"/v1/accounts/{out['account_id']}"
        if "ach_relationship_id" in route.params:
            out["ach_relationship_id"] = self.ok(role, "POST", acct + "/ach_relationships", ACH)["id"]
        if "transfer_id" in route.params:
            out["transfer_id"] = self.ok(role, "POST", acct + "/transfers", {
                "transfer_type": "ach", "amount": "5", "direction": "OUTGOING"})["id"]
        if "journal_id" in route.params or "events" in route.path:
            other = self.ok(role, "POST", "/v1/accounts", {"contact": {"email_address": "j@example.com"}})
            note = PENDING if "journal_id" in route.params else ""
            out["journal_id"] = self.ok(role, "POST", "/v1/journals", {
                "entry_type": "JNLC", "amount": "5", "from_account": out["account_id"],
                "to_account": other["id"], "description": note})["id"]
        if "events" in route.path or "activities" in route.path:
            self.ok(role, "POST", acct + "/transfers", {"transfer_type": "ach", "amount": "7",
                                                        "direction": "INCOMING"})

    def body(self, role: str, route: Route, params: dict[str, str]) -> Any:
        kind = table(role).kind
        if kind == "authx":
            return None
        body = BODIES.get((kind, route.key))
        if route.key == "POST /v1/journals":
            other = next(a for a in self.emu.book.broker[role] if a != params["account_id"]) \
                if len(self.emu.book.broker[role]) > 1 else params["account_id"]
            body = {**body, "from_account": params["account_id"], "to_account": other}
        if route.key.endswith("/public-key"):
            body = {"public_key": keys.public_key_pem(self.pem)}
        return body

    def request(self, role: str, route: Route) -> httpx.Response:
        """The route called with its samples (valid auth, params, body, query)."""
        params = self.params(role, route)
        path = route.fill(params)
        assert table(role).match(route.method, path).route is route, f"{path} is served by another route"
        if table(role).kind == "authx":
            return self.http.request(route.method, self.emu.urls[role] + path, data=self.token_form(role))
        return self.call(role, route.method, path, self.body(role, route, params),
                         QUERIES.get((table(role).kind, route.key)))
