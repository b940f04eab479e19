"""One logged-in connection to OpenBao / Vault (through ``hvac``), and its one-line errors.

:class:`VaultSession` connects on first use, not when the store is opened: it imports
``hvac`` (missing: how to install it), logs in (the token, or AppRole), looks the token up
(display name, policies, TTL) and checks that the mount is KV version 2. Every call goes
through :meth:`VaultSession.call`, which renews a renewable token once it is past two thirds
of its TTL and turns every failure into a :class:`StoreError` of one line: sealed, permission
denied (capability and path named), missing or non-KV-v2 mount (with the ``bao secrets
enable`` command), network failure, timeout (``ALPACA_TUI_VAULT_TIMEOUT``). The token never
appears in a message, a log or a file; it lives in this object's hvac client only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alpaca_tui.core.errors import BackendUnavailableError, StoreError
from alpaca_tui.core.redact import scrub
from alpaca_tui.core.store.builtin import VAULT_LABEL
from alpaca_tui.core.store.vault.config import INSTALL_HINT, TIMEOUT_ENV, VaultConfig

T = TypeVar("T")
NAME = VAULT_LABEL
RENEW_AFTER = 2 / 3   # renew once this share of the TTL has passed


class CasConflict(Exception):
    """A KV v2 check-and-set write found another version: re-read and try again."""


def import_hvac() -> Any:
    try:
        import hvac
    except ImportError:
        raise BackendUnavailableError(f"the OpenBao / Vault backend needs the hvac package: {INSTALL_HINT}") \
            from None
    return hvac


@dataclass
class TokenInfo:
    """What ``auth/token/lookup-self`` says about our token (never the token itself)."""

    display_name: str
    policies: list[str]
    ttl: float              # seconds left when looked up (0: never expires)
    granted: float          # the TTL it was last given (creation TTL, or the last renewal)
    renewable: bool
    seen_at: float = field(default_factory=time.monotonic)

    def remaining(self, now: float) -> float | None:
        return None if self.ttl <= 0 else self.ttl - (now - self.seen_at)

    def due(self, now: float) -> bool:
        left = self.remaining(now)
        return self.renewable and left is not None and self.granted > 0 and (
            left < self.granted * (1 - RENEW_AFTER))


def _clean(text: object, limit: int = 160) -> str:
    s = " ".join(scrub(str(text)).split())
    s = "".join(c for c in s if c.isprintable())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _server_errors(exc: Any) -> str:
    errors = getattr(exc, "errors", None) or []
    return _clean("; ".join(str(e) for e in errors)) if errors else ""


class VaultSession:
    """The hvac client of one store, connected on first use (see the module doc)."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self.token: TokenInfo | None = None
        self.mount_kind: str | None = None     # "kv v2" once checked
        self.renewals = 0
        self._client: Any = None
        self._lock = threading.RLock()

    # -- connecting --------------------------------------------------------------------------
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        hvac = import_hvac()
        cfg = self.config
        client = hvac.Client(url=cfg.addr, namespace=cfg.namespace or None, verify=cfg.cacert or True,
                             timeout=cfg.timeout, allow_redirects=False)
        # requests may hand a redirect's new host our X-Vault-Token; Vault forwards instead
        client.adapter.allow_redirects = False
        source = cfg.tokens
        if source.kind == "approle":
            secret_id = source.read()
            self._guard(lambda: client.auth.approle.login(role_id=source.role_id, secret_id=secret_id),
                        "auth/approle/login", "update", login=True)
        else:
            client.token = source.read()
        self.token = self._lookup(client)
        self._check_mount(client)
        return client

    def _lookup(self, client: Any) -> TokenInfo:
        data = self._guard(lambda: client.auth.token.lookup_self()["data"], "auth/token/lookup-self", "read",
                           login=True)
        ttl = float(data.get("ttl") or 0)
        return TokenInfo(display_name=str(data.get("display_name") or "token"),
                         policies=sorted(str(p) for p in data.get("policies") or []), ttl=ttl,
                         granted=float(data.get("creation_ttl") or ttl or 0),
                         renewable=bool(data.get("renewable")))

    def _check_mount(self, client: Any) -> None:
        cfg = self.config
        hx = import_hvac().exceptions
        try:
            info = client.adapter.get(f"/v1/sys/internal/ui/mounts/{cfg.mount}")["data"]
        except hx.Forbidden:
            # no such mount, or no right to any path in it: reading the index tells which
            index = cfg.api_path(cfg.key("index"))
            try:
                client.secrets.kv.v2.read_secret_version(path=cfg.key("index"), mount_point=cfg.mount,
                                                         raise_on_deleted_version=True)
            except hx.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise self.failure(exc, index, "read") from None
            except Exception as exc:
                raise self.failure(exc, index, "read") from None
            self.mount_kind = "kv v2 (type not visible to this token)"
            return
        except Exception as exc:
            raise self.failure(exc, f"sys/internal/ui/mounts/{cfg.mount}", "read") from None
        kind = str(info.get("type") or "?")
        version = str((info.get("options") or {}).get("version") or "1")
        if kind != "kv" or version != "2":
            what = f"KV version {version}" if kind == "kv" else f"a {_clean(kind, 40)} mount"
            raise StoreError(f"{cfg.mount}/ on {cfg.addr} is {what}, not KV version 2: use a KV v2 mount "
                             f"({self.enable_hint()}) or set ALPACA_TUI_VAULT_MOUNT")
        self.mount_kind = "kv v2"

    def enable_hint(self) -> str:
        ns = f"VAULT_NAMESPACE={self.config.namespace} " if self.config.namespace else ""
        return f"{ns}bao secrets enable -path={self.config.mount} kv-v2"

    # -- calling -----------------------------------------------------------------------------
    def call(self, fn: Callable[[Any], T], path: str, capability: str) -> T:
        """``fn(client)``; a renewal first when due; every failure one line (see :meth:`failure`).
        CasConflict passes through (a check-and-set write lost the race). An AppRole token
        that ran out is replaced by logging in again, once."""
        client = self.client()
        try:
            self._renew_if_due(client)
            return self._guard(lambda: fn(client), path, capability)
        except StoreError:
            if not (self.expired() and self.config.tokens.kind == "approle"):
                raise
        with self._lock:
            if self._client is client:
                self._client = None
        client = self.client()
        return self._guard(lambda: fn(client), path, capability)

    def expired(self) -> bool:
        """True once our token's TTL has run out (by the lookup's count)."""
        info = self.token
        left = info.remaining(time.monotonic()) if info is not None else None
        return left is not None and left <= 0

    def _guard(self, fn: Callable[[], T], path: str, capability: str, *, login: bool = False) -> T:
        try:
            return fn()
        except CasConflict:
            raise
        except Exception as exc:
            if type(exc).__name__ == "InvalidRequest" and "check-and-set" in str(exc):
                raise CasConflict(path) from None
            raise self.failure(exc, path, capability, login=login) from None

    def _renew_if_due(self, client: Any) -> None:
        info = self.token
        if info is None or not info.due(time.monotonic()):
            return
        with self._lock:
            if not info.due(time.monotonic()):
                return
            auth = self._guard(lambda: client.auth.token.renew_self()["auth"], "auth/token/renew-self",
                               "update")
            info.ttl = info.granted = float(auth.get("lease_duration") or info.granted)
            info.seen_at = time.monotonic()
            self.renewals += 1

    # -- errors ------------------------------------------------------------------------------
    def failure(self, exc: BaseException, path: str, capability: str, *, login: bool = False) -> StoreError:
        """One line for ``exc``, raised by ``capability`` on ``path`` (never the token)."""
        import requests.exceptions as rx

        hx = import_hvac().exceptions
        cfg = self.config
        where = f"{NAME} at {cfg.addr}"
        if isinstance(exc, rx.SSLError):
            return StoreError(f"TLS verification of {cfg.addr} failed; set VAULT_CACERT to the CA that "
                              "signed its certificate")
        if isinstance(exc, rx.Timeout):
            return StoreError(f"{where} did not answer within {cfg.timeout:g} s ({TIMEOUT_ENV})")
        if isinstance(exc, rx.RequestException):
            return StoreError(f"cannot reach {where} (connection failed); is it running? (VAULT_ADDR)")
        if isinstance(exc, hx.VaultDown):
            if "sealed" in str(exc).lower():
                return StoreError(f"{where} is sealed: unseal it (bao operator unseal) and try again")
            return StoreError(f"{where} is unavailable (503: {_server_errors(exc) or 'no reason given'})")
        if isinstance(exc, hx.VaultNotInitialized):
            return StoreError(f"{where} is not initialized (bao operator init)")
        if isinstance(exc, hx.Forbidden | hx.Unauthorized | hx.InvalidRequest) and login:
            if cfg.tokens.kind == "approle":
                return StoreError(f"{where} refused the {cfg.tokens.describe()}: "
                                  f"{_server_errors(exc) or 'permission denied'}")
            return StoreError(f"{where} refused the token from {cfg.tokens.describe()} (expired, revoked or "
                              "wrong): log in again (bao login) or set VAULT_TOKEN")
        if isinstance(exc, hx.Forbidden) and self.expired():
            return StoreError(f"{where}: the token from {cfg.tokens.describe()} has expired (its TTL ran "
                              "out): log in again (bao login) or set VAULT_TOKEN")
        if isinstance(exc, hx.Forbidden):
            return StoreError(f"permission denied by {where}: {self._who()} lacks the '{capability}' "
                              f"capability on {path}")
        if isinstance(exc, hx.InvalidPath) and "no handler for route" in str(exc):
            return StoreError(f"there is no secrets engine at {cfg.mount}/ on {cfg.addr}: enable a KV v2 "
                              f"mount ({self.enable_hint()}) or set ALPACA_TUI_VAULT_MOUNT")
        if isinstance(exc, hx.RateLimitExceeded):
            return StoreError(f"{where} is rate limiting us (429); try again shortly")
        reason = _server_errors(exc) or type(exc).__name__
        return StoreError(f"{where} refused {capability} on {path}: {reason}")

    def _who(self) -> str:
        info = self.token
        if info is None:
            return "this token"
        return f"this token ({info.display_name}; policies {', '.join(info.policies) or 'none'})"


__all__ = ["NAME", "CasConflict", "TokenInfo", "VaultSession", "import_hvac"]
