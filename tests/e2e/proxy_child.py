"""A program run by ``alpaca-tui exec NAME --proxy -- python proxy_child.py SCENARIO``: real
Alpaca SDKs built from the variables the proxy hands over (placeholder keys, loopback URLs).
It prints one JSON object with what it saw; any SDK error makes it exit non-zero.

Scenarios: ``broker`` (alpaca-py BrokerClient), ``trading`` (alpaca-py TradingClient and
StockHistoricalDataClient, alpaca-trade-api REST() from its own variables), ``streams``
(alpaca-py TradingStream + StockDataStream, alpaca-trade-api Stream), ``loop SECONDS``
(BrokerClient calls back to back), ``wait`` (print the pid, wait for a line on stdin).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

ENV = os.environ


def out(obj: Any) -> None:
    print(json.dumps(obj, default=str), flush=True)


def broker_client() -> Any:
    from alpaca.broker.client import BrokerClient

    return BrokerClient(
        ENV["APCA_API_KEY_ID"],
        ENV["APCA_API_SECRET_KEY"],
        sandbox=True,
        url_override=ENV["ALPACA_BROKER_BASE_URL"],
    )


def account_request() -> Any:
    from alpaca.broker.enums import AgreementType, FundingSource, TaxIdType
    from alpaca.broker.models import Agreement, Contact, Disclosures, Identity
    from alpaca.broker.requests import CreateAccountRequest

    return CreateAccountRequest(
        contact=Contact(
            email_address="jo@example.com",
            phone_number="555-666-7788",
            street_address=["20 N San Mateo Dr"],
            city="San Mateo",
            state="CA",
            postal_code="94401",
            country="USA",
        ),
        identity=Identity(
            given_name="Jo",
            family_name="Doe",
            date_of_birth="1990-01-01",
            tax_id="666-55-4321",
            tax_id_type=TaxIdType.USA_SSN,
            country_of_citizenship="USA",
            country_of_birth="USA",
            country_of_tax_residence="USA",
            funding_source=[FundingSource.EMPLOYMENT_INCOME],
        ),
        disclosures=Disclosures(
            is_control_person=False,
            is_affiliated_exchange_or_finra=False,
            is_politically_exposed=False,
            immediate_family_exposed=False,
        ),
        agreements=[
            Agreement(
                agreement=AgreementType.CUSTOMER, signed_at="2020-09-11T18:09:33Z", ip_address="185.13.21.99"
            )
        ],
    )


def relationship(client: Any, account_id: Any) -> str:
    """An ACH relationship for the account (a transfer needs one)."""
    from alpaca.broker.enums import BankAccountType
    from alpaca.broker.requests import CreateACHRelationshipRequest

    rel = client.create_ach_relationship_for_account(account_id, CreateACHRelationshipRequest(
        account_owner_name="Jo Doe", bank_account_type=BankAccountType.CHECKING,
        bank_account_number="32131231abc", bank_routing_number="123103716"))
    return str(rel.id)


def broker() -> None:
    from alpaca.broker.enums import JournalEntryType, TransferDirection, TransferTiming
    from alpaca.broker.requests import CreateACHTransferRequest, CreateJournalRequest
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    client = broker_client()
    before = client.list_accounts()
    created = client.create_account(account_request())
    after = client.list_accounts()
    transfer = client.create_transfer_for_account(
        created.id,
        CreateACHTransferRequest(
            amount="100",
            direction=TransferDirection.INCOMING,
            timing=TransferTiming.IMMEDIATE,
            relationship_id=relationship(client, created.id),
        ),
    )
    transfers = client.get_transfers_for_account(created.id)     # alpaca-py's paginator
    journal = client.create_journal(
        CreateJournalRequest(
            from_account=before[0].id, to_account=created.id, entry_type=JournalEntryType.CASH, amount=50
        )
    )
    order = client.submit_order_for_account(
        before[0].id,
        MarketOrderRequest(  # crypto fills at any hour
            symbol="BTC/USD", qty=0.01, side=OrderSide.BUY, time_in_force=TimeInForce.GTC
        ),
    )
    from alpaca.broker.requests import GetEventsRequest

    events = []   # the history since 2020: the accounts' status changes, the new one's included
    for event in client.get_account_status_events(GetEventsRequest(since="2020-01-01")):
        events.append(json.loads(event.data) if hasattr(event, "data") else event)
        if len(events) >= 2:
            break
    out(
        {
            "accounts_before": len(before),
            "accounts_after": len(after),
            "created": created.id,
            "created_status": created.status.value,
            "transfer": transfer.id,
            "transfers": len(transfers),
            "journal_status": journal.status.value,
            "order_status": order.status.value,
            "events": events,
        }
    )


def trading() -> None:
    import alpaca_trade_api as tradeapi
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockLatestBarRequest
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    key, secret = ENV["APCA_API_KEY_ID"], ENV["APCA_API_SECRET_KEY"]
    tc = TradingClient(key, secret, paper=True, url_override=ENV["APCA_API_BASE_URL"])
    account = tc.get_account()
    order = tc.submit_order(
        MarketOrderRequest(symbol="MSFT", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    data = StockHistoricalDataClient(key, secret, url_override=ENV["APCA_API_DATA_URL"])
    bars = data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    rest = tradeapi.REST()  # APCA_API_KEY_ID, APCA_API_SECRET_KEY, APCA_API_BASE_URL, ..._DATA_URL
    out(
        {
            "account": account.account_number,
            "order_status": order.status.value,
            "bar_symbols": sorted(bars),
            "ata_account": rest.get_account().account_number,
            "ata_positions": [(p.symbol, p.qty) for p in rest.list_positions()],
            "ata_bar_close": rest.get_latest_bar("AAPL").c,
        }
    )


def _place_orders_until(symbol: str, got: list[Any]) -> None:
    """An order every second until updates arrive (the stream may still be connecting)."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    def place() -> None:
        client = TradingClient(
            ENV["APCA_API_KEY_ID"],
            ENV["APCA_API_SECRET_KEY"],
            paper=True,
            url_override=ENV["APCA_API_BASE_URL"],
        )
        for _ in range(15):
            time.sleep(1.0)
            if got:
                return
            client.submit_order(
                MarketOrderRequest(symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
            )

    threading.Thread(target=place, daemon=True).start()


def _stop_after(seconds: float, stop: Any) -> None:
    threading.Timer(seconds, stop).start()


def py_streams(result: dict[str, Any]) -> None:
    from alpaca.data.live import StockDataStream
    from alpaca.trading.stream import TradingStream

    key, secret = ENV["APCA_API_KEY_ID"], ENV["APCA_API_SECRET_KEY"]
    ws_trading = ENV["APCA_API_BASE_URL"].replace("http://", "ws://") + "/stream"
    ts = TradingStream(key, secret, paper=True, url_override=ws_trading)
    result["py_updates"] = []

    async def on_update(update: Any) -> None:
        result["py_updates"].append([str(getattr(update.event, "value", update.event)), update.order.symbol])
        if len(result["py_updates"]) >= 2:
            await ts.stop_ws()

    ts.subscribe_trade_updates(on_update)
    _place_orders_until("NVDA", result["py_updates"])
    _stop_after(20, ts.stop)
    ts.run()
    ds = StockDataStream(
        key, secret, url_override=ENV["APCA_API_STREAM_URL"].replace("http://", "ws://") + "/v2/iex"
    )
    result["py_bars"] = []

    async def on_bar(bar: Any) -> None:
        result["py_bars"].append([bar.symbol, bar.close, bar.timestamp.isoformat()])
        if len(result["py_bars"]) >= 3:
            await ds.stop_ws()

    ds.subscribe_bars(on_bar, "AAPL")
    _stop_after(20, ds.stop)
    ds.run()


def ata_stream(result: dict[str, Any]) -> None:
    import alpaca_trade_api as tradeapi

    stream = tradeapi.Stream(data_feed="iex")  # APCA_API_BASE_URL (/stream), APCA_API_STREAM_URL (/v2/iex)
    result["ata_updates"], result["ata_bars"] = [], []

    async def on_update(update: Any) -> None:
        result["ata_updates"].append([update.event, update.order["symbol"]])
        done()

    async def on_bar(bar: Any) -> None:
        result["ata_bars"].append([bar.symbol, bar.close])
        done()

    def done() -> None:
        if len(result["ata_updates"]) >= 2 and len(result["ata_bars"]) >= 2:
            threading.Thread(target=stream.stop, daemon=True).start()

    stream.subscribe_trade_updates(on_update)
    stream.subscribe_bars(on_bar, "SPY")
    _place_orders_until("TSLA", result["ata_updates"])
    _stop_after(20, stream.stop)
    stream.run()


def streams() -> None:
    result: dict[str, Any] = {}
    py_streams(result)
    ata_stream(result)
    out(result)


def loop(seconds: float) -> None:
    client = broker_client()
    calls, errors = 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            client.list_accounts()
        except Exception as exc:  # the test counts these: there must be none
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        calls += 1
        time.sleep(0.1)
    out({"calls": calls, "errors": errors})


def wait() -> None:
    out({"pid": os.getpid()})
    sys.stdin.readline()


if __name__ == "__main__":
    scenario = sys.argv[1]
    if scenario == "loop":
        loop(float(sys.argv[2]))
    else:
        {"broker": broker, "trading": trading, "streams": streams, "wait": wait}[scenario]()
