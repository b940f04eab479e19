"""Secret store: non-secret profile index + OS keyring or encrypted-file secrets.

Import path for everyone: ``alpaca_tui.core.store``. See DEVELOPERS.md (Store contract,
"Seams: store") and the module docs of :mod:`.store` (the rules), :mod:`.protocols` (the two
seams), :mod:`.registry` (backends by name), :mod:`.builtin`, :mod:`.fileindex`, :mod:`.index`,
:mod:`.filecrypt`, :mod:`.system`.
"""

from __future__ import annotations

from alpaca_tui.core.store.filecrypt import LOCKED_MESSAGE, PASSPHRASE_FILE_ENV, FileBackend
from alpaca_tui.core.store.fileindex import FileIndex
from alpaca_tui.core.store.index import INDEX_VERSION, IndexDoc
from alpaca_tui.core.store.protocols import Edit, IndexBackend, SecretBackend
from alpaca_tui.core.store.registry import (
    BackendSpec,
    OpenContext,
    Opened,
    Reason,
    backend_names,
    backend_spec,
    register_backend,
)
from alpaca_tui.core.store.store import (
    BACKEND_ENV,
    BACKEND_KINDS,
    HOME_ENV,
    INDEX_NAME,
    SECRETS_NAME,
    SecretLostError,
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
    "BackendSpec",
    "Edit",
    "FileBackend",
    "FileIndex",
    "IndexBackend",
    "IndexDoc",
    "KeyringProbe",
    "OpenContext",
    "Opened",
    "Reason",
    "SecretBackend",
    "SecretLostError",
    "Store",
    "SystemBackend",
    "backend_names",
    "backend_spec",
    "default_home",
    "probe_keyring_detail",
    "probe_system_keyring",
    "register_backend",
    "requested_backend",
    "service_name",
]
