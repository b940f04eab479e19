"""Which broker-credential scope an API path needs (for pre-flight warnings and 403 hints).

Broker credentials carry a 10-scope x {rw, ro, none} access matrix (alpaca-auth.md §2,
[CRED]). Alpaca does not publish a route -> scope table; this one is our reading of the
Broker API reference, grouped the way the dashboard names the scopes (UNCONFIRMED in the
details, so it only ever *warns* and names the likely scope; ``--force`` sends anyway).
It is independent from the emulator's own table on purpose.

``required_scope(api, method, path)`` returns ``(scope, write)`` where ``write`` is True
for POST/PUT/PATCH/DELETE, or None when the path needs no scope we know of (trading keys
have no matrix; reference data such as /v1/assets or /v1/calendar is left unscoped).
"""

from __future__ import annotations

import re

from alpaca_tui.core.environments import Api
from alpaca_tui.core.scopes import Scope

WRITE_METHODS: frozenset[str] = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_SEG = r"[^/]+"

# Order matters: the first match wins (specific sub-resources before /v1/accounts...).
_BROKER_RULES: tuple[tuple[re.Pattern[str], Scope], ...] = tuple(
    (re.compile(pattern), scope)
    for pattern, scope in (
        # SSE event streams
        (r"^/v[12](?:beta\d*)?/events(?:/|$)", Scope.SSE_EVENTS),
        # journals (cash / security movements between accounts)
        (r"^/v1/journals(?:/|$)", Scope.JOURNALING),
        # crypto wallets (before funding: /wallets/transfers is a crypto transfer)
        (rf"^/v1/accounts/{_SEG}/wallets(?:/|$)", Scope.CRYPTO),
        (r"^/v1/wallets(?:/|$)", Scope.CRYPTO),
        (r"^/v1/(?:beta/)?crypto(?:/|$|_)", Scope.CRYPTO),
        # funding: transfers, bank relationships
        (r"^/v1/transfers(?:/|$)", Scope.FUNDING),
        (rf"^/v1/accounts/{_SEG}/(?:transfers|ach_relationships|recipient_banks)(?:/|$)", Scope.FUNDING),
        (r"^/v1/(?:ach_relationships|recipient_banks|instant_funding)(?:/|$)", Scope.FUNDING),
        # trading on behalf of an account
        (r"^/v1/trading/accounts(?:/|$)", Scope.TRADING),
        # rebalancing (portfolios, subscriptions, runs)
        (r"^/v1/(?:beta/)?rebalancing(?:/|$)", Scope.REBALANCING),
        # reporting: documents, activities, reports, trade confirmations
        (rf"^/v1/accounts/{_SEG}/documents(?:/|$)", Scope.REPORTING),
        (r"^/v1/accounts/activities(?:/|$)", Scope.REPORTING),
        (rf"^/v1/accounts/{_SEG}/activities(?:/|$)", Scope.REPORTING),
        (r"^/v1/(?:documents|reports|trade_confirmations|statements)(?:/|$)", Scope.REPORTING),
        # administration: correspondent configuration
        (r"^/v1/(?:correspondents|admin|config|configuration)(?:/|$)", Scope.ADMIN),
        # accounts (everything else under /v1/accounts)
        (r"^/v1/accounts(?:/|$)", Scope.ACCOUNTS),
    )
)


def normalize_path(path: str) -> str:
    """Strip the query string, fragment and a trailing slash; make sure it starts with '/'."""
    p = path.split("?", 1)[0].split("#", 1)[0].strip()
    if not p.startswith("/"):
        p = "/" + p
    p = re.sub(r"/{2,}", "/", p)
    if len(p) > 1:
        p = p.rstrip("/")
    return p


def is_write(method: str) -> bool:
    return method.strip().upper() in WRITE_METHODS


def required_scope(api: Api, method: str, path: str) -> tuple[Scope, bool] | None:
    """The scope (and whether it is a write) a broker credential needs for this call."""
    write = is_write(method)
    if api is Api.DATA:
        return Scope.DATA, write
    if api is not Api.BROKER:
        return None
    p = normalize_path(path)
    for pattern, scope in _BROKER_RULES:
        if pattern.search(p):
            return scope, write
    return None


def describe_requirement(scope: Scope, write: bool) -> str:
    """'Funding (read-write)' / 'Accounts (read-only)'."""
    return f"{scope.label} ({'read-write' if write else 'read-only'})"
