"""The Broker API's event streams (SSE) over real loopback HTTP: events come from real state
changes (an account opened or closed, a transfer, an ACH relationship, a journal, an order), each
stream sends its own payload with ``event_ulid`` (v1) or a ULID ``event_id`` (v2), statuses
inside the spec's enums, and ``since`` / ``until`` / ``since_id`` / ``since_ulid`` / ``id`` are
honoured as the spec states them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from alpaca_tui.emulator.eventlog import EventLog, ulid
from tests import openapi_spec as spec
from tests.emulator_fixtures import http_client, legacy_headers

DAY1 = 1_800_025_200.0            # 2027-01-15 10:00 New York (a Friday, market open)
DAY2 = DAY1 + 3 * 86400           # 2027-01-18 10:00 (Monday)
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
SCHEMAS = spec.document("broker")["components"]["schemas"]


class Broker:
    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu, self.http = emu, http
        key = emu.create_credential(Env.BROKER_SANDBOX, Flow.LEGACY)
        self.h = legacy_headers(key.key_id, key.secret)

    def call(self, method: str, path: str, body: Any = None, **query: str) -> httpx.Response:
        return self.http.request(method, self.emu.urls["broker-sandbox"] + path, headers=self.h,
                                 json=body, params=query or None)

    def events(self, path: str, **query: str) -> list[dict[str, Any]]:
        r = self.call("GET", path, **query)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
        ids = [line[4:] for line in r.text.splitlines() if line.startswith("id: ")]
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        assert ids == [str(e["event_id"]) for e in events]
        return events


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DAY1)


@pytest.fixture
def broker(clock: FakeClock) -> Iterator[Broker]:
    with Emulator(clock=clock) as emu, http_client(timeout=5) as http:
        yield Broker(emu, http)


def _day1_and_day2(broker: Broker, clock: FakeClock) -> dict[str, Any]:
    """Day 1: open an account, fund it through an ACH relationship, buy; day 2: a journal, close."""
    made: dict[str, Any] = {}
    made["acct"] = broker.call("POST", "/v1/accounts", {"contact": {"email_address": "e@example.com"}}).json()
    aid = made["acct"]["id"]
    rel = broker.call("POST", f"/v1/accounts/{aid}/ach_relationships", {
        "account_owner_name": "E", "bank_account_type": "SAVINGS", "bank_account_number": "1",
        "bank_routing_number": "121000358"}).json()
    made["transfer"] = broker.call("POST", f"/v1/accounts/{aid}/transfers", {
        "transfer_type": "ach", "relationship_id": rel["id"], "amount": "500", "direction": "INCOMING",
        "timing": "immediate"}).json()
    made["order"] = broker.call("POST", f"/v1/trading/accounts/{aid}/orders", {
        "symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}).json()
    clock.advance(DAY2 - DAY1)
    seeded = next(a for a in broker.call("GET", "/v1/accounts").json() if a["id"] != aid)
    made["journal"] = broker.call("POST", "/v1/journals", {
        "entry_type": "JNLC", "from_account": aid, "to_account": seeded["id"], "amount": "20"}).json()
    assert broker.call("POST", f"/v1/accounts/{aid}/actions/close").status_code == 204
    return made


def test_state_changes_produce_each_streams_own_events(broker: Broker, clock: FakeClock) -> None:
    made = _day1_and_day2(broker, clock)
    aid = made["acct"]["id"]
    accounts = broker.events("/v1/events/accounts/status", since="2027-01-01")
    mine = [(e["status_from"], e["status_to"]) for e in accounts if e["account_id"] == aid]
    assert mine == [("SUBMITTED", "APPROVED"), ("APPROVED", "ACTIVE"), ("ACTIVE", "ACCOUNT_CLOSED")]
    enum = set(SCHEMAS["AccountStatus"]["enum"])
    assert all({e["status_from"], e["status_to"]} <= enum for e in accounts)
    assert [e["event_id"] for e in accounts] == list(range(1, len(accounts) + 1))
    transfers = broker.events("/v1/events/transfers/status", since="2027-01-01")
    assert [(e["transfer_id"], e["status_from"], e["status_to"]) for e in transfers] == [
        (made["transfer"]["id"], "QUEUED", "SENT_TO_CLEARING"),
        (made["transfer"]["id"], "SENT_TO_CLEARING", "COMPLETE")]
    trades = broker.events("/v1/events/trades", since="2027-01-01")
    assert [(e["event"], e["order"]["id"]) for e in trades] == [("new", made["order"]["id"]),
                                                                ("fill", made["order"]["id"])]
    assert trades[1]["price"] and trades[1]["position_qty"] == "1"
    journals = broker.events("/v2/events/journals/status", since="2027-01-01")
    assert [(e["journal_id"], e["status_from"], e["status_to"]) for e in journals] == [
        (made["journal"]["id"], "queued", "executed")]
    assert ULID.match(journals[0]["event_id"]) and "event_ulid" not in journals[0]
    nta = broker.events("/v1/events/nta", since="2027-01-01")
    assert [(e["entry_type"], e["net_amount"]) for e in nta if e["account_id"] == aid] == [
        ("CSD", 500.0), ("JNLC", -20.0)]
    funding = broker.events("/v2/events/funding/status", since="2027-01-01")
    assert [(e["entity_type"], e["status_to"]) for e in funding] == [
        ("ach_relationship", "APPROVED"), ("transfer", "SENT_TO_CLEARING"), ("transfer", "COMPLETE")]
    for stream in (accounts, transfers, trades, nta):
        assert all(ULID.match(e["event_ulid"]) for e in stream)
    assert broker.events("/v2/events/system", since="2027-01-01") == []   # no end-of-day runs here


def test_queries_since_until_ids_and_ulids(broker: Broker, clock: FakeClock) -> None:
    made = _day1_and_day2(broker, clock)
    path = "/v1/events/accounts/status"
    every = broker.events(path, since="2027-01-01")
    assert broker.events(path) == []                                   # no since*: no history
    day1 = broker.events(path, since="2027-01-15", until="2027-01-15")
    day2 = broker.events(path, since="2027-01-18T00:00:00-05:00")
    assert day1 + day2 == every and [e["status_to"] for e in day2] == ["ACCOUNT_CLOSED"]
    assert broker.events(path, since_id="3", until_id="4") == every[2:4]
    assert broker.events(path, since_ulid=every[-2]["event_ulid"]) == every[-2:]
    assert broker.events(path, since="2027-01-01", id=made["acct"]["id"]) == [
        e for e in every if e["account_id"] == made["acct"]["id"]]
    v2 = broker.events("/v2/events/trades", since="2027-01-01")
    assert broker.events("/v2/events/trades", since_id=v2[1]["event_id"]) == v2[1:]
    for query in ({"until": "2027-01-20"}, {"since": "2027-01-01", "since_id": "1"},
                  {"since": "yesterday"}, {"since_id": "one"}):
        r = broker.call("GET", path, **query)
        assert r.status_code == 400 and r.json()["code"] == 40010001, query


def test_ulids_sort_in_time_and_stay_unique_within_a_millisecond() -> None:
    assert ulid(0, 0) == "0" * 26 and ULID.match(ulid(DAY1))
    assert ulid(DAY1, 1) < ulid(DAY1 + 0.001, 0)
    log = EventLog()
    ids = [log.emit("accounts", {}, DAY1).ulid for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert [e.seq for e in log.of("accounts")] == list(range(1, 51))
    with pytest.raises(ValueError):
        log.emit("nope", {}, DAY1)
