"""The shared store: profiles and secrets in OpenBao / HashiCorp Vault KV version 2 (``vault``).

Selected by name only (``ALPACA_TUI_KEYRING=vault``, ``Store.open(backend="vault")``, or a
home pinned to it by its ``store.json``), never by auto selection. Opening checks the
configuration (:mod:`.config`) and that ``hvac`` is installed, and contacts nothing: the
session (:mod:`.session`) logs in on first use. The pieces:

* :mod:`.config` — the variables, the layout, TLS / loopback rules, the home's pin;
* :mod:`.session` — hvac client, login (token or AppRole), renewal, one-line errors;
* :mod:`.kv` — KV v2 reads, check-and-set writes, metadata;
* :mod:`.index` — :class:`VaultIndex`, the team's index (IndexBackend);
* :mod:`.secrets` — :class:`VaultSecrets`, bundles and tokens (SecretBackend);
* :mod:`.roles` — viewer / superuser from ``sys/capabilities-self``.

Importing this package imports no hvac; a process that never opens a Vault store never
imports it at all (``builtin`` registers the backend by name).
"""

from __future__ import annotations

from alpaca_tui.core.store.pin import Pin, write_pin
from alpaca_tui.core.store.registry import OpenContext, Opened, Reason
from alpaca_tui.core.store.vault.config import VaultConfig, load_config
from alpaca_tui.core.store.vault.index import VaultIndex
from alpaca_tui.core.store.vault.kv import KV
from alpaca_tui.core.store.vault.roles import Roles
from alpaca_tui.core.store.vault.secrets import VaultSecrets
from alpaca_tui.core.store.vault.session import NAME, VaultSession, import_hvac


def open_parts(config: VaultConfig) -> tuple[VaultIndex, VaultSecrets]:
    """The index and secret halves of one Vault store (one session between them)."""
    session = VaultSession(config)
    kv = KV(session)
    return VaultIndex(kv), VaultSecrets(session, kv, Roles(session))


def open_vault(ctx: OpenContext, reason: Reason) -> Opened:
    """The ``vault`` backend's opener (registered by name in :mod:`..builtin`, which imports
    this package only when a Vault store is opened)."""
    import_hvac()  # missing: says how to install it
    config = load_config(ctx.pin)
    index, secrets = open_parts(config)
    if ctx.pin is None:
        home, lock = ctx.home, ctx.lock
        pin = Pin("vault", config.settings())
        pinned: list[bool] = []

        def pin_home() -> None:  # the first write from this home ties it to this store
            if not pinned:
                write_pin(home, lock, pin)
                pinned.append(True)

        index.on_write = pin_home
    return Opened(index, secrets, where=f"{NAME} store {config.where()}", why="asked for by name")


__all__ = ["VaultIndex", "VaultSecrets", "open_parts", "open_vault"]
