"""Secret store: non-secret profile index + OS keyring or encrypted-file secrets.

Import path for everyone: ``alpaca_tui.core.store``. See DEVELOPERS.md (Store contract,
"Seams: store") and the module docs of :mod:`.store` (the rules), :mod:`.protocols` (the two
seams), :mod:`.registry` (backends by name), :mod:`.builtin`, :mod:`.fileindex`, :mod:`.index`,
:mod:`.filecrypt`, :mod:`.system`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpaca_tui.core.lazy import lazy_exports

if TYPE_CHECKING:
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

# Each name is imported from its module on first use (PEP 562): reading the index at start-up
# (``fileindex``, ``index``) does not load the secret backends (the encrypted file's crypto,
# the Secret Service, the registry of backends), which the store opens later, in a worker.
_EXPORTS = {
    "BACKEND_ENV": "store",
    "BACKEND_KINDS": "store",
    "BackendSpec": "registry",
    "Edit": "protocols",
    "FileBackend": "filecrypt",
    "FileIndex": "fileindex",
    "HOME_ENV": "store",
    "INDEX_NAME": "fileindex",
    "INDEX_VERSION": "index",
    "IndexBackend": "protocols",
    "IndexDoc": "index",
    "KeyringProbe": "system",
    "LOCKED_MESSAGE": "filecrypt",
    "OpenContext": "registry",
    "Opened": "registry",
    "PASSPHRASE_FILE_ENV": "filecrypt",
    "Reason": "registry",
    "SECRETS_NAME": "store",
    "SecretBackend": "protocols",
    "SecretLostError": "store",
    "Store": "store",
    "SystemBackend": "system",
    "backend_names": "registry",
    "backend_spec": "registry",
    "default_home": "registry",
    "probe_keyring_detail": "system",
    "probe_system_keyring": "system",
    "register_backend": "registry",
    "requested_backend": "store",
    "service_name": "system",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

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
