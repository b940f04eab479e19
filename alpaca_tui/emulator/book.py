"""The fake back office: every account the emulator keeps (:class:`Book`), per host role: one
trading account per trading host; per broker host its customer accounts (each with its
contact), journals, rebalancing portfolios and :class:`~.events.EventLog`.

Broker customer accounts are opened through :meth:`Book.open_account`, which wires the account's
trade events to its host's event log and records the account's status events.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from alpaca_tui.emulator.accounts import Account
from alpaca_tui.emulator.eventlog import EventLog
from alpaca_tui.emulator.market import rfc3339
from alpaca_tui.emulator.roles import BROKER_LIVE, BROKER_SANDBOX, TRADING_LIVE, TRADING_PAPER

BROKER_ROLES = (BROKER_LIVE, BROKER_SANDBOX)

DEMO_CONTACT: dict[str, Any] = {
    "email_address": "customer@example.com", "phone_number": "+15555550123",
    "street_address": ["20 N San Mateo Dr"], "city": "San Mateo", "state": "CA", "postal_code": "94401",
    "country": "USA",
}
DEMO_IDENTITY: dict[str, Any] = {
    "given_name": "Emulated", "family_name": "Customer", "date_of_birth": "1990-01-01",
    "tax_id_type": "NOT_SPECIFIED", "country_of_tax_residence": "USA",
    "funding_source": ["employment_income"],
}


def complete_contact(contact: dict[str, Any]) -> dict[str, Any]:
    """Fill the address fields Alpaca's Contact model requires with demo values."""
    out = {**DEMO_CONTACT, **{k: v for k, v in contact.items() if v is not None}}
    if not isinstance(out.get("street_address"), list):
        out["street_address"] = [str(out["street_address"])]
    return out


class Book:
    """Every account the emulator keeps, plus the broker hosts' contacts, journals, portfolios
    and event logs."""

    def __init__(self, now: float) -> None:
        self.lock = threading.RLock()
        self.trading = {
            TRADING_PAPER: Account("PALPACA_123", now),
            TRADING_LIVE: Account("ALPACA_123", now, cash="25000"),
        }
        self.broker: dict[str, dict[str, Account]] = {role: {} for role in BROKER_ROLES}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}    # identity etc. given at account creation
        self.journals: dict[str, list[dict[str, Any]]] = {role: [] for role in BROKER_ROLES}
        self.portfolios: dict[str, list[dict[str, Any]]] = {role: [] for role in BROKER_ROLES}
        self.events: dict[str, EventLog] = {role: EventLog() for role in BROKER_ROLES}
        for role in BROKER_ROLES:
            self.open_account(role, dict(DEMO_CONTACT), now, cash="50000")

    def open_account(self, role: str, contact: dict[str, Any], now: float, *, cash: str = "0",
                     extra: dict[str, Any] | None = None) -> Account:
        """A new ACTIVE customer account on ``role`` (SUBMITTED -> APPROVED -> ACTIVE events)."""
        with self.lock:
            accounts = self.broker[role]
            prefix = "LA" if role == BROKER_LIVE else "SB"
            acct = Account(f"{prefix}{len(accounts) + 1:010d}", now, cash=cash)
            log = self.events[role]
            acct.emit = log.emit
            accounts[acct.id] = acct
            self.contacts[acct.id] = complete_contact(contact)
            self.profiles[acct.id] = dict(extra or {})
        for old, new in (("SUBMITTED", "APPROVED"), ("APPROVED", "ACTIVE")):
            self.account_event(role, acct, old, new, now)
        return acct

    def account_event(self, role: str, acct: Account, old: str, new: str, now: float) -> None:
        self.events[role].emit("accounts", {"account_id": acct.id, "account_number": acct.number,
                                            "status_from": old, "status_to": new}, now)


def broker_account(book: Book, acct: Account, *, extended: bool = True) -> dict[str, Any]:
    """A Broker API account: the spec's ``Account`` (``extended``: ``AccountExtended``)."""
    profile = book.profiles.get(acct.id, {})
    out: dict[str, Any] = {
        "id": acct.id, "account_number": acct.number, "status": acct.status, "crypto_status": acct.status,
        "currency": "USD", "last_equity": format(acct.cash.quantize(Decimal("0.01")), "f"),
        "created_at": rfc3339(acct.created_at), "account_type": "trading",
        "enabled_assets": ["us_equity", "crypto"], "contact": book.contacts.get(acct.id, DEMO_CONTACT),
        "identity": {**DEMO_IDENTITY, **profile.get("identity", {})},
    }
    if extended:
        out["trading_configurations"] = broker_configurations(acct)
    return out


def broker_configurations(acct: Account) -> dict[str, Any]:
    """The account's configurations as the Broker API shows them: its ``AccountConfigurations``
    types ``ptp_no_exception_entry`` as a string (``"false"``) where the Trading API's is a boolean
    (alpaca-py reads either)."""
    out = dict(acct.configurations)
    out["ptp_no_exception_entry"] = str(bool(out.get("ptp_no_exception_entry"))).lower()
    return out
