"""The environment ``exec`` gives a child: which variables the real Alpaca clients read, and
for which API.

Each variable is set only where its readers expect that API (a Trading URL never points at a
broker host, where alpaca-trade-api would send ``/v2/account`` and get 404):

==========================  =============================================  =====================
variable                    read by                                        API
==========================  =============================================  =====================
``APCA_API_BASE_URL``       alpaca-trade-api ``REST()`` (and its trade-    Trading (live/paper
                            updates stream ``<base>/stream``), Go SDK      profiles only)
``APCA_API_DATA_URL``       alpaca-trade-api, Go / JS SDKs                 Market Data
``APCA_API_STREAM_URL``     alpaca-trade-api ``Stream`` (``/v2/{feed}``    Market Data streams
                            appended)
``APCA_API_KEY_ID``,        alpaca-trade-api, Go / JS SDKs                 key ID + secret
``APCA_API_SECRET_KEY``
``APCA_API_OAUTH_TOKEN``    alpaca-trade-api, JS 4 (``APCA_API_OAUTH``:    an access token
                            Go, JS 3); plain ``exec`` of OAuth profiles
``ALPACA_API_KEY``,         the Alpaca CLI, alpaca-mcp-server 2.x          key ID + secret
``ALPACA_SECRET_KEY``
``ALPACA_BASE_URL``,        the Alpaca CLI                                 Trading, Market Data
``ALPACA_DATA_URL``
``ALPACA_PAPER_TRADE``      alpaca-mcp-server 2.x (``true`` = paper; it    Trading host choice
                            has no Trading URL override, so it cannot be
                            pointed at the emulator or the proxy)
``DATA_API_URL``            alpaca-mcp-server 2.x                          Market Data
``ALPACA_BROKER_BASE_URL``  no official client: pass it to alpaca-py's     Broker (broker
                            ``BrokerClient(url_override=...)``             profiles only)
==========================  =============================================  =====================

alpaca-py reads no environment variable at all: a program passes them, e.g.
``TradingClient(os.environ["APCA_API_KEY_ID"], os.environ["APCA_API_SECRET_KEY"],
url_override=os.environ["APCA_API_BASE_URL"])``.

:func:`client_environment` is the one mapping, used by plain ``exec`` (the real hosts, the
real key pair or an access token) and by ``exec --proxy`` (the proxy's loopback URLs and the
proxy run's placeholder pair).
"""

from __future__ import annotations

from dataclasses import dataclass

from alpaca_tui.core.clock import utc_from_ts
from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api, Env, resolve_endpoints
from alpaca_tui.core.oauth import AccessToken

__all__ = ["EXEC_ENV_VAR", "EXEC_PROFILE_VAR", "MANAGED_VARS", "ClientAuth", "ClientTargets",
           "client_environment", "real_targets", "stream_base", "ws_url"]

EXEC_PROFILE_VAR = "ALPACA_TUI_EXEC_PROFILE"
EXEC_ENV_VAR = "ALPACA_TUI_EXEC_ENV"
PROXY_VAR = "ALPACA_TUI_PROXY"          # "1" under exec --proxy

# Every variable exec may set; all are removed from the inherited environment first, so two
# credentials never mix.
MANAGED_VARS: tuple[str, ...] = (
    "APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_BASE_URL", "APCA_API_DATA_URL",
    "APCA_API_STREAM_URL", "APCA_API_OAUTH_TOKEN", "APCA_API_OAUTH", "ALPACA_API_KEY", "ALPACA_SECRET_KEY",
    "ALPACA_PAPER_TRADE", "ALPACA_BASE_URL", "ALPACA_DATA_URL", "DATA_API_URL", "ALPACA_BROKER_BASE_URL",
    "ALPACA_TUI_TOKEN_EXPIRES_AT", "ALPACA_TUI_TOKEN_EXPIRES_IN", EXEC_PROFILE_VAR, EXEC_ENV_VAR, PROXY_VAR,
)

# Alpaca's market-data hosts and the stream host serving each (alpaca-auth.md §1).
_STREAM_HOSTS = {
    "https://data.alpaca.markets": "wss://stream.data.alpaca.markets",
    "https://data.sandbox.alpaca.markets": "wss://stream.data.sandbox.alpaca.markets",
}


@dataclass(frozen=True)
class ClientTargets:
    """The base URLs a child's clients use: the real hosts, or the proxy's loopback ports."""

    trading: str | None = None
    data: str | None = None
    stream: str | None = None      # market-data stream base (clients append /v2/{feed})
    broker: str | None = None


@dataclass(frozen=True)
class ClientAuth:
    """What the child authenticates with: a key pair (real, or the proxy's placeholder), or
    for plain ``exec`` of an OAuth profile an access token."""

    key_id: str | None = None
    secret: str | None = None
    token: AccessToken | None = None

    def __repr__(self) -> str:
        return "ClientAuth(…)"


def stream_base(data_url: str | None) -> str | None:
    """The market-data stream base for a data host: Alpaca's stream host for Alpaca's data
    hosts; any other data URL (the emulator, the proxy, a custom host) serves its streams on
    the same origin."""
    if data_url is None:
        return None
    return _STREAM_HOSTS.get(data_url.rstrip("/"), data_url)


def ws_url(base: str) -> str:
    """``https://h`` -> ``wss://h``, ``http://h`` -> ``ws://h`` (ws URLs stay as they are)."""
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):]
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):]
    return base


def real_targets(profile: Profile) -> ClientTargets:
    """The profile's own hosts (its environment's, with its endpoint overrides)."""
    hosts = resolve_endpoints(profile.env, profile.endpoints)
    data = hosts.get(Api.DATA)
    return ClientTargets(trading=hosts.get(Api.TRADING), data=data, stream=stream_base(data),
                         broker=hosts.get(Api.BROKER))


def client_environment(profile: Profile, targets: ClientTargets, auth: ClientAuth, *, now: float,
                       proxied: bool = False) -> dict[str, str]:
    """The variables for the child (see the module doc). Nothing here is read from outside."""
    env: dict[str, str] = {EXEC_PROFILE_VAR: profile.name, EXEC_ENV_VAR: profile.env.value}
    if proxied:
        env[PROXY_VAR] = "1"
    if targets.data:
        env["APCA_API_DATA_URL"] = targets.data
        env["ALPACA_DATA_URL"] = targets.data
    if targets.stream:
        env["APCA_API_STREAM_URL"] = targets.stream
    if profile.env.is_broker:
        if targets.broker:
            env["ALPACA_BROKER_BASE_URL"] = targets.broker
    else:
        if targets.trading:
            env["APCA_API_BASE_URL"] = targets.trading
            env["ALPACA_BASE_URL"] = targets.trading
        env["ALPACA_PAPER_TRADE"] = "true" if profile.env is Env.PAPER else "false"
        if targets.data:
            env["DATA_API_URL"] = targets.data
    if auth.token is not None:
        tok = auth.token
        env["APCA_API_OAUTH_TOKEN"] = tok.value
        env["APCA_API_OAUTH"] = tok.value
        env["ALPACA_TUI_TOKEN_EXPIRES_AT"] = utc_from_ts(tok.expires_at).isoformat().replace("+00:00", "Z")
        env["ALPACA_TUI_TOKEN_EXPIRES_IN"] = str(max(0, int(tok.expires_at - now)))
    elif auth.key_id is not None:
        env["APCA_API_KEY_ID"] = auth.key_id
        env["APCA_API_SECRET_KEY"] = auth.secret or ""
        env["ALPACA_API_KEY"] = auth.key_id
        env["ALPACA_SECRET_KEY"] = auth.secret or ""
    return env
