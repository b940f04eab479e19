"""The Secret Service, read without the ``keyring`` library's start-up: when keyring itself chose it.

Importing ``keyring`` and letting it discover its backends costs a process about 150 ms
(its dependencies, every backend module, entry points; the macOS backend even runs a
subprocess looking for a library). A ``check`` only reads one or two entries. So:

1. Whenever keyring's own discovery runs (the first use of a home, ``alpaca-tui doctor``,
   any process that cannot take the short way), its choice is recorded in the home as
   ``keyring-choice.json``, with what that choice depends on: keyring's configuration (the
   ``PYTHON_KEYRING_BACKEND`` and ``KEYRING_PROPERTY_*`` variables, a ``keyringrc.cfg``: with
   any of them set the short way is never taken), the installed packages (the modification
   time of the directory keyring is installed in, which changes when packages come and go),
   the desktop (``XDG_CURRENT_DESKTOP``: KWallet outranks the Secret Service under KDE).
2. A later process whose environment gives the same record, where keyring chose
   ``keyring.backends.SecretService.Keyring``, does not import keyring: it reads and writes
   entries through ``secretstorage`` exactly as that backend does (default collection,
   attributes ``service`` and ``username``, the first match; keyring's label and
   ``application``), as :class:`DirectSecretService`. What needs a prompt (a locked collection
   or item, no default collection) goes to keyring's own SecretService backend class, the
   class keyring chose, instantiated directly.

Wherever keyring chose the Secret Service, fresh or recorded, its calls go through
:class:`DirectSecretService`, which never addresses the default collection by its alias path
(gnome-keyring's races there: see READY_PAUSES).

``alpaca-tui doctor`` runs keyring's discovery and says whether the record agrees with it
(and rewrites it), so the short way never disagrees with keyring's choice for long.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.fsutil import atomic_write
from alpaca_tui.core.store.system import NO_COLLECTION, KeyringProbe

RECORD_NAME = "keyring-choice.json"
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
RECORD_MAX = 4096
T = TypeVar("T")
APPID = "Python keyring library"  # keyring's SecretService.Keyring.appid: its items' "application"


def environment() -> dict[str, Any] | None:
    """What keyring's choice depends on here, or None when the short way must not be taken."""
    if not sys.platform.startswith("linux") or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    if os.environ.get("PYTHON_KEYRING_BACKEND") or any(k.startswith("KEYRING_PROPERTY_") for k in os.environ):
        return None
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "python_keyring"
    if (config / "keyringrc.cfg").exists():
        return None
    spec = importlib.util.find_spec("keyring")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    try:
        installed = site.stat().st_mtime_ns
    except OSError:
        return None
    return {"site": str(site), "installed": installed, "desktop": os.environ.get("XDG_CURRENT_DESKTOP", "")}


def _read(home: Path) -> dict[str, Any] | None:
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.safefile import read_file

    try:  # a regular file of ours, no symlink, at most RECORD_MAX bytes (safefile's rules)
        raw = read_file(home / RECORD_NAME, cap=RECORD_MAX, label=RECORD_NAME)
    except AlpacaTuiError:
        return None
    try:
        doc = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def remember(home: Path, chosen: str | None) -> None:
    """Record keyring's choice ``chosen`` (a backend class name) for this environment; best effort."""
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.safefile import check_home

    env = environment()
    if env is None or chosen is None or not home.is_dir():
        return
    try:
        check_home(home)  # nothing is written into a home others could change
    except AlpacaTuiError:
        return
    doc = {"chosen": chosen, **env}
    if _read(home) == doc:
        return
    try:
        atomic_write(home / RECORD_NAME, (json.dumps(doc) + "\n").encode("utf-8"))
    except Exception as exc:  # a cache: never a reason to fail
        del exc


def recorded_choice(home: Path) -> str | None:
    """keyring's recorded choice when it still holds for this environment, else None."""
    env = environment()
    doc = _read(home)
    if env is None or doc is None or {k: doc.get(k) for k in env} != env:
        return None
    chosen = doc.get("chosen")
    return chosen if isinstance(chosen, str) else None


def recorded_probe(home: Path) -> KeyringProbe | None:
    """The short way's probe for a home already in the OS keyring, when keyring's recorded choice
    for this environment is the Secret Service (else None: ask keyring)."""
    if recorded_choice(home) != SECRET_SERVICE:
        return None
    return KeyringProbe(True, f"{SECRET_SERVICE} selected (keyring's recorded choice; home already uses it)",
                        SECRET_SERVICE, [], DirectSecretService())


# The default collection is found with the service's ReadAlias method, and only its real object
# path is used after it: never the alias path (/org/freedesktop/secrets/aliases/default) that
# keyring and secretstorage address it by. gnome-keyring (42) rewrites alias paths in its D-Bus
# worker thread from an alias table its main thread replaces whenever a new client connects, so
# with clients coming and going a call on the alias path now and then reaches a freed string:
# "Object does not exist at path .../collection/<garbage>", or a missing collection that
# secretstorage then asks to create (a prompt; headless, "dismissed"). Its first answers to a
# brand-new client can come before it has set that client up ("assertion 'client' failed"): a
# ReadAlias then answers "/" (no such collection), and a property read can abort the daemon
# (GLib's invoke_get_property_in_idle_cb assertion; D-Bus re-activates it locked). So each
# connection's first message is ReadAlias, asked again on the same connection while it says "/".
# Measured with bench/keyring_clients.py: four processes of new clients, keyring's way against this.
READY_PAUSES = (0.005, 0.01, 0.02, 0.05, 0.1)  # seconds; "/" after all of them: no default collection


class DirectSecretService:
    """keyring's SecretService backend (its items, attributes and labels), done directly through
    ``secretstorage`` on one connection per call, by the default collection's real path (above).

    keyring's own backend class (``keyring_backend``) takes what needs a prompt: a locked
    collection or item (keyring unlocks it), and a session with no default collection (keyring
    creates one), and any read this class cannot decrypt."""

    def __init__(self, backend: Any = None) -> None:
        self._backend = backend  # keyring's instance when keyring chose it here; else made on need
        self._aimed: dict[str, Any] = {}  # copies of it aimed at a collection path
        self._lock = threading.Lock()

    def keyring_backend(self, collection: str | None = None) -> Any:
        """keyring's own ``SecretService.Keyring`` (imported on first need), aimed at ``collection``
        (the default collection's real path) when it is known: a copy, so the instance keyring
        hands out (``keyring.get_keyring()``, one per process) is never changed."""
        import copy

        with self._lock:
            if self._backend is None:
                from keyring.backends.SecretService import Keyring

                self._backend = Keyring()  # type: ignore[no-untyped-call]
            if collection is None:
                return self._backend
            aimed = self._aimed.get(collection)
            if aimed is None:
                aimed = self._aimed[collection] = copy.copy(self._backend)
                aimed.preferred_collection = collection
            return aimed

    def _connect(self) -> tuple[Any, str | None]:
        """A new connection, and the default collection's path (None: the service has none, or
        cannot say: keyring's own way then)."""
        import secretstorage
        from secretstorage.defines import SS_PATH, SS_PREFIX
        from secretstorage.exceptions import ItemNotFoundException
        from secretstorage.util import DBusAddressWrapper

        connection = secretstorage.dbus_init()
        service = DBusAddressWrapper(SS_PATH, SS_PREFIX + "Service", connection)
        try:
            for pause in (*READY_PAUSES, None):
                try:
                    (path,) = service.call("ReadAlias", "s", "default")
                except ItemNotFoundException:  # no ReadAlias here (UnknownMethod): keyring's way
                    return connection, None
                if isinstance(path, str) and len(path) > 1:
                    return connection, path
                if pause is None:
                    return connection, None
                time.sleep(pause)
        except BaseException:
            connection.close()
            raise
        raise AssertionError("unreachable")

    def _unlocked_collection(self) -> tuple[Any, Any, str | None]:
        """(connection, the default collection or None, its path): None when keyring must act
        (no default collection, or a locked one)."""
        import secretstorage

        connection, path = self._connect()
        try:
            if path is None:
                return connection, None, None
            collection = secretstorage.Collection(connection, path)
            return connection, (None if collection.is_locked() else collection), path
        except BaseException:
            connection.close()
            raise

    def _by_keyring(self, collection: str | None, call: Callable[[Any], T]) -> T:
        """``call`` on keyring's own backend. With no default collection (``collection`` None
        after the waits above) keyring asks to create one: a prompt. If that fails (headless,
        the prompt is dismissed at once), it is this session's answer, not a passing one (the
        retries of system.is_passing_answer): said so, in one line."""
        try:
            return call(self.keyring_backend(collection))
        except Exception as exc:
            if collection is not None or NO_COLLECTION not in str(exc):
                raise
            text = " ".join(str(exc).split())
            raise StoreError(f"OS keyring has no default collection, and keyring could not create one "
                             f"({text})") from None

    def _keyring_get(self, service: str, username: str, collection: str | None) -> str | None:
        value = self._by_keyring(collection, lambda kr: kr.get_password(service, username))
        return value if isinstance(value, str) else None

    def get_password(self, service: str, username: str) -> str | None:
        connection, collection, path = self._unlocked_collection()
        try:
            if collection is None:  # keyring prompts to unlock (or create) it: let keyring do that
                return self._keyring_get(service, username, path)
            for item in collection.search_items({"username": username, "service": service}):
                if item.is_locked():
                    return self._keyring_get(service, username, path)
                value = _secret_of(connection, item.item_path)
                if value is None:  # an answer we do not read: keyring's own way
                    return self._keyring_get(service, username, path)
                return value.decode("utf-8")
            return None
        finally:
            connection.close()

    def set_password(self, service: str, username: str, password: str) -> None:
        connection, collection, path = self._unlocked_collection()
        try:
            if collection is None:
                self._by_keyring(path, lambda kr: kr.set_password(service, username, password))
                return
            # keyring's own label and attributes (SecretService.Keyring.set_password)
            appid = getattr(self._backend, "appid", None) or APPID  # KEYRING_PROPERTY_APPID, if set
            collection.create_item(f"Password for '{username}' on '{service}'",
                                   {"username": username, "service": service, "application": appid},
                                   password.encode("utf-8"), replace=True)
        finally:
            connection.close()

    def delete_password(self, service: str, username: str) -> None:
        connection, collection, path = self._unlocked_collection()
        try:
            if collection is None:
                self._by_keyring(path, lambda kr: kr.delete_password(service, username))
                return
            for item in collection.search_items({"username": username, "service": service}):
                item.delete()  # the first match only, as keyring does
                return
        finally:
            connection.close()
        from keyring.errors import PasswordDeleteError

        raise PasswordDeleteError("No such password!")


def default_collection(timeout: float) -> dict[str, Any]:
    """The default collection as :class:`DirectSecretService` finds it (for doctor): its path
    (None: the service has none) and whether it is locked; bounded by ``timeout``."""
    from alpaca_tui.core.store.system import call_with_timeout

    def look() -> dict[str, Any]:
        connection, collection, path = DirectSecretService()._unlocked_collection()
        connection.close()
        return {"path": path, "locked": None if path is None else collection is None}

    return call_with_timeout(look, timeout, "default collection")


def _secret_of(connection: Any, item_path: str) -> bytes | None:
    """``Item.get_secret()`` of secretstorage, done with its own session (``open_session``: the
    same DH-IETF1024 + AES-128-CBC transfer, or plain where the service has no DH), but
    decrypted with cryptography's default backend as the ``Cipher`` default: secretstorage
    passes ``default_backend()``, whose import costs a process ~13 ms. None when the answer
    cannot be decrypted or its padding is not PKCS#7 (the caller falls back to keyring)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.padding import PKCS7
    from secretstorage.defines import SS_PREFIX
    from secretstorage.util import DBusAddressWrapper, open_session

    session = open_session(connection)
    item = DBusAddressWrapper(item_path, SS_PREFIX + "Item", connection)
    (secret,) = item.call("GetSecret", "o", session.object_path)
    if not session.encrypted:
        return bytes(secret[2])
    if session.aes_key is None:
        return None
    try:
        decryptor = Cipher(algorithms.AES(session.aes_key), modes.CBC(bytes(secret[1]))).decryptor()
        padded = decryptor.update(bytes(secret[2])) + decryptor.finalize()
        unpadder = PKCS7(algorithms.AES.block_size).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:  # an IV, a length or a padding AES-CBC + PKCS#7 cannot take
        return None
