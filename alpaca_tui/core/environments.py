"""Alpaca environments and their hosts (Alpaca's authentication docs, "Hosts").

Live and paper credentials never cross: a credential belongs to exactly one
environment, and every host it talks to comes from that environment (or from an
explicit per-profile override, used for proxies and the local emulator).
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit

from alpaca_tui.core.errors import UsageError


class Env(StrEnum):
    LIVE = "live"
    PAPER = "paper"
    BROKER_LIVE = "broker-live"
    BROKER_SANDBOX = "broker-sandbox"

    @property
    def label(self) -> str:
        return ENV_LABELS[self]

    @property
    def is_broker(self) -> bool:
        return self in (Env.BROKER_LIVE, Env.BROKER_SANDBOX)

    @property
    def is_live(self) -> bool:
        """Real money: live trading and broker production."""
        return self in (Env.LIVE, Env.BROKER_LIVE)


class Api(StrEnum):
    TRADING = "trading"
    DATA = "data"
    BROKER = "broker"
    AUTH = "auth"


ENV_LABELS: dict[Env, str] = {
    Env.LIVE: "Live trading",
    Env.PAPER: "Paper trading",
    Env.BROKER_LIVE: "Broker live",
    Env.BROKER_SANDBOX: "Broker sandbox",
}

# Default hosts per environment. Sandbox data is for broker sandbox only; paper uses
# the production data host (alpaca-auth.md §1).
DEFAULT_HOSTS: dict[Env, dict[Api, str]] = {
    Env.LIVE: {
        Api.TRADING: "https://api.alpaca.markets",
        Api.DATA: "https://data.alpaca.markets",
    },
    Env.PAPER: {
        Api.TRADING: "https://paper-api.alpaca.markets",
        Api.DATA: "https://data.alpaca.markets",
    },
    Env.BROKER_LIVE: {
        Api.BROKER: "https://broker-api.alpaca.markets",
        Api.DATA: "https://data.alpaca.markets",
        Api.AUTH: "https://authx.alpaca.markets",
    },
    Env.BROKER_SANDBOX: {
        Api.BROKER: "https://broker-api.sandbox.alpaca.markets",
        Api.DATA: "https://data.sandbox.alpaca.markets",
        Api.AUTH: "https://authx.sandbox.alpaca.markets",
    },
}

TOKEN_PATH = "/v1/oauth2/token"


def parse_env(value: str) -> Env:
    v = value.strip().lower().replace("_", "-")
    aliases = {"broker": "broker-sandbox", "sandbox": "broker-sandbox", "prod": "live", "production": "live"}
    v = aliases.get(v, v)
    try:
        return Env(v)
    except ValueError:
        choices = ", ".join(e.value for e in Env)
        raise UsageError(f"unknown environment {value!r} (choose from {choices})") from None


def parse_api(value: str) -> Api:
    try:
        return Api(value.strip().lower())
    except ValueError:
        choices = ", ".join(a.value for a in Api)
        raise UsageError(f"unknown API {value!r} (choose from {choices})") from None


def apis_for(env: Env) -> tuple[Api, ...]:
    """APIs (excluding the token endpoint) a credential of ``env`` can call."""
    return tuple(a for a in DEFAULT_HOSTS[env] if a is not Api.AUTH)


MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A base URL of this shape reads the same to urlsplit and to httpx: a lower-case scheme and host
# (DNS characters or a bracketed IPv6 literal), digits for the port, and a path of RFC 3986
# path characters without '%', '\\', '?' or '#'. Nothing in it can move the authority's end, so
# httpx (~70 ms to import) is not asked to confirm it; anything else still is
# (tests/unit/test_plain_urls.py checks the claim on generated URLs).
PLAIN_URL = re.compile(r"https?://(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
                       r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?")
_DOTTED_QUAD = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


def validate_url(url: str) -> str:
    """Return a normalised base URL (no trailing slash) or raise UsageError.

    Printable ASCII only (an international host goes in its ``xn--`` form), at most 2048
    characters, a DNS name of at most 253 characters (labels of 63) or an IP literal, and
    ``httpx.URL`` (what the requests are sent with) must read the same scheme, host and
    port as :func:`urllib.parse.urlsplit`: no input means one host here and another there.
    """
    raw = url.strip()
    shown = repr(raw[:80] + ("…" if len(raw) > 80 else ""))
    if len(raw) > MAX_URL_LENGTH:
        raise UsageError(f"invalid URL {shown}: longer than {MAX_URL_LENGTH} characters")
    if any(not 0x21 <= ord(c) <= 0x7E for c in raw):
        raise UsageError(f"invalid URL {shown}: only printable ASCII without spaces (write an "
                         "international host name in its xn-- form)")
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"invalid URL {shown}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid URL {shown}: expected http(s)://host[:port][/path]")
    if parts.username or parts.password or "@" in parts.netloc:
        raise UsageError("URLs must not embed credentials; use the secret store instead")
    if parts.query or parts.fragment:
        raise UsageError(f"invalid URL {shown}: a base URL takes no query or fragment")
    hostname = parts.hostname
    _check_host(hostname, shown)
    _same_for_httpx(raw, parts.scheme, hostname, port, shown)
    if parts.scheme == "http" and hostname not in ("127.0.0.1", "localhost", "::1"):
        # Plain HTTP would put secrets on the wire; only loopback (the emulator) may use it.
        raise UsageError(f"refusing plain http:// for non-loopback host {hostname!r}; use https://")
    host = hostname if ":" not in hostname else f"[{hostname}]"
    netloc = host + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _check_host(hostname: str, shown: str) -> None:
    if ":" in hostname:  # an IPv6 literal
        import ipaddress

        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UsageError(f"invalid URL {shown}: not an IPv6 address") from None
        return
    labels = hostname.removesuffix(".").split(".")  # a trailing dot (the root) is allowed
    if (len(hostname) > MAX_HOST_LENGTH or not set(hostname) <= _HOST_CHARS
            or any(not 0 < len(label) <= 63 for label in labels)):
        raise UsageError(f"invalid URL {shown}: the host must be a DNS name (letters, digits, '-', '.'; "
                         f"at most {MAX_HOST_LENGTH} characters, 63 per label) or an IP address")


def is_plain_url(raw: str, hostname: str) -> bool:
    """Of the plain shape (:data:`PLAIN_URL`), and a dotted-quad host is an IPv4 address
    (httpx refuses ``1.2.3.04``; urlsplit reads it as a name). ``hostname``: urlsplit's."""
    if not PLAIN_URL.fullmatch(raw):
        return False
    if _DOTTED_QUAD.fullmatch(hostname):
        import ipaddress

        try:
            ipaddress.IPv4Address(hostname)
        except ValueError:
            return False
    return True


def _same_for_httpx(raw: str, scheme: str, hostname: str, port: int | None, shown: str) -> None:
    if is_plain_url(raw, hostname):  # every stored endpoint, as validate_url writes them: no import
        return
    import httpx

    try:
        u = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UsageError(f"invalid URL {shown}") from None
    default = _DEFAULT_PORTS[scheme]
    host = u.raw_host.decode("ascii", "replace").lower()
    if (u.scheme, host, u.port or default) != (scheme, hostname, port or default):
        raise UsageError(f"invalid URL {shown}: ambiguous host or port")


def parse_endpoint_spec(spec: str) -> tuple[Api, str]:
    """``trading=https://host`` -> (Api.TRADING, 'https://host')."""
    name, sep, url = spec.partition("=")
    if not sep or not url:
        raise UsageError(f"invalid endpoint {spec!r}: expected trading|data|broker|auth=URL")
    return parse_api(name), validate_url(url)


def resolve_endpoints(env: Env, overrides: dict[Api, str] | None = None) -> dict[Api, str]:
    """The base URL for each API of ``env``, with per-profile overrides applied."""
    hosts = dict(DEFAULT_HOSTS[env])
    for api, url in (overrides or {}).items():
        if api not in hosts:
            raise UsageError(f"{env.value} has no {api.value} API to override")
        hosts[api] = url
    return hosts


def token_url(env: Env, overrides: dict[Api, str] | None = None) -> str:
    hosts = resolve_endpoints(env, overrides)
    if Api.AUTH not in hosts:
        raise UsageError(f"{env.value} has no OAuth token endpoint (client credentials are broker-only)")
    return hosts[Api.AUTH] + TOKEN_PATH


def normalize_path(path: str) -> str:
    """The path as httpx sends it: no query or fragment, no doubled or trailing slash, no
    ``.``/``..`` segments (httpx resolves them), always starting with '/'."""
    p = path.split("?", 1)[0].split("#", 1)[0].strip()
    out: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)
