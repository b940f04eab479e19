"""The official SDKs' everyday calls against the emulator over loopback, used directly (not
through ``alpaca-tui exec``): alpaca-trade-api's ``REST()`` built from its own environment
variables, and alpaca-py's Trading, StockHistoricalData, CryptoHistoricalData and Broker clients,
including their paginated listings. Every call must succeed and parse into the SDK's models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("alpaca")
pytest.importorskip("alpaca_trade_api")

from alpaca_tui.core.clock import FakeClock  # noqa: E402
from alpaca_tui.core.credentials import Flow  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402

# 2027-01-15 15:00 UTC = 10:00 New York, a Friday: the market is open, so market orders fill.
OPEN = 1_800_025_200.0
UTC = UTC
TODAY = datetime.fromtimestamp(OPEN, UTC).date()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(OPEN)) as e:
        yield e


# -- alpaca-trade-api ---------------------------------------------------------------------------------

@pytest.fixture
def rest(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``REST()`` with no arguments: everything from the APCA_* variables it reads itself."""
    import alpaca_trade_api as tradeapi

    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    monkeypatch.setenv("APCA_API_KEY_ID", paper.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", paper.secret or "")
    monkeypatch.setenv("APCA_API_BASE_URL", emu.urls["trading-paper"])
    monkeypatch.setenv("APCA_API_DATA_URL", emu.urls["data"])
    monkeypatch.setenv("APCA_RETRY_MAX", "0")
    return tradeapi.REST()


def test_trade_api_account_orders_positions(rest: Any) -> None:
    account = rest.get_account()
    assert account.account_number == "PALPACA_123" and float(account.cash) > 0
    assert rest.get_account_configurations().fractional_trading is True
    assert rest.update_account_configurations(no_shorting=True).no_shorting is True
    bought = rest.submit_order("AAPL", qty=2, side="buy", type="market", time_in_force="day")
    assert bought.status == "filled"
    crypto = rest.submit_order("BTC/USD", qty=0.01, side="buy", type="market", time_in_force="gtc")
    assert crypto.status == "filled"
    assert rest.get_position("AAPL").qty == "2"           # a stock bought a moment ago
    assert rest.get_position("BTCUSD").symbol == "BTCUSD"  # crypto, old symbology
    assert rest.get_position("BTC/USD").qty == "0.01"      # crypto, pair symbology
    assert {p.symbol for p in rest.list_positions()} == {"AAPL", "BTCUSD"}
    limit = rest.submit_order("MSFT", qty=1, side="buy", type="limit", limit_price=10, time_in_force="gtc",
                              client_order_id="tradeapi-1")
    assert rest.get_order(limit.id).id == limit.id
    assert rest.get_order_by_client_order_id("tradeapi-1").id == limit.id
    replaced = rest.replace_order(limit.id, qty=3, limit_price=11)
    assert replaced.replaces == limit.id and rest.get_order(limit.id).status == "replaced"
    assert [o.id for o in rest.list_orders()] == [replaced.id]
    assert len(rest.list_orders(status="all", limit=10)) == 4
    rest.cancel_order(replaced.id)
    assert rest.get_order(replaced.id).status == "canceled"
    rest.submit_order("SPY", qty=1, side="buy", type="limit", limit_price=1, time_in_force="day")
    rest.cancel_all_orders()
    assert rest.list_orders() == []
    closing = rest.close_position("AAPL")
    assert closing.side == "sell" and closing.status == "filled"
    rest.close_all_positions()
    assert rest.list_positions() == []


def test_trade_api_reference_activities_history_watchlists(rest: Any) -> None:
    assert rest.get_clock().is_open is True
    days = rest.get_calendar(start="2027-01-11", end="2027-01-17")
    assert [str(d.date.date()) for d in days] == [f"2027-01-{n}" for n in range(11, 16)]
    assert rest.get_asset("AAPL").symbol == "AAPL"
    assert {a.symbol for a in rest.list_assets(asset_class="crypto")} == {"BTC/USD", "ETH/USD"}
    rest.submit_order("NVDA", qty=1, side="buy", type="market", time_in_force="day")
    fills = rest.get_activities(activity_types="FILL")
    assert [a.symbol for a in fills] == ["NVDA"] and rest.get_activities()[0].activity_type == "FILL"
    history = rest.get_portfolio_history(period="1W", timeframe="1D")
    assert len(history.equity) == len(history.timestamp) > 0
    wl = rest.create_watchlist("tech", symbols=["AAPL"])
    assert [w.name for w in rest.get_watchlists()] == ["tech"]
    assert rest.get_watchlist_by_name("tech").id == wl.id
    assert {a["symbol"] for a in rest.add_to_watchlist(wl.id, "MSFT").assets} == {"AAPL", "MSFT"}
    assert rest.update_watchlist(wl.id, name="tech2", symbols=["TSLA"]).name == "tech2"
    rest.delete_from_watchlist(wl.id, "TSLA")
    assert rest.get_watchlist(wl.id).assets == []
    rest.delete_watchlist(wl.id)
    assert rest.get_watchlists() == []


def test_trade_api_market_data(rest: Any) -> None:
    from alpaca_trade_api import TimeFrame

    start, end = "2027-01-14", "2027-01-15T15:00:00Z"
    bars = rest.get_bars("AAPL", TimeFrame.Minute, start, end)        # single symbol: /v2/stocks/{s}/bars
    assert len(bars) == 390 + 30 and bars[0].t.tz_convert("UTC").isoformat().startswith("2027-01-14T14:30")
    multi = rest.get_bars(["AAPL", "MSFT"], TimeFrame.Hour, start, end)   # multi: /v2/stocks/bars
    assert {b.S for b in multi} == {"AAPL", "MSFT"}
    assert len(rest.get_trades("AAPL", start, end, limit=50)) == 50
    assert len(rest.get_quotes("AAPL", start, end, limit=5)) == 5
    assert rest.get_latest_trade("AAPL").p > 0
    assert set(rest.get_latest_trades(["AAPL", "MSFT"])) == {"AAPL", "MSFT"}   # /v2/stocks/trades/latest
    assert set(rest.get_latest_quotes(["AAPL", "MSFT"])) == {"AAPL", "MSFT"}
    assert rest.get_latest_bar("AAPL").c > 0 and set(rest.get_latest_bars(["AAPL"])) == {"AAPL"}
    assert rest.get_snapshot("AAPL").latest_trade.p > 0
    assert set(rest.get_snapshots(["AAPL", "SPY"])) == {"AAPL", "SPY"}
    # a date alone is midnight New York (05:00 UTC): 24 hours of the 14th, 10 complete ones of the 15th
    assert len(rest.get_crypto_bars("BTC/USD", TimeFrame.Hour, start, end)) == 24 + 10
    assert set(rest.get_latest_crypto_trades(["BTC/USD"])) == {"BTC/USD"}


# -- alpaca-py: trading and market data ------------------------------------------------------------

def test_alpaca_py_trading_client(emu: Emulator) -> None:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.requests import (
        CreateWatchlistRequest,
        GetCalendarRequest,
        GetOrdersRequest,
        GetPortfolioHistoryRequest,
        LimitOrderRequest,
        MarketOrderRequest,
        ReplaceOrderRequest,
    )

    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    client = TradingClient(paper.key_id, paper.secret, paper=True, url_override=emu.urls["trading-paper"])
    assert client.get_account().account_number == "PALPACA_123"
    config = client.get_account_configurations()
    config.no_shorting = True
    assert client.set_account_configurations(config).no_shorting is True
    assert client.get_clock().is_open is True
    days = client.get_calendar(GetCalendarRequest(start=date(2027, 1, 11), end=date(2027, 1, 15)))
    assert len(days) == 5
    assert client.get_asset("BTC/USD").symbol == "BTC/USD" and len(client.get_all_assets()) > 0
    buy = MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    assert client.submit_order(buy).filled_qty == "2"
    client.submit_order(MarketOrderRequest(symbol="BTC/USD", qty=0.5, side=OrderSide.BUY,
                                           time_in_force=TimeInForce.GTC))
    assert client.get_open_position("AAPL").qty == "2"
    assert client.get_open_position("BTCUSD").qty == client.get_open_position("BTC/USD").qty == "0.5"
    limit = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=10,
                                                  time_in_force=TimeInForce.GTC, client_order_id="py-1"))
    assert client.get_order_by_client_id("py-1").id == limit.id
    new = client.replace_order_by_id(limit.id, ReplaceOrderRequest(qty=2, limit_price=9))
    assert str(new.replaces) == str(limit.id)
    assert len(client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 4
    assert [c.status for c in client.cancel_orders()] == [200]
    closed = client.close_position("AAPL")
    assert closed.side is OrderSide.SELL
    assert [r.symbol for r in client.close_all_positions()] == ["BTCUSD"]
    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1M", timeframe="1D"))
    assert len(history.equity) == len(history.timestamp)
    wl = client.create_watchlist(CreateWatchlistRequest(name="py", symbols=["AAPL", "SPY"]))
    assert [a.symbol for a in client.get_watchlist_by_id(wl.id).assets] == ["AAPL", "SPY"]
    assert len(client.add_asset_to_watchlist_by_id(wl.id, "MSFT").assets) == 3
    assert len(client.remove_asset_from_watchlist_by_id(wl.id, "SPY").assets) == 2
    assert [w.name for w in client.get_watchlists()] == ["py"]
    client.delete_watchlist_by_id(wl.id)
    assert client.get_watchlists() == []


def test_alpaca_py_stock_and_crypto_data_with_pagination(emu: Emulator) -> None:
    from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
    from alpaca.data.requests import (
        CryptoBarsRequest,
        StockBarsRequest,
        StockLatestTradeRequest,
        StockQuotesRequest,
        StockSnapshotRequest,
        StockTradesRequest,
    )
    from alpaca.data.timeframe import TimeFrame

    paper = emu.create_credential(Env.PAPER, Flow.LEGACY)
    client = StockHistoricalDataClient(paper.key_id, paper.secret, url_override=emu.urls["data"])
    start = datetime(2027, 1, 11, tzinfo=UTC)
    end = datetime.fromtimestamp(OPEN, UTC)
    # four full sessions and half an hour: 1590 minute bars, over two pages of 1000
    bars = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"],
                                                  timeframe=TimeFrame.Minute, start=start, end=end))
    assert {s: len(v) for s, v in bars.data.items()} == {"AAPL": 4 * 390 + 30, "MSFT": 4 * 390 + 30}
    assert bars.data["AAPL"][0].timestamp == datetime(2027, 1, 11, 14, 30, tzinfo=UTC)
    assert len(client.get_stock_trades(StockTradesRequest(symbol_or_symbols="AAPL", start=start, end=end,
                                                          limit=1500)).data["AAPL"]) == 1500
    hour = StockQuotesRequest(symbol_or_symbols="AAPL", start=end - timedelta(hours=1), end=end)
    assert len(client.get_stock_quotes(hour).data["AAPL"]) == 30
    latest = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    assert set(latest) == {"AAPL", "MSFT"} and latest["AAPL"].price > 0
    snap = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL"]))
    assert snap["AAPL"].latest_trade.price > 0 and snap["AAPL"].daily_bar.volume > 0
    crypto = CryptoHistoricalDataClient(url_override=emu.urls["data"])
    cbars = crypto.get_crypto_bars(CryptoBarsRequest(symbol_or_symbols="BTC/USD", timeframe=TimeFrame.Hour,
                                                     start=start, end=end))
    assert len(cbars.data["BTC/USD"]) == 4 * 24 + 15


# -- alpaca-py: broker ---------------------------------------------------------------------------------

def _broker(emu: Emulator) -> Any:
    from alpaca.broker.client import BrokerClient

    key = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    return BrokerClient(key.key_id, key.secret, sandbox=True, url_override=emu.urls["broker-sandbox"])


def _new_account(client: Any) -> Any:
    from alpaca.broker.enums import AgreementType
    from alpaca.broker.models import Agreement, Contact, Disclosures, Identity
    from alpaca.broker.requests import CreateAccountRequest

    now = datetime.fromtimestamp(OPEN, UTC).isoformat()
    return client.create_account(CreateAccountRequest(
        contact=Contact(email_address="py@example.com", phone_number="555-666-7788", street_address=["20 N"],
                        city="San Mateo", state="CA", postal_code="94401", country="USA"),
        identity=Identity(given_name="Py", family_name="Test", date_of_birth="1990-01-01",
                          tax_id="666-55-4321", tax_id_type="USA_SSN", country_of_citizenship="USA",
                          country_of_birth="USA",
                          country_of_tax_residence="USA", funding_source=["employment_income"]),
        disclosures=Disclosures(is_control_person=False, is_affiliated_exchange_or_finra=False,
                                is_politically_exposed=False, immediate_family_exposed=False),
        agreements=[Agreement(agreement=t, signed_at=now, ip_address="127.0.0.1")
                    for t in (AgreementType.MARGIN, AgreementType.ACCOUNT, AgreementType.CUSTOMER)]))


def test_alpaca_py_broker_accounts_funding_journals(emu: Emulator) -> None:
    from alpaca.broker.enums import BankAccountType, TransferDirection, TransferTiming
    from alpaca.broker.requests import (
        CreateACHRelationshipRequest,
        CreateACHTransferRequest,
        CreateJournalRequest,
        GetJournalsRequest,
        UpdatableContact,
        UpdateAccountRequest,
    )
    from alpaca.trading.enums import AccountStatus

    client = _broker(emu)
    account = _new_account(client)
    assert account.status is AccountStatus.ACTIVE and len(client.list_accounts()) == 2
    assert client.get_account_by_id(account.id).identity.given_name == "Py"
    change = UpdateAccountRequest(contact=UpdatableContact(city="Oakland"))
    updated = client.update_account(account.id, change)
    assert updated.contact.city == "Oakland"
    ach = client.create_ach_relationship_for_account(account.id, CreateACHRelationshipRequest(
        account_owner_name="Py Test", bank_account_type=BankAccountType.CHECKING,
        bank_account_number="32131231abc", bank_routing_number="121000358"))
    assert [r.id for r in client.get_ach_relationships_for_account(account.id)] == [ach.id]
    for amount in ("100", "200", "300"):
        client.create_transfer_for_account(account.id, CreateACHTransferRequest(
            amount=amount, direction=TransferDirection.INCOMING, timing=TransferTiming.IMMEDIATE,
            relationship_id=ach.id))
    outgoing = client.create_transfer_for_account(account.id, CreateACHTransferRequest(
        amount="50", direction=TransferDirection.OUTGOING, timing=TransferTiming.IMMEDIATE,
        relationship_id=ach.id))
    transfers = client.get_transfers_for_account(account.id)    # the offset paginator ends
    assert sorted(float(t.amount) for t in transfers) == [50.0, 100.0, 200.0, 300.0]
    client.cancel_transfer_for_account(account.id, outgoing.id)
    assert float(client.get_trade_account_by_id(account.id).cash) == 600
    client.delete_ach_relationship_for_account(account.id, ach.id)
    seeded = next(a for a in client.list_accounts() if a.id != account.id)
    journal = client.create_journal(CreateJournalRequest(from_account=seeded.id, to_account=account.id,
                                                         entry_type="JNLC", amount=25))
    assert client.get_journal_by_id(journal.id).status.value == "executed"
    assert [j.id for j in client.get_journals(GetJournalsRequest(entry_type="JNLC"))] == [journal.id]
    pending = client.create_journal(CreateJournalRequest(from_account=seeded.id, to_account=account.id,
                                                         entry_type="JNLC", amount=5,
                                                         description="/fixtures/status=pending/"))
    client.cancel_journal_by_id(pending.id)
    assert client.get_journal_by_id(pending.id).status.value == "canceled"
    client.close_account(account.id)
    assert client.get_account_by_id(account.id).status is AccountStatus.ACCOUNT_CLOSED


def test_alpaca_py_broker_trading_activities_events(emu: Emulator) -> None:
    from alpaca.broker.requests import GetAccountActivitiesRequest, GetEventsRequest
    from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

    client = _broker(emu)
    account = client.list_accounts()[0]
    assert client.get_clock().is_open is True and len(client.get_calendar()) > 0
    assert client.get_asset("AAPL").symbol == "AAPL" and len(client.get_all_assets()) > 0
    for sym in ("AAPL", "MSFT", "SPY"):
        client.submit_order_for_account(account.id, MarketOrderRequest(
            symbol=sym, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    limit = client.submit_order_for_account(account.id, LimitOrderRequest(
        symbol="TSLA", qty=1, side=OrderSide.BUY, limit_price=5, time_in_force=TimeInForce.GTC))
    assert client.get_order_for_account_by_id(account.id, limit.id).id == limit.id
    client.cancel_order_for_account_by_id(account.id, limit.id)
    orders = client.get_orders_for_account(account.id, GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert len(orders) == 4
    assert client.get_open_position_for_account(account.id, "MSFT").qty == "1"
    assert len(client.get_all_positions_for_account(account.id)) == 3
    client.close_position_for_account(account.id, "SPY")
    assert len(client.get_all_positions_for_account(account.id)) == 2
    assert client.get_trade_configuration_for_account(account.id).fractional_trading is True
    # activities page by page_size / page_token until the server has no more
    pages = list(client.get_account_activities(GetAccountActivitiesRequest(page_size=2),
                                               handle_pagination="iterator"))
    assert [len(p) for p in pages] == [2, 2]
    history = client.get_portfolio_history_for_account(account.id)
    assert len(history.equity) == len(history.timestamp)
    since = GetEventsRequest(since=TODAY - timedelta(days=1), until=TODAY)
    trades = [json.loads(e) for e in client.get_trade_events(since)]
    assert {t["event"] for t in trades} == {"new", "fill", "canceled"}
    assert all(t["event_ulid"] and isinstance(t["event_id"], int) for t in trades)
    statuses = [json.loads(e) for e in client.get_account_status_events(since)]
    assert [(s["status_from"], s["status_to"]) for s in statuses] == [("SUBMITTED", "APPROVED"),
                                                                      ("APPROVED", "ACTIVE")]
