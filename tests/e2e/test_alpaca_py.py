"""The official ``alpaca-py`` SDK against the emulator (``url_override``): its pydantic models
must parse every answer, and its ``APIError`` must carry Alpaca's codes. This is the check that
the emulator's responses are shaped like Alpaca's, not just like our own expectations."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

pytest.importorskip("alpaca")

from alpaca.broker.client import BrokerClient  # noqa: E402
from alpaca.common.exceptions import APIError  # noqa: E402
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient  # noqa: E402
from alpaca.data.requests import (  # noqa: E402
    CryptoLatestBarRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
)
from alpaca.trading.client import TradingClient  # noqa: E402
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce  # noqa: E402
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest  # noqa: E402

from alpaca_tui.core.clock import FakeClock  # noqa: E402
from alpaca_tui.core.credentials import Flow  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.emulator import Emulator  # noqa: E402

# 2027-01-15 15:00 UTC = 10:00 New York: the market is open, so market orders fill.
OPEN = 1_800_025_200.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(OPEN)) as e:
        yield e


@pytest.fixture
def paper(emu: Emulator):
    return emu.create_credential(Env.PAPER, Flow.LEGACY)


def trading(emu: Emulator, cred, role: str = "trading-paper") -> TradingClient:
    return TradingClient(cred.key_id, cred.secret, paper=True, url_override=emu.urls[role])


def test_trading_client_account_clock_and_assets(emu: Emulator, paper) -> None:
    client = trading(emu, paper)
    account = client.get_account()
    assert isinstance(account.id, UUID)
    assert account.account_number == "PALPACA_123"
    assert account.status.value == "ACTIVE" and account.currency == "USD"
    assert float(account.cash) > 0 and float(account.buying_power) > 0
    clock = client.get_clock()
    assert clock.is_open is True and clock.next_close > clock.timestamp
    asset = client.get_asset("AAPL")
    assert asset.symbol == "AAPL" and asset.tradable


def test_trading_client_orders(emu: Emulator, paper) -> None:
    client = trading(emu, paper)
    order = client.submit_order(MarketOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.DAY))
    assert order.symbol == "AAPL" and order.status is OrderStatus.FILLED
    assert float(order.filled_qty) == 2 and float(order.filled_avg_price) > 0
    limit = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=10,
                                                  time_in_force=TimeInForce.GTC, client_order_id="tui-1"))
    assert limit.status is OrderStatus.NEW and limit.client_order_id == "tui-1"
    open_orders = client.get_orders()
    assert [o.id for o in open_orders] == [limit.id]
    every = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert {o.id for o in every} == {order.id, limit.id}
    assert client.get_order_by_id(limit.id).id == limit.id
    client.cancel_order_by_id(limit.id)
    assert client.get_order_by_id(limit.id).status is OrderStatus.CANCELED
    positions = client.get_all_positions()
    assert [(p.symbol, p.qty) for p in positions] == [("AAPL", "2")]
    with pytest.raises(APIError) as err:
        client.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=10,
                                              time_in_force=TimeInForce.GTC, client_order_id="tui-1"))
    assert err.value.status_code == 422 and err.value.code == 40010001


def test_wrong_key_raises_api_error_40110000(emu: Emulator, paper) -> None:
    client = TradingClient(paper.key_id, "not-the-secret", paper=True, url_override=emu.urls["trading-paper"])
    with pytest.raises(APIError) as err:
        client.get_account()
    assert err.value.status_code == 401
    assert err.value.code == 40110000 and err.value.message == "request is not authorized"


def test_live_key_with_paper_client_is_40110000(emu: Emulator) -> None:
    # alpaca-py #519: a live key with the default paper=True gets 40110000
    live = emu.create_credential(Env.LIVE, Flow.LEGACY)
    with pytest.raises(APIError) as err:
        trading(emu, live).get_account()
    assert err.value.code == 40110000
    assert trading(emu, live, role="trading-live").get_account().account_number


def test_stock_data_client_latest_bar_and_quote(emu: Emulator, paper) -> None:
    client = StockHistoricalDataClient(paper.key_id, paper.secret, url_override=emu.urls["data"])
    bars = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    assert set(bars) == {"AAPL", "MSFT"}
    bar = bars["AAPL"]
    assert bar.symbol == "AAPL" and bar.low <= bar.close <= bar.high and bar.volume > 0
    quotes = client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
    assert quotes["AAPL"].ask_price >= quotes["AAPL"].bid_price
    bad = StockHistoricalDataClient(paper.key_id, "wrong", url_override=emu.urls["data"])
    with pytest.raises(APIError) as err:
        bad.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))
    assert err.value.code == 40110000


def test_crypto_data_client_without_keys(emu: Emulator) -> None:
    client = CryptoHistoricalDataClient(url_override=emu.urls["data"])
    bars = client.get_crypto_latest_bar(CryptoLatestBarRequest(symbol_or_symbols="BTC/USD"))
    assert bars["BTC/USD"].close > 0


def test_broker_client_with_legacy_sandbox_key(emu: Emulator) -> None:
    key = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
    client = BrokerClient(key.key_id, key.secret, sandbox=True, url_override=emu.urls["broker-sandbox"])
    accounts = client.list_accounts()
    assert len(accounts) == 1 and accounts[0].status.value == "ACTIVE"
    account = client.get_account_by_id(accounts[0].id)
    assert account.account_number == accounts[0].account_number
    trade_account = client.get_trade_account_by_id(accounts[0].id)
    assert float(trade_account.cash) > 0
    order = client.submit_order_for_account(accounts[0].id, MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    assert order.status is OrderStatus.FILLED
    assert [o.id for o in client.get_orders_for_account(accounts[0].id,
                                                        GetOrdersRequest(status=QueryOrderStatus.ALL))] \
        == [order.id]
    # "Client Secret" credentials cannot use BrokerClient's Basic auth (alpaca-py #649)
    oauth = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    with pytest.raises(APIError) as err:
        BrokerClient(oauth.key_id, oauth.secret, sandbox=True,
                     url_override=emu.urls["broker-sandbox"]).list_accounts()
    assert err.value.status_code == 401
