"""Host roles the emulator serves, one loopback port each, and which environment each belongs to.

Fixed role order (``port_base=N`` gives role *i* the port ``N + i``)::

    0 trading-live    1 trading-paper   2 data          3 data-sandbox
    4 broker-live     5 broker-sandbox  6 authx-live    7 authx-sandbox   8 admin

Each role stands in for one Alpaca host (alpaca-auth.md §1). Credentials are tied to one
environment: a role only accepts credentials of the environments listed in
:data:`ROLE_ENVS` (paper keys on live trading get Alpaca's 401, and so on).
"""

from __future__ import annotations

from alpaca_tui.core.environments import Api, Env

TRADING_LIVE = "trading-live"
TRADING_PAPER = "trading-paper"
DATA = "data"
DATA_SANDBOX = "data-sandbox"
BROKER_LIVE = "broker-live"
BROKER_SANDBOX = "broker-sandbox"
AUTHX_LIVE = "authx-live"
AUTHX_SANDBOX = "authx-sandbox"
ADMIN = "admin"

ROLES: tuple[str, ...] = (
    TRADING_LIVE, TRADING_PAPER, DATA, DATA_SANDBOX, BROKER_LIVE, BROKER_SANDBOX,
    AUTHX_LIVE, AUTHX_SANDBOX, ADMIN,
)
API_ROLES: tuple[str, ...] = ROLES[:-1]

# What kind of Alpaca host a role is.
ROLE_KIND: dict[str, str] = {
    TRADING_LIVE: "trading", TRADING_PAPER: "trading",
    DATA: "data", DATA_SANDBOX: "data",
    BROKER_LIVE: "broker", BROKER_SANDBOX: "broker",
    AUTHX_LIVE: "authx", AUTHX_SANDBOX: "authx",
    ADMIN: "admin",
}

# Environments whose credentials a role accepts. Production data serves live and paper
# trading keys and broker-live credentials; the sandbox data host is for broker sandbox only
# (paper keys get a 401 there, alpaca-auth.md §1).
ROLE_ENVS: dict[str, frozenset[Env]] = {
    TRADING_LIVE: frozenset({Env.LIVE}),
    TRADING_PAPER: frozenset({Env.PAPER}),
    DATA: frozenset({Env.LIVE, Env.PAPER, Env.BROKER_LIVE}),
    DATA_SANDBOX: frozenset({Env.BROKER_SANDBOX}),
    BROKER_LIVE: frozenset({Env.BROKER_LIVE}),
    BROKER_SANDBOX: frozenset({Env.BROKER_SANDBOX}),
    AUTHX_LIVE: frozenset({Env.BROKER_LIVE}),
    AUTHX_SANDBOX: frozenset({Env.BROKER_SANDBOX}),
    ADMIN: frozenset(),
}

# The real Alpaca origin each role stands in for (an assertion's ``aud`` may name either this
# or the emulator's own loopback URL).
REAL_ORIGIN: dict[str, str] = {
    TRADING_LIVE: "https://api.alpaca.markets",
    TRADING_PAPER: "https://paper-api.alpaca.markets",
    DATA: "https://data.alpaca.markets",
    DATA_SANDBOX: "https://data.sandbox.alpaca.markets",
    BROKER_LIVE: "https://broker-api.alpaca.markets",
    BROKER_SANDBOX: "https://broker-api.sandbox.alpaca.markets",
    AUTHX_LIVE: "https://authx.alpaca.markets",
    AUTHX_SANDBOX: "https://authx.sandbox.alpaca.markets",
}

# Env -> {Api: role}: which role stands in for each API of an environment.
ENV_ROLES: dict[Env, dict[Api, str]] = {
    Env.LIVE: {Api.TRADING: TRADING_LIVE, Api.DATA: DATA},
    Env.PAPER: {Api.TRADING: TRADING_PAPER, Api.DATA: DATA},
    Env.BROKER_LIVE: {Api.BROKER: BROKER_LIVE, Api.DATA: DATA, Api.AUTH: AUTHX_LIVE},
    Env.BROKER_SANDBOX: {Api.BROKER: BROKER_SANDBOX, Api.DATA: DATA_SANDBOX, Api.AUTH: AUTHX_SANDBOX},
}

# Default rate limits per key per minute (alpaca-auth.md §3): trading and data 200, broker
# 1000. The token endpoint's limit is UNCONFIRMED; it gets the broker figure.
BROKER_DEFAULT_RATE = 1000


def check_role(role: str, *, allow_admin: bool = False) -> str:
    if role not in ROLES or (role == ADMIN and not allow_admin):
        choices = ", ".join(API_ROLES)
        raise ValueError(f"unknown emulator role {role!r} (choose from {choices})")
    return role
