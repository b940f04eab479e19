"""A throwaway store (the demo's): the encrypted-file backend under a random 256-bit key that
only ever lives in this process's memory.

There is no passphrase, so there is no key derivation: scrypt exists to make guessing a
passphrase slow, and a random key cannot be guessed. The file on disk is an ordinary
``secrets.enc`` (same format, a fresh salt and nonce) that nobody can open once the process
is gone, even if a kill left it behind. Nothing is asked, nothing touches the OS keyring.
"""

from __future__ import annotations

import os
from pathlib import Path

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.store.builtin import SECRETS_NAME
from alpaca_tui.core.store.filecrypt import FileBackend
from alpaca_tui.core.store.fileindex import INDEX_NAME, FileIndex
from alpaca_tui.core.store.fsutil import HomeLock
from alpaca_tui.core.store.registry import Opened
from alpaca_tui.core.store.store import Store

NOTE = "encrypted file under a random key held in memory only (a throwaway store)"


def open_throwaway(home: Path, *, clock: Clock = SYSTEM_CLOCK) -> Store:
    """A new store in ``home`` (which must not hold one yet) whose key is random and in memory."""
    home = home.expanduser().absolute()
    if (home / SECRETS_NAME).exists() or (home / INDEX_NAME).exists():
        raise UsageError(f"{home} already holds a store; a throwaway store starts empty")
    lock = HomeLock(home)
    secrets = FileBackend(home / SECRETS_NAME, lock, key=os.urandom(32))
    opened = Opened(FileIndex(home, lock), secrets, where=f"encrypted file {secrets.path}", why=NOTE)
    return Store(home, opened, lock, notes=[NOTE], clock=clock, keyring_probe=None)
