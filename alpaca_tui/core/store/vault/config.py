"""Where the shared store is and how to log in: the variables Vault users already have.

=================================  ===========================================================
``VAULT_ADDR`` / ``BAO_ADDR``      the server; ``https://`` (TLS verified), plain ``http://``
                                   only to a loopback address
``VAULT_TOKEN`` / ``BAO_TOKEN``    the token; else ``~/.vault-token`` (what ``bao login``
                                   writes); else AppRole:
``ALPACA_TUI_VAULT_ROLE_ID`` +     ``auth/approle/login`` with that role ID and the secret ID
``ALPACA_TUI_VAULT_SECRET_ID_FILE``  read from the file (first line)
``VAULT_NAMESPACE``                a namespace (OpenBao / Vault Enterprise); ``BAO_NAMESPACE``
``VAULT_CACERT``                   a CA bundle to verify the server with; ``BAO_CACERT``
``ALPACA_TUI_VAULT_MOUNT``         the KV v2 mount (default ``secret``)
``ALPACA_TUI_VAULT_PREFIX``        the folder in it (default ``alpaca-tui``)
``ALPACA_TUI_VAULT_TIMEOUT``       seconds per request (default 5)
=================================  ===========================================================

The layout under ``<mount>``, stable so operators can write policies (``assets/vault/``)::

    <mount>/data/<prefix>/index             the team's non-secret index (every profile)
    <mount>/data/<prefix>/secrets/<profile> the secret bundle (active / pending / previous)
    <mount>/data/<prefix>/tokens/<profile>  the cached access token (and its refresh claim)

A home that has written there is pinned to the address, namespace, mount and prefix
(``store.json``, :mod:`..pin`); variables naming another one are refused, never mixed.
Nothing here holds a token: :class:`TokenSource` says where one comes from and reads it
when the session logs in.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from alpaca_tui.core.errors import BackendUnavailableError, StoreError
from alpaca_tui.core.store.pin import Pin
from alpaca_tui.core.store.safefile import VAULT_CREDENTIAL_FILE_MAX, read_file

ADDR_ENVS = ("VAULT_ADDR", "BAO_ADDR")
TOKEN_ENVS = ("VAULT_TOKEN", "BAO_TOKEN")
NAMESPACE_ENVS = ("VAULT_NAMESPACE", "BAO_NAMESPACE")
CACERT_ENVS = ("VAULT_CACERT", "BAO_CACERT")
MOUNT_ENV = "ALPACA_TUI_VAULT_MOUNT"
PREFIX_ENV = "ALPACA_TUI_VAULT_PREFIX"
TIMEOUT_ENV = "ALPACA_TUI_VAULT_TIMEOUT"
ROLE_ID_ENV = "ALPACA_TUI_VAULT_ROLE_ID"
SECRET_ID_FILE_ENV = "ALPACA_TUI_VAULT_SECRET_ID_FILE"
DEFAULT_MOUNT = "secret"
DEFAULT_PREFIX = "alpaca-tui"
DEFAULT_TIMEOUT = 5.0
INSTALL_HINT = "pip install 'alpaca-tui[vault]' (or: pip install hvac)"
ENV_VARS = (*ADDR_ENVS, *TOKEN_ENVS, *NAMESPACE_ENVS, *CACERT_ENVS, MOUNT_ENV, PREFIX_ENV, TIMEOUT_ENV,
            ROLE_ID_ENV, SECRET_ID_FILE_ENV)

_SEGMENTS = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def _env(names: tuple[str, ...]) -> tuple[str | None, str]:
    for n in names:
        value = os.environ.get(n, "").strip()
        if value:
            return value, n
    return None, names[0]


def _unavailable(why: str) -> BackendUnavailableError:
    return BackendUnavailableError(f"OpenBao / Vault store: {why}")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_addr(addr: str, source: str) -> str:
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _unavailable(f"{source}={addr!r} is not an http(s) URL (e.g. https://bao.example.com:8200)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise _unavailable(f"{source}={addr} uses plain http to a host that is not loopback; use https:// "
                           "(TLS is verified; VAULT_CACERT names a private CA)")
    return addr.rstrip("/")


def _segments(value: str, source: str) -> str:
    v = value.strip("/")
    if not _SEGMENTS.match(v) or any(s in (".", "..") for s in v.split("/")):
        raise _unavailable(f"{source}={value!r}: use letters, digits, '.', '_', '-' and '/' between them")
    return v


@dataclass(frozen=True)
class TokenSource:
    """Where the Vault token comes from (never the token itself)."""

    kind: str                    # "env" | "file" | "approle"
    where: str                   # VAULT_TOKEN | the token file | the secret-ID file
    role_id: str | None = None   # AppRole role ID (not a secret by itself)

    def describe(self) -> str:
        if self.kind == "approle":
            return f"AppRole login ({ROLE_ID_ENV}, secret ID from {self.where})"
        return f"${self.where}" if self.kind == "env" else self.where

    def read(self) -> str:
        """The token (env, file) or the AppRole secret ID; BackendUnavailableError when unreadable."""
        if self.kind == "env":
            value = os.environ.get(self.where, "").strip()
        else:  # a file the user names (secret mounts are links): regular, capped, read once
            try:
                raw = read_file(Path(self.where), cap=VAULT_CREDENTIAL_FILE_MAX, label=self.where,
                                in_home=False) or b""
                value = raw.decode("utf-8").splitlines()[0].strip() if raw.strip() else ""
            except StoreError as exc:  # "cannot read <file>: <why>"
                raise _unavailable(exc.message) from None
            except UnicodeDecodeError:
                raise _unavailable(f"cannot read {self.where}: not UTF-8 text") from None
        if not value:
            raise _unavailable(f"{self.describe()} is empty")
        return value


def token_source() -> TokenSource:
    value, name = _env(TOKEN_ENVS)
    if value:
        return TokenSource("env", name)
    token_file = Path.home() / ".vault-token"
    if token_file.is_file():
        return TokenSource("file", str(token_file))
    role_id = os.environ.get(ROLE_ID_ENV, "").strip()
    secret_file = os.environ.get(SECRET_ID_FILE_ENV, "").strip()
    if role_id and secret_file:
        return TokenSource("approle", str(Path(secret_file).expanduser()), role_id=role_id)
    raise _unavailable("no Vault token: set VAULT_TOKEN (or BAO_TOKEN), log in with `bao login` (it writes "
                       f"~/.vault-token), or set {ROLE_ID_ENV} and {SECRET_ID_FILE_ENV} for AppRole")


def _timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise _unavailable(f"{TIMEOUT_ENV}={raw!r}: expected seconds between 0 and 300")
    return value


@dataclass(frozen=True)
class VaultConfig:
    addr: str
    namespace: str
    mount: str
    prefix: str
    cacert: str | None
    timeout: float
    tokens: TokenSource

    def settings(self) -> dict[str, str]:
        """What pins a home (store.json): where the index is, never a credential."""
        return {"addr": self.addr, "namespace": self.namespace, "mount": self.mount, "prefix": self.prefix}

    def key(self, kind: str, name: str | None = None) -> str:
        """The KV key under the mount: ``<prefix>/index``, ``<prefix>/secrets/<name>``, ..."""
        return f"{self.prefix}/{kind}" if name is None else f"{self.prefix}/{kind}/{name}"

    def api_path(self, key: str, *, metadata: bool = False) -> str:
        """The API path a policy names: ``<mount>/data/<key>`` (or ``/metadata/``)."""
        return f"{self.mount}/{'metadata' if metadata else 'data'}/{key}"

    def where(self) -> str:
        ns = f" namespace {self.namespace}" if self.namespace else ""
        return f"{self.addr}{ns} {self.api_path(self.prefix)}/"


def _from(env_names: tuple[str, ...], pinned: str | None, default: str, pin: Pin | None) -> tuple[str, str]:
    value, name = _env(env_names)
    if pin is not None and pinned is not None and value is not None and value.rstrip("/") != pinned:
        raise _unavailable(f"this home is pinned to {pin.describe()} (its store.json), but {name} says "
                           f"{value}; unset {name} or use another ALPACA_TUI_HOME")
    if value is not None:
        return value, name
    return (pinned if pinned is not None else default), name


def load_config(pin: Pin | None = None) -> VaultConfig:
    """The configuration from the environment, checked against the home's pin."""
    settings = pin.settings if pin is not None else {}
    addr, addr_source = _from(ADDR_ENVS, settings.get("addr"), "", pin)
    if not addr:
        raise _unavailable("set VAULT_ADDR (or BAO_ADDR) to the server's address, e.g. "
                           "https://bao.example.com:8200")
    namespace, _ = _from(NAMESPACE_ENVS, settings.get("namespace"), "", pin)
    mount, mount_source = _from((MOUNT_ENV,), settings.get("mount"), DEFAULT_MOUNT, pin)
    prefix, prefix_source = _from((PREFIX_ENV,), settings.get("prefix"), DEFAULT_PREFIX, pin)
    cacert, _ = _env(CACERT_ENVS)
    return VaultConfig(addr=check_addr(addr, addr_source), namespace=namespace.strip("/"),
                       mount=_segments(mount, mount_source), prefix=_segments(prefix, prefix_source),
                       cacert=str(Path(cacert).expanduser()) if cacert else None, timeout=_timeout(),
                       tokens=token_source())


__all__ = ["ENV_VARS", "INSTALL_HINT", "TokenSource", "VaultConfig", "check_addr", "is_loopback",
           "load_config", "token_source"]
