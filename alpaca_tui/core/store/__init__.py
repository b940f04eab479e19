"""Secret store: non-secret profile index + OS keyring or encrypted-file secrets.

Import path for everyone: ``alpaca_tui.core.store``. See DEVELOPERS.md (Store contract,
"Seams: store") and the module docs of :mod:`.store` (the rules), :mod:`.protocols` (the two
seams), :mod:`.registry` (backends by name), :mod:`.builtin`, :mod:`.fileindex`, :mod:`.index`,
:mod:`.filecrypt`, :mod:`.system`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
_WHERE = {
    "BACKEND_ENV": "alpaca_tui.core.store.store",
    "BACKEND_KINDS": "alpaca_tui.core.store.store",
    "BackendSpec": "alpaca_tui.core.store.registry",
    "Edit": "alpaca_tui.core.store.protocols",
    "FileBackend": "alpaca_tui.core.store.filecrypt",
    "FileIndex": "alpaca_tui.core.store.fileindex",
    "HOME_ENV": "alpaca_tui.core.store.store",
    "INDEX_NAME": "alpaca_tui.core.store.fileindex",
    "INDEX_VERSION": "alpaca_tui.core.store.index",
    "IndexBackend": "alpaca_tui.core.store.protocols",
    "IndexDoc": "alpaca_tui.core.store.index",
    "KeyringProbe": "alpaca_tui.core.store.system",
    "LOCKED_MESSAGE": "alpaca_tui.core.store.filecrypt",
    "OpenContext": "alpaca_tui.core.store.registry",
    "Opened": "alpaca_tui.core.store.registry",
    "PASSPHRASE_FILE_ENV": "alpaca_tui.core.store.filecrypt",
    "Reason": "alpaca_tui.core.store.registry",
    "SECRETS_NAME": "alpaca_tui.core.store.store",
    "SecretBackend": "alpaca_tui.core.store.protocols",
    "SecretLostError": "alpaca_tui.core.store.store",
    "Store": "alpaca_tui.core.store.store",
    "SystemBackend": "alpaca_tui.core.store.system",
    "backend_names": "alpaca_tui.core.store.registry",
    "backend_spec": "alpaca_tui.core.store.registry",
    "default_home": "alpaca_tui.core.store.registry",
    "probe_keyring_detail": "alpaca_tui.core.store.system",
    "probe_system_keyring": "alpaca_tui.core.store.system",
    "register_backend": "alpaca_tui.core.store.registry",
    "requested_backend": "alpaca_tui.core.store.store",
    "service_name": "alpaca_tui.core.store.system",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
