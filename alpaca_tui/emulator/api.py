"""Trading, Market Data and Broker routes: authentication, the scope matrix, rate limits and
Alpaca-shaped answers (alpaca-auth.md §1, §3).

Authentication
  * Legacy keys: ``APCA-API-KEY-ID`` + ``APCA-API-SECRET-KEY`` headers or HTTP Basic
    ``key:secret`` (trading, data, broker). OAuth (client-secret / private-key-jwt)
    credentials cannot authenticate this way: they get the plain 401 reported for Basic
    auth with "Client Secret" broker credentials (alpaca-py #649).
  * ``Authorization: Bearer <authx token>`` on broker and data hosts only (data-sandbox
    for broker sandbox; production data for broker live).
  * Missing or invalid credentials, a key of another environment (paper on live...), an
    expired or revoked credential, an expired token: Alpaca's 401 ``{"code":40110000,
    "message":"request is not authorized"}``. Whether Alpaca words the expired case
    differently is UNCONFIRMED; the body stays the same and the emulator-only header
    ``X-Emulator-Reason`` says why (debugging aid; the app must not depend on it).
  * Headers sent with underscores (``APCA_API_KEY_ID``): 403 ``{"message":"forbidden."}``
    (Alpaca-API #228).

Scopes
  Broker credentials carry a 10-scope access matrix; :data:`ROUTES` is the one table that
  maps each path to the scope it needs (Alpaca publishes no such table, so the grouping is
  our reading of the Broker API reference: UNCONFIRMED). No access -> 403 ``{"code":
  40310000, ...}``; read-only -> 403 on POST/PUT/PATCH/DELETE. The message starts with
  Alpaca's "forbidden" and names the scope (Alpaca's exact wording is UNCONFIRMED).
  Data-host requests by broker credentials need the Data scope. Trading keys have no matrix.

Every answer carries ``X-Request-ID`` and ``X-RateLimit-Limit/Remaining/Reset`` (epoch s);
beyond the per-key, per-minute limit: 429 ``{"code":42910000,...}`` with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.emulator import market
from alpaca_tui.emulator.roles import (
    BROKER_LIVE,
    BROKER_SANDBOX,
    ROLE_ENVS,
    ROLE_KIND,
    TRADING_LIVE,
    TRADING_PAPER,
)
from alpaca_tui.emulator.state import Credential
from alpaca_tui.emulator.wire import Reply, Request, alpaca_error, unauthorized

if TYPE_CHECKING:
    from alpaca_tui.emulator.server import Emulator

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Principal:
    cred: Credential
    via: str          # "headers" | "basic" | "bearer"


@dataclass
class Ctx:
    emu: Emulator
    req: Request
    principal: Principal | None
    params: dict[str, str]
    now: float


Handler = Callable[[Ctx], Reply]


@dataclass(frozen=True)
class Route:
    kind: str                      # trading | data | broker
    methods: frozenset[str]
    pattern: re.Pattern[str]
    scope: Scope | None            # broker credentials need this scope (None: any credential)
    handler: Handler
    anonymous: bool = False        # served without credentials (historical crypto data)


# ---------------------------------------------------------------------------------------------
# The fake back office: one account per trading host, customer accounts per broker host.


class Book:
    def __init__(self, now: float) -> None:
        self.lock = threading.Lock()
        self.trading = {
            TRADING_PAPER: market.Account("PALPACA_123", now),
            TRADING_LIVE: market.Account("ALPACA_123", now, cash="25000"),
        }
        self.broker: dict[str, dict[str, market.Account]] = {BROKER_LIVE: {}, BROKER_SANDBOX: {}}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.journals: dict[str, list[dict[str, Any]]] = {BROKER_LIVE: [], BROKER_SANDBOX: []}
        self.portfolios: dict[str, list[dict[str, Any]]] = {BROKER_LIVE: [], BROKER_SANDBOX: []}
        for role, prefix in ((BROKER_LIVE, "LA"), (BROKER_SANDBOX, "SB")):
            acct = market.Account(f"{prefix}0000000001", now, cash="50000")
            self.broker[role][acct.id] = acct


# ---------------------------------------------------------------------------------------------
# helpers


def _json_body(ctx: Ctx, *, object_required: bool = False) -> Any:
    """The request body as JSON, or the Reply to send instead: 400 40010001 when it is missing,
    not JSON, or (``object_required``) not a JSON object."""
    if not ctx.req.body.strip():
        return alpaca_error(400, 40010001, "request body is required")
    try:
        body = ctx.req.json()
    except (ValueError, UnicodeDecodeError):
        return alpaca_error(400, 40010001, "request body format is invalid")
    if object_required and not isinstance(body, dict):
        return alpaca_error(400, 40010001, "request body must be a JSON object")
    return body


def _not_found(what: str) -> Reply:
    return alpaca_error(404, 40410000, f"{what} not found")


def _unprocessable(message: str) -> Reply:
    # Alpaca answers invalid order fields with 422 and code 40010001 (the spec's "Unprocessable";
    # the exact code per field is UNCONFIRMED).
    return alpaca_error(422, 40010001, message)


def _limit(ctx: Ctx, default: int = 50, cap: int = 500) -> int:
    raw = ctx.req.arg("limit")
    try:
        return max(1, min(cap, int(raw))) if raw else default
    except ValueError:
        return default


def _book(ctx: Ctx) -> Book:
    return ctx.emu.book


def _symbols(ctx: Ctx) -> list[str] | Reply:
    raw = ctx.req.arg("symbols") or ""
    syms = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not syms:
        return alpaca_error(400, 40010001, "symbols is required")
    return syms


# ---------------------------------------------------------------------------------------------
# Trading API (trading-live / trading-paper)


def _trading_account(ctx: Ctx) -> market.Account:
    return _book(ctx).trading[ctx.req.role]


def get_account(ctx: Ctx) -> Reply:
    return Reply.json(200, _trading_account(ctx).trade_account(ctx.now))


def get_clock(ctx: Ctx) -> Reply:
    return Reply.json(200, market.market_clock(ctx.now))


def get_positions(ctx: Ctx) -> Reply:
    return Reply.json(200, _trading_account(ctx).positions_list(ctx.now))


def get_position(ctx: Ctx) -> Reply:
    sym = ctx.params["symbol"].upper()
    for pos in _trading_account(ctx).positions_list(ctx.now):
        if pos["symbol"] == sym or pos["asset_id"] == ctx.params["symbol"]:
            return Reply.json(200, pos)
    return alpaca_error(404, 40410000, "position does not exist")


def _place(ctx: Ctx, acct: market.Account) -> Reply:
    body = _json_body(ctx)
    if isinstance(body, Reply):
        return body
    try:
        order = acct.place_order(body, ctx.now, market.market_clock(ctx.now)["is_open"])
    except market.OrderError as exc:
        return _unprocessable(str(exc))
    return Reply.json(200, order)


def _list_orders(ctx: Ctx, acct: market.Account) -> Reply:
    status = (ctx.req.arg("status") or "open").lower()
    if status not in ("open", "closed", "all"):
        return alpaca_error(422, 40010001, "status must be open, closed or all")
    syms = {s.strip().upper() for s in (ctx.req.arg("symbols") or "").split(",") if s.strip()}
    direction = (ctx.req.arg("direction") or "desc").lower()
    return Reply.json(200, acct.list_orders(status, _limit(ctx), syms or None, direction))


def post_order(ctx: Ctx) -> Reply:
    return _place(ctx, _trading_account(ctx))


def get_orders(ctx: Ctx) -> Reply:
    return _list_orders(ctx, _trading_account(ctx))


def get_order(ctx: Ctx) -> Reply:
    order = _trading_account(ctx).orders.get(ctx.params["order_id"])
    return Reply.json(200, order) if order else _not_found("order")


def delete_order(ctx: Ctx) -> Reply:
    result = _trading_account(ctx).cancel(ctx.params["order_id"], ctx.now)
    if result == "missing":
        return _not_found("order")
    if result == "final":
        return alpaca_error(422, 42210000, "order is not cancelable")
    return Reply(204, b"", None)


_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,11}(?:/[A-Za-z]{2,6})?$")


def get_asset(ctx: Ctx) -> Reply:
    sym = ctx.params["symbol"]
    if not _SYMBOL.match(sym):
        return alpaca_error(404, 40410000, f"asset not found for {sym}")
    return Reply.json(200, market.asset(sym))


def get_assets(ctx: Ctx) -> Reply:
    cls = ctx.req.arg("asset_class")
    assets = [market.asset(s) for s in market.SAMPLE_SYMBOLS]
    if cls:
        assets = [a for a in assets if a["class"] == cls]
    return Reply.json(200, assets)


# ---------------------------------------------------------------------------------------------
# Market Data API (data / data-sandbox)


def market_data(fn: Callable[[str, float], dict[str, Any]], key: str) -> Handler:
    """A latest-market-data handler answering ``{key: fn(SYMBOL, now), "symbol": SYMBOL}`` for a
    route with a ``symbol`` path parameter, else ``{key: {S: fn(S, now) for S in ?symbols=}}``."""

    def handler(ctx: Ctx) -> Reply:
        if "symbol" in ctx.params:
            sym = ctx.params["symbol"].upper()
            return Reply.json(200, {key: fn(sym, ctx.now), "symbol": sym})
        syms = _symbols(ctx)
        if isinstance(syms, Reply):
            return syms
        return Reply.json(200, {key: {s: fn(s, ctx.now) for s in syms}})

    return handler


latest_bar = market_data(market.bar, "bar")
latest_bars = market_data(market.bar, "bars")
latest_quote = market_data(market.quote, "quote")
latest_quotes = market_data(market.quote, "quotes")
latest_trade = market_data(market.trade, "trade")
crypto_bars = market_data(market.crypto_bar, "bars")
crypto_quotes = market_data(market.crypto_quote, "quotes")


# ---------------------------------------------------------------------------------------------
# Broker API (broker-live / broker-sandbox)


def _accounts(ctx: Ctx) -> dict[str, market.Account]:
    return _book(ctx).broker[ctx.req.role]


def _account(ctx: Ctx) -> market.Account | None:
    return _accounts(ctx).get(ctx.params["account_id"])


def _broker_account(ctx: Ctx, acct: market.Account) -> dict[str, Any]:
    return market.broker_account(acct, _book(ctx).contacts.get(acct.id))


def list_accounts(ctx: Ctx) -> Reply:
    return Reply.json(200, [_broker_account(ctx, a) for a in list(_accounts(ctx).values())])


def create_account(ctx: Ctx) -> Reply:
    body = _json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    contact = body.get("contact")
    if not isinstance(contact, dict) or not isinstance(contact.get("email_address"), str):
        return _unprocessable("contact.email_address is required")
    book = _book(ctx)
    with book.lock:
        n = len(_accounts(ctx)) + 1
        prefix = "LA" if ctx.req.role == BROKER_LIVE else "SB"
        acct = market.Account(f"{prefix}{n:010d}", ctx.now, cash="0")
        _accounts(ctx)[acct.id] = acct
        book.contacts[acct.id] = market.complete_contact(contact)
    return Reply.json(200, _broker_account(ctx, acct))


def get_broker_account(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, _broker_account(ctx, acct)) if acct else _not_found("account")


def activities(ctx: Ctx) -> Reply:
    return Reply.json(200, [])


def list_transfers(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    return Reply.json(200, list(acct.transfers))


def create_transfer(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    body = _json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    try:
        amount = market._decimal(body, "amount")
    except market.OrderError as exc:
        return _unprocessable(str(exc))
    if amount is None:
        return _unprocessable("amount is required")
    direction = body.get("direction")
    if direction not in ("INCOMING", "OUTGOING"):
        return _unprocessable("direction must be INCOMING or OUTGOING")
    ttype = body.get("transfer_type", "ach")
    if ttype not in ("ach", "wire"):
        return _unprocessable("transfer_type must be ach or wire")
    ts = market.rfc3339(ctx.now)
    transfer = {
        "id": str(uuid.uuid4()), "relationship_id": body.get("relationship_id"), "account_id": acct.id,
        "type": ttype, "status": "QUEUED", "amount": market._s(amount), "direction": direction,
        "created_at": ts, "updated_at": ts, "expires_at": market.rfc3339(ctx.now + 7 * 86400),
        "reason": None, "requested_amount": market._s(amount), "fee": "0",
    }
    with acct.lock:
        acct.transfers.append(transfer)
        acct.cash += amount if direction == "INCOMING" else -amount
    return Reply.json(200, transfer)


def list_journals(ctx: Ctx) -> Reply:
    return Reply.json(200, list(_book(ctx).journals[ctx.req.role]))


def create_journal(ctx: Ctx) -> Reply:
    body = _json_body(ctx, object_required=True)
    if isinstance(body, Reply):
        return body
    accounts = _accounts(ctx)
    src, dst = accounts.get(str(body.get("from_account"))), accounts.get(str(body.get("to_account")))
    if src is None or dst is None:
        return _unprocessable("from_account and to_account must be existing accounts")
    entry = body.get("entry_type")
    if entry not in ("JNLC", "JNLS"):
        return _unprocessable("entry_type must be JNLC or JNLS")
    try:
        amount = market._decimal(body, "amount")
        qty = market._decimal(body, "qty")
    except market.OrderError as exc:
        return _unprocessable(str(exc))
    if entry == "JNLC" and amount is None:
        return _unprocessable("amount is required for JNLC")
    if entry == "JNLS" and (qty is None or not body.get("symbol")):
        return _unprocessable("symbol and qty are required for JNLS")
    ts = market.rfc3339(ctx.now)
    journal = {
        "id": str(uuid.uuid4()), "entry_type": entry, "from_account": src.id, "to_account": dst.id,
        "symbol": body.get("symbol"), "qty": market._s(qty), "price": None, "status": "executed",
        "settle_date": None, "system_date": ts[:10], "net_amount": market._s(amount) or "0",
        "description": body.get("description", ""), "created_at": ts,
    }
    if entry == "JNLC" and amount is not None:
        with src.lock:
            src.cash -= amount
        with dst.lock:
            dst.cash += amount
    with _book(ctx).lock:
        _book(ctx).journals[ctx.req.role].append(journal)
    return Reply.json(200, journal)


def trade_account_of(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, acct.trade_account(ctx.now, broker=True)) if acct else _not_found("account")


def broker_orders(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    return _place(ctx, acct) if ctx.req.method == "POST" else _list_orders(ctx, acct)


def broker_positions(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    return Reply.json(200, acct.positions_list(ctx.now)) if acct else _not_found("account")


def list_portfolios(ctx: Ctx) -> Reply:
    return Reply.json(200, list(_book(ctx).portfolios[ctx.req.role]))


def create_portfolio(ctx: Ctx) -> Reply:
    body = _json_body(ctx)
    if isinstance(body, Reply):
        return body
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return _unprocessable("name is required")
    weights = body.get("weights")
    if not isinstance(weights, list) or not weights:
        return _unprocessable("weights are required")
    try:
        total = sum(float(w["percent"]) for w in weights)
    except (TypeError, KeyError, ValueError):
        return _unprocessable("each weight needs a percent")
    if abs(total - 100) > 1e-6:
        return _unprocessable("weights must add up to 100")
    ts = market.rfc3339(ctx.now)
    portfolio = {"id": str(uuid.uuid4()), "name": body["name"], "description": body.get("description", ""),
                 "status": "active", "cooldown_days": body.get("cooldown_days", 7), "created_at": ts,
                 "updated_at": ts, "weights": weights,
                 "rebalance_conditions": body.get("rebalance_conditions")}
    with _book(ctx).lock:
        _book(ctx).portfolios[ctx.req.role].append(portfolio)
    return Reply.json(200, portfolio)


def documents(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    return Reply.json(200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, acct.id + ":statement")),
                             "type": "account_statement", "sub_type": "",
                             "date": market.rfc3339(acct.created_at)[:10], "name": "Monthly statement"}])


def wallets(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    asset = (ctx.req.arg("asset") or "BTC").upper()
    return Reply.json(200, {"asset_id": market.asset_id(asset + "/USD"), "address":
                            "bc1q" + uuid.uuid5(uuid.NAMESPACE_URL, acct.id + asset).hex[:38],
                            "created_at": market.rfc3339(acct.created_at)})


def wallet_transfer(ctx: Ctx) -> Reply:
    acct = _account(ctx)
    if acct is None:
        return _not_found("account")
    body = _json_body(ctx)
    if isinstance(body, Reply):
        return body
    if not isinstance(body, dict) or not body.get("address") or not body.get("asset"):
        return _unprocessable("amount, address and asset are required")
    return Reply.json(200, {"id": str(uuid.uuid4()), "status": "PROCESSING", "direction": "OUTGOING",
                            "asset": body.get("asset"), "amount": str(body.get("amount", "0")),
                            "to_address": body["address"], "created_at": market.rfc3339(ctx.now)})


def correspondent(ctx: Ctx) -> Reply:
    # The emulator's stand-in for Admin-scope routes (Alpaca's admin endpoints are not public;
    # /v1/correspondents/... is our chosen path, UNCONFIRMED).
    if ctx.req.method == "PATCH":
        body = _json_body(ctx, object_required=True)
        if isinstance(body, Reply):
            return body
    return Reply.json(200, {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, ctx.req.role)),
                            "name": "Emulated Correspondent", "status": "ACTIVE",
                            "environment": ctx.req.role})


def sse(ctx: Ctx) -> Reply:
    """A short ``text/event-stream`` (two events), then the connection closes."""
    accounts = list(_accounts(ctx).values())
    lines = []
    for i, acct in enumerate(accounts[:2], start=1):
        event = {"account_id": acct.id, "account_number": acct.number, "at": market.rfc3339(ctx.now),
                 "event_id": i, "status_from": "APPROVED", "status_to": "ACTIVE"}
        lines.append(f"id: {i}\ndata: {json.dumps(event)}\n\n")
    lines.append(": end of emulated stream\n\n")
    return Reply(200, "".join(lines).encode(), "text/event-stream; charset=UTF-8",
                 {"Cache-Control": "no-cache"}, close=True)


def broker_assets(ctx: Ctx) -> Reply:
    return get_assets(ctx)


# ---------------------------------------------------------------------------------------------
# THE route table (and the broker path -> scope mapping). First match wins.

S = Scope
A = r"/v1/accounts/(?P<account_id>[^/]+)"
TA = r"/v1/trading/accounts/(?P<account_id>[^/]+)"
_R: list[tuple[str, str, str, Scope | None, Handler]] = [
    # kind     methods    path                                             scope          handler
    ("trading", "GET",    r"/v2/account",                                  None,          get_account),
    ("trading", "GET",    r"/v2/clock",                                    None,          get_clock),
    ("trading", "GET",    r"/v2/positions",                                None,          get_positions),
    ("trading", "GET",    r"/v2/positions/(?P<symbol>[^/]+)",              None,          get_position),
    ("trading", "GET",    r"/v2/orders",                                   None,          get_orders),
    ("trading", "POST",   r"/v2/orders",                                   None,          post_order),
    ("trading", "GET",    r"/v2/orders/(?P<order_id>[^/]+)",               None,          get_order),
    ("trading", "DELETE", r"/v2/orders/(?P<order_id>[^/]+)",               None,          delete_order),
    ("trading", "GET",    r"/v2/assets",                                   None,          get_assets),
    ("trading", "GET",    r"/v2/assets/(?P<symbol>[^/]+(?:/[^/]+)?)",      None,          get_asset),
    ("data",    "GET",    r"/v2/stocks/bars/latest",                       S.DATA,        latest_bars),
    ("data",    "GET",    r"/v2/stocks/(?P<symbol>[^/]+)/bars/latest",     S.DATA,        latest_bar),
    ("data",    "GET",    r"/v2/stocks/quotes/latest",                     S.DATA,        latest_quotes),
    ("data",    "GET",    r"/v2/stocks/(?P<symbol>[^/]+)/quotes/latest",   S.DATA,        latest_quote),
    ("data",    "GET",    r"/v2/stocks/(?P<symbol>[^/]+)/trades/latest",   S.DATA,        latest_trade),
    ("data",    "GET",    r"/v1beta3/crypto/(?P<loc>[a-z]+)/latest/bars",  S.DATA,        crypto_bars),
    ("data",    "GET",    r"/v1beta3/crypto/(?P<loc>[a-z]+)/latest/quotes", S.DATA,       crypto_quotes),
    ("broker",  "GET",    r"/v1/accounts/activities",                      S.REPORTING,   activities),
    ("broker",  "GET",    r"/v1/accounts",                                 S.ACCOUNTS,    list_accounts),
    ("broker",  "POST",   r"/v1/accounts",                                 S.ACCOUNTS,    create_account),
    ("broker",  "GET",    A,                                               S.ACCOUNTS,    get_broker_account),
    ("broker",  "GET",    A + "/transfers",                                S.FUNDING,     list_transfers),
    ("broker",  "POST",   A + "/transfers",                                S.FUNDING,     create_transfer),
    ("broker",  "GET",    A + "/documents",                                S.REPORTING,   documents),
    ("broker",  "GET",    A + "/wallets",                                  S.CRYPTO,      wallets),
    ("broker",  "POST",   A + "/wallets/transfers",                        S.CRYPTO,      wallet_transfer),
    ("broker",  "GET",    r"/v1/journals",                                 S.JOURNALING,  list_journals),
    ("broker",  "POST",   r"/v1/journals",                                 S.JOURNALING,  create_journal),
    ("broker",  "GET",    TA + "/account",                                 S.TRADING,     trade_account_of),
    ("broker",  "GET",    TA + "/orders",                                  S.TRADING,     broker_orders),
    ("broker",  "POST",   TA + "/orders",                                  S.TRADING,     broker_orders),
    ("broker",  "GET",    TA + "/positions",                               S.TRADING,     broker_positions),
    ("broker",  "GET",    r"/v1/rebalancing/portfolios",                   S.REBALANCING, list_portfolios),
    ("broker",  "POST",   r"/v1/rebalancing/portfolios",                   S.REBALANCING, create_portfolio),
    ("broker",  "GET",    r"/v1/events/(?:accounts|journals|transfers|trades)(?:/status)?",
                                                                           S.SSE_EVENTS,  sse),
    # Admin: Alpaca's admin endpoints are not public; this path is our choice (UNCONFIRMED).
    ("broker",  "GET",    r"/v1/correspondents(?:/me)?",                   S.ADMIN,       correspondent),
    ("broker",  "PATCH",  r"/v1/correspondents(?:/me)?",                   S.ADMIN,       correspondent),
    # Reference data: any valid broker credential (the scope, if any, is UNCONFIRMED).
    ("broker",  "GET",    r"/v1/assets",                                   None,          broker_assets),
]

# Historical crypto data needs no authentication (alpaca-auth.md §1, [MD]).
_ANONYMOUS = {crypto_bars, crypto_quotes}

ROUTES: tuple[Route, ...] = tuple(
    Route(kind, frozenset(methods.split()), re.compile(f"^{path}/?$"), scope, handler,
          anonymous=handler in _ANONYMOUS)
    for kind, methods, path, scope, handler in _R
)


def scope_for(kind: str, method: str, path: str) -> Scope | None:
    """The scope a broker credential needs for ``method path`` on a ``kind`` host (or None)."""
    route, _params, _known = match(kind, method, path)
    return route.scope if route else None


def match(kind: str, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """-> (route, path params, whether the path exists for some other method)."""
    known = False
    for route in ROUTES:
        if route.kind != kind:
            continue
        m = route.pattern.match(path)
        if m is None:
            continue
        if method in route.methods or (method == "HEAD" and "GET" in route.methods):
            return route, {k: v for k, v in m.groupdict().items() if v is not None}, True
        known = True
    return None, {}, known


# ---------------------------------------------------------------------------------------------
# authentication


def authenticate(emu: Emulator, req: Request) -> Principal | Reply | None:
    """The caller's credential, an error Reply, or None when no credentials were presented."""
    role = req.role
    key_id = req.header("apca-api-key-id")
    secret = req.header("apca-api-secret-key")
    underscored = {n.lower() for n in req.header_names} & {"apca_api_key_id", "apca_api_secret_key"}
    if underscored and key_id is None and secret is None:
        # Alpaca-API #228: headers written with underscores get a bare 403.
        return Reply.json(403, {"message": "forbidden."},
                          {"X-Emulator-Reason": "APCA headers must use hyphens, not underscores"})
    authz = (req.header("authorization") or "").strip()
    if key_id is not None or secret is not None:
        if not key_id or not secret:
            return unauthorized("both APCA-API-KEY-ID and APCA-API-SECRET-KEY are required")
        return _legacy(emu, role, key_id, secret, "headers")
    scheme, _, value = authz.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return unauthorized("malformed Basic credentials")
        user, sep, pw = decoded.partition(":")
        if not sep or not user:
            return unauthorized("malformed Basic credentials")
        return _legacy(emu, role, user, pw, "basic")
    if scheme == "bearer":
        return _bearer(emu, role, value)
    if authz:
        return unauthorized("unsupported Authorization scheme")
    return None


def _reject(emu: Emulator, role: str, cred: Credential | None, key_id: str, reason: str) -> Reply:
    note: dict[str, Any] = {"role": role, "key_id": key_id, "reason": reason}
    if cred is not None:
        note["credential_env"] = cred.env.value
    emu.state.note_rejection(**note)
    return unauthorized(reason)


def _check_cred(emu: Emulator, role: str, cred: Credential, now: float) -> Reply | None:
    if cred.env not in ROLE_ENVS[role]:
        return _reject(emu, role, cred, cred.key_id,
                       f"credential belongs to {cred.env.value}, not this host")
    if cred.revoked:
        return _reject(emu, role, cred, cred.key_id, "credential revoked")
    if cred.expired(now):
        return _reject(emu, role, cred, cred.key_id, "credential expired")
    return None


def _legacy(emu: Emulator, role: str, key_id: str, secret: str, via: str) -> Principal | Reply:
    cred = emu.state.credentials.get(key_id)
    if cred is None:
        return _reject(emu, role, None, key_id, "unknown key")
    if cred.flow is not Flow.LEGACY:
        # OAuth client credentials never authenticate API calls directly (alpaca-py #649).
        return _reject(emu, role, cred, key_id, f"{cred.flow.value} credentials need a Bearer token")
    if not hmac.compare_digest((cred.secret or "").encode(), secret.encode("utf-8", "replace")):
        return _reject(emu, role, cred, key_id, "wrong secret")
    problem = _check_cred(emu, role, cred, emu.now())
    return problem if problem is not None else Principal(cred, via)


def _bearer(emu: Emulator, role: str, token: str) -> Principal | Reply:
    if ROLE_KIND[role] not in ("broker", "data"):
        return unauthorized("Bearer tokens are accepted by broker and data hosts only")
    rec = emu.state.lookup_token(token) if token else None
    if rec is None:
        return unauthorized("unknown access token")
    cred = emu.state.credentials.get(rec.client_id)
    now = emu.now()
    if now >= rec.expires_at:
        return _reject(emu, role, cred, rec.client_id, "access token expired")
    if cred is None:
        return unauthorized("unknown access token")
    # A token dies with its credential: revoking or expiring the client invalidates the tokens
    # it holds (whether Alpaca does this is UNCONFIRMED; it is the safe assumption).
    problem = _check_cred(emu, role, cred, now)
    return problem if problem is not None else Principal(cred, "bearer")


def scope_denied(cred: Credential, scope: Scope, write: bool) -> Reply | None:
    level = cred.access.level(scope)
    if level.allows(write):
        return None
    if level is Level.NONE:
        msg = f"forbidden: this credential has no {scope.label} access"
    else:
        msg = f"forbidden: this credential has read-only {scope.label} access"
    return alpaca_error(403, 40310000, msg,
                        {"X-Emulator-Reason": f"scope {scope.value} is {level.value}"})


# ---------------------------------------------------------------------------------------------
# dispatch


def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset)}


def handle(emu: Emulator, req: Request) -> Reply:
    role = req.role
    kind = ROLE_KIND[role]
    now = emu.now()
    limit = emu.rate_limit(role)
    anon_ident = f"ip:{req.client}"
    route, params, known = match(kind, req.method, req.path)
    if route is None:
        _ok, lim, rem, reset = emu.state.consume(role, anon_ident, limit, now, spend=False)
        if known:
            reply = alpaca_error(405, 40510000, "method not allowed")
        else:
            reply = alpaca_error(404, 40410000, "endpoint not found")
        reply.headers.update(_rate_headers(lim, rem, reset))
        return reply

    auth = authenticate(emu, req)
    if auth is None and not route.anonymous:
        auth = unauthorized("missing credentials")
    if isinstance(auth, Reply):
        _ok, lim, rem, reset = emu.state.consume(role, anon_ident, limit, now, spend=False)
        auth.headers.update(_rate_headers(lim, rem, reset))
        return auth

    ident = auth.cred.key_id if auth is not None else anon_ident
    allowed, lim, rem, reset = emu.state.consume(role, ident, limit, now)
    headers = _rate_headers(lim, rem, reset)
    if not allowed:
        headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))
        return alpaca_error(429, 42910000, "rate limit exceeded", headers)

    if auth is not None and auth.cred.env.is_broker and route.scope is not None:
        denied = scope_denied(auth.cred, route.scope, req.method in WRITE_METHODS)
        if denied is not None:
            emu.state.note_rejection(role=role, key_id=auth.cred.key_id, reason="scope",
                                     scope=route.scope.value, level=auth.cred.access.level(route.scope).value)
            denied.headers.update(headers)
            return denied

    reply = route.handler(Ctx(emu, req, auth, params, now))
    for k, v in headers.items():
        reply.headers.setdefault(k, v)
    return reply
