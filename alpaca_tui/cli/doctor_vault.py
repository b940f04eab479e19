"""``doctor``'s check of the shared store (OpenBao / Vault): one more check, one more backend row.

It runs when the home uses the ``vault`` backend (pinned by its ``store.json``, or asked for
with ``ALPACA_TUI_KEYRING=vault``) and reports, without writing anything: the address,
namespace, mount and prefix; the server's version and whether it is initialised and sealed
(``sys/seal-status``, no token needed); the token (where it comes from, display name,
policies, TTL left, renewable); the mount's type (must be KV version 2); the token's
capabilities on the layout's paths and the role they make (viewer / superuser); how many
profiles the team's index holds. Anything that makes the store unusable is ``ok=False`` (exit 1)
with a fix.

Its backend entry in the report (``backends``)::

    {"kind": "vault", "usable": bool, "reason": str, "address": str | null, "namespace": str | null,
     "mount": str | null, "prefix": str | null, "server_version": str | null,
     "initialized": bool | null, "sealed": bool | null, "mount_type": str | null,
     "token": {"source": str, "display_name": str | null, "policies": [str], "ttl_s": float | null,
               "renewable": bool | null} | null,
     "capabilities": {"<path>": [str]}, "role": "viewer" | "superuser" | null,
     "profiles": int | null}
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from alpaca_tui.cli.doctor_checks import Facts, Row, _line, _mark


def applies(f: Facts) -> bool:
    """Whether this home uses the shared store (asked for, or pinned to it)."""
    from alpaca_tui.core.errors import StoreError
    from alpaca_tui.core.store.pin import read_pin

    if os.environ.get("ALPACA_TUI_KEYRING", "").strip().lower() in ("vault", "openbao", "bao"):
        return True
    try:
        pin = read_pin(f.home)
    except StoreError:
        return False
    return pin is not None and pin.backend == "vault"


def _seal_status(config: Any) -> dict[str, Any]:
    from alpaca_tui.core.store.vault.session import VaultSession, import_hvac

    hvac = import_hvac()
    client = hvac.Client(url=config.addr, namespace=config.namespace or None, verify=config.cacert or True,
                         timeout=config.timeout)
    try:
        return dict(client.sys.read_seal_status())
    except Exception as exc:
        raise VaultSession(config).failure(exc, "sys/seal-status", "read") from None


def _describe(info: dict[str, Any], store: Any) -> None:
    """Token, mount, capabilities, role and profile count, through the store's own session."""
    from alpaca_tui.core.store.access import Action

    secrets = store.secret_backend
    session = secrets.session
    session.client()  # login + lookup + mount check: StoreError says what is wrong
    tok = session.token
    info["token"] = {"source": session.config.tokens.describe(), "display_name": tok.display_name,
                     "policies": tok.policies, "ttl_s": tok.remaining(time.monotonic()),
                     "renewable": tok.renewable}
    info["mount_type"] = session.mount_kind
    paths = list(secrets.roles.paths(None).values())
    info["capabilities"] = {p: sorted(c) for p, c in secrets.roles.capabilities(paths).items()}
    info["role"] = "viewer" if store.refusal(Action.CREATE) is not None else "superuser"
    info["profiles"] = len(store.list_profiles())


def check_vault(f: Facts) -> Row:
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.pin import read_pin
    from alpaca_tui.core.store.vault.config import load_config

    info: dict[str, Any] = {"kind": "vault", "usable": False, "reason": "", "address": None,
                            "namespace": None, "mount": None, "prefix": None, "server_version": None,
                            "initialized": None, "sealed": None, "mount_type": None, "token": None,
                            "capabilities": {}, "role": None, "profiles": None}
    row = Row("vault", backend=info, ok=False)
    try:
        config = load_config(read_pin(f.home))
        info.update(address=config.addr, namespace=config.namespace or None, mount=config.mount,
                    prefix=config.prefix)
        status = _seal_status(config)
        info.update(server_version=status.get("version"), initialized=status.get("initialized"),
                    sealed=status.get("sealed"))
        if status.get("sealed"):
            raise AlpacaTuiError(f"OpenBao / Vault at {config.addr} is sealed")
        store = f.store if f.store is not None and f.store.backend_kind == "vault" else None
        if store is None:
            raise AlpacaTuiError(f.value("selection", "error") or "the vault backend was not selected")
        _describe(info, store)
    except AlpacaTuiError as exc:
        info["reason"] = exc.message
        row.fixes.append(_fix(info))
    else:
        info["usable"] = True
        info["reason"] = f"{info['role']} token; the team index has {info['profiles']} profile(s)"
        row.ok = True
    row.lines = _lines(info)
    return row


def _fix(info: dict[str, Any]) -> str:
    reason = str(info["reason"])
    if info["sealed"]:
        return "unseal the server: bao operator unseal (an operator with the unseal key)"
    if "hvac" in reason:
        return "pip install 'alpaca-tui[vault]'"
    if "token" in reason.lower():
        return ("log in: bao login (or set VAULT_TOKEN, or ALPACA_TUI_VAULT_ROLE_ID + "
                "ALPACA_TUI_VAULT_SECRET_ID_FILE)")
    enable = re.search(r"\(((?:VAULT_NAMESPACE=\S+ )?bao secrets enable [^)]*)\)", reason)
    if enable:
        return f"enable a KV v2 mount: {enable.group(1)}"
    return "check VAULT_ADDR, VAULT_NAMESPACE and the network, then run alpaca-tui doctor again"


def _lines(info: dict[str, Any]) -> list[str]:
    ns = f", namespace {info['namespace']}" if info["namespace"] else ""
    where = f"{info['address']}{ns}" if info["address"] else "not configured"
    lines = [_line("OpenBao / Vault", f"{_mark(info['usable'])} {where}")]
    if info["server_version"] is not None:
        sealed = "sealed" if info["sealed"] else "unsealed"
        lines.append(_line("", f"server {info['server_version']}, {sealed}"))
    if info["mount"]:
        kind = f" ({info['mount_type']})" if info["mount_type"] else ""
        index = f"{info['mount']}/data/{info['prefix']}/index"
        lines.append(_line("", f"index {index}; mount {info['mount']}/{kind}"))
    tok = info["token"]
    if tok is not None:
        ttl = "never expires" if tok["ttl_s"] is None else f"{tok['ttl_s']:.0f} s left"
        renew = ", renewable" if tok["renewable"] else ""
        lines.append(_line("", f"token {tok['display_name']} from {tok['source']}: {ttl}{renew}; policies "
                               f"{', '.join(tok['policies']) or 'none'}"))
    for path, caps in info["capabilities"].items():
        lines.append(_line("", f"{path}: {', '.join(caps) or 'none'}"))
    lines.append(_line("", info["reason"]))
    return lines


__all__ = ["applies", "check_vault"]
