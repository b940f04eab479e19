"""Secret store: non-secret profile index + OS keyring or encrypted-file secrets.

Import path for everyone: ``alpaca_tui.core.store``. See DEVELOPERS.md (Store contract)
and the module docs of :mod:`.store`, :mod:`.index`, :mod:`.filecrypt`, :mod:`.system`.
"""

from __future__ import annotations

from alpaca_tui.core.store.filecrypt import LOCKED_MESSAGE, PASSPHRASE_FILE_ENV, FileBackend
from alpaca_tui.core.store.index import INDEX_VERSION
from alpaca_tui.core.store.store import (
    BACKEND_ENV,
    BACKEND_KINDS,
    HOME_ENV,
    INDEX_NAME,
    SECRETS_NAME,
    Store,
    default_home,
    requested_backend,
)
from alpaca_tui.core.store.system import (
    KeyringProbe,
    SystemBackend,
    probe_keyring_detail,
    probe_system_keyring,
    service_name,
)

__all__ = [
    "BACKEND_ENV",
    "BACKEND_KINDS",
    "HOME_ENV",
    "INDEX_NAME",
    "INDEX_VERSION",
    "LOCKED_MESSAGE",
    "PASSPHRASE_FILE_ENV",
    "SECRETS_NAME",
    "FileBackend",
    "KeyringProbe",
    "Store",
    "SystemBackend",
    "default_home",
    "probe_keyring_detail",
    "probe_system_keyring",
    "requested_backend",
    "service_name",
]
