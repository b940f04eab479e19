"""The built-in backends, registered by name: ``system`` (OS keyring), ``file`` (encrypted file)
and, after them, ``vault`` (the shared OpenBao / Vault store, :mod:`.vault`; by name only).

Both keep the index in the home's ``index.json`` (:class:`.fileindex.FileIndex`) and share the
home's one lock object with it. Auto selection tries ``system`` first (a real round trip,
bounded by a timeout), then ``file``, which is always available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpaca_tui.core.errors import BackendUnavailableError
from alpaca_tui.core.store.fileindex import FileIndex
from alpaca_tui.core.store.registry import BackendSpec, OpenContext, Opened, Reason, register_backend

if TYPE_CHECKING:
    from alpaca_tui.core.store.system import KeyringProbe

# Each backend's own modules (the encrypted file's, the OS keyring's) are imported when one is
# opened: registering the names is all that reading an index needs (registry.is_backend).

SECRETS_NAME = "secrets.enc"

KEYRING_FIX = ("run inside a D-Bus session with an unlocked keyring: dbus-run-session -- sh -c "
               "'printf \"\\n\" | gnome-keyring-daemon --unlock --components=secrets; alpaca-tui ...'")
FILE_FIX = "or use the encrypted file: export ALPACA_TUI_KEYRING=file"


# -- file ---------------------------------------------------------------------------------------
def _open_file(ctx: OpenContext, reason: Reason | None = None) -> Opened:
    from alpaca_tui.core.store.filecrypt import FileBackend

    path = ctx.home / SECRETS_NAME
    secrets = FileBackend(path, ctx.lock, passphrase=ctx.passphrase,
                          passphrase_provider=ctx.passphrase_provider)
    return Opened(FileIndex(ctx.home, ctx.lock), secrets, where=f"encrypted file {path}",
                  why="always available")


def _auto_file(ctx: OpenContext) -> Opened:
    return _open_file(ctx)


# -- system -------------------------------------------------------------------------------------
def _system(ctx: OpenContext, probe: KeyringProbe) -> Opened:
    from alpaca_tui.core.store.system import SystemBackend

    secrets = SystemBackend(ctx.home, probe.keyring, lock=ctx.lock)
    return Opened(FileIndex(ctx.home, ctx.lock), secrets, where=f"OS keyring {probe.backend}",
                  why=probe.reason)


def _open_system(ctx: OpenContext, reason: Reason) -> Opened:
    # A home already pinned to the keyring skips the test round trip: its first real call
    # (bounded as well) reports a dead keyring. It reads the Secret Service directly when that
    # is keyring's recorded choice here (secretservice.py), else asks keyring and records its choice.
    from alpaca_tui.core.store.secretservice import recorded_probe, remember
    from alpaca_tui.core.store.system import probe_keyring_detail

    probe = ctx.given_probe or (recorded_probe(ctx.home) if reason.pinned else None)
    if probe is None:
        probe = probe_keyring_detail(roundtrip=not reason.pinned)
        if probe.viable and reason.pinned:
            remember(ctx.home, probe.backend)
    ctx.probe = probe
    if not probe.viable:
        raise BackendUnavailableError(
            f"OS keyring unavailable ({probe.reason}) but it is {reason.required()}; fix: {KEYRING_FIX}"
            + ("" if reason.pinned else f"; {FILE_FIX}"))
    return _system(ctx, probe)


def _auto_system(ctx: OpenContext) -> Opened | str:
    from alpaca_tui.core.store.system import probe_keyring_detail

    probe = ctx.given_probe or probe_keyring_detail()
    ctx.probe = probe
    if not probe.viable:
        return f"OS keyring unavailable ({probe.reason})"
    return _system(ctx, probe)


SYSTEM = register_backend(BackendSpec("system", "OS keyring", _open_system, _auto_system,
                                      aliases=("keyring", "os")))
FILE = register_backend(BackendSpec("file", "encrypted file", _open_file, _auto_file,
                                    aliases=("encrypted-file", "encrypted")))



def _open_vault(ctx: OpenContext, reason: Reason) -> Opened:
    from alpaca_tui.core.store.vault import open_vault  # only a process that opens one imports it

    return open_vault(ctx, reason)


# The shared store registers after the local ones (by name only, never auto): OpenBao / Vault.
VAULT_LABEL = "OpenBao / Vault"  # also the Vault package's name for itself (vault.session.NAME)
VAULT = register_backend(BackendSpec("vault", VAULT_LABEL, _open_vault, None, aliases=("openbao", "bao")))
