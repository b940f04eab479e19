"""The encrypted-file secret backend: ``<home>/secrets.enc`` (scrypt + AES-256-GCM).

For headless machines without a usable OS keyring. Never plaintext, not even as a fallback.

File format (version 1), all entries in one encrypted blob::

    offset  size  field
    0       8     magic b"ATUISEC\\x01"
    8       1     scrypt log2(n)   (15 -> n = 32768)
    9       1     scrypt r         (8)
    10      1     scrypt p         (1)
    11      16    salt (random, fixed for the life of the file)
    27      12    nonce (fresh random for every write)
    39      ...   AES-256-GCM ciphertext + 16-byte tag; AAD = bytes 0..38 (the header)

The plaintext is JSON ``{"v": 1, "entries": {"<profile>": "<SecretBundle JSON>",
"<profile>#token": "<token cache JSON>"}}``.

Only files with the parameters above are read (:func:`kdf_params`): the header is not
authenticated until the key exists, so any other n / r / p is refused before scrypt runs. The
file is read through :func:`.safefile.read_file` (regular file of the user, at most 32 MiB).

The passphrase comes from ``ALPACA_TUI_PASSPHRASE_FILE`` (first line), else the
``passphrase`` given to ``Store.open``, else the ``passphrase_provider`` (the CLI prompts
on /dev/tty; the TUI asks in a modal and calls ``Store.unlock``). A session agent started by
``alpaca-tui unlock`` (see :mod:`.agent`) is asked first, so a session unlocks once. The derived
key stays in process memory only, so a process unlocks once. Every modification re-reads and
re-decrypts the file under the home lock, so concurrent processes lose nothing.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import StoreError, WrongPassphraseError
from alpaca_tui.core.store.fsutil import HomeLock, atomic_write
from alpaca_tui.core.store.kvsecrets import KeyValueSecrets
from alpaca_tui.core.store.safefile import PASSPHRASE_FILE_MAX, SECRETS_MAX, read_file

MAGIC = b"ATUISEC\x01"
_HEAD = struct.Struct(">8sBBB16s12s")
HEADER_LEN = _HEAD.size  # 39
SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_LEN = 16
NONCE_LEN = 12
PASSPHRASE_FILE_ENV = "ALPACA_TUI_PASSPHRASE_FILE"
LOCKED_MESSAGE = "encrypted store is locked: set ALPACA_TUI_PASSPHRASE_FILE or run interactively"

PassphraseProvider = Callable[[bool], str]


@dataclass(frozen=True)
class Header:
    log2_n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes

    def pack(self) -> bytes:
        return _HEAD.pack(MAGIC, self.log2_n, self.r, self.p, self.salt, self.nonce)


def kdf_params() -> tuple[int, int, int]:
    """The scrypt parameters alpaca-tui writes, and the only ones it reads: (log2 n, r, p)."""
    return SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P


def derive_key(passphrase: str, salt: bytes, log2_n: int = SCRYPT_LOG2_N, r: int = SCRYPT_R,
               p: int = SCRYPT_P) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def parse(raw: bytes, path: Path) -> tuple[Header, bytes]:
    """Split a file into header and ciphertext; StoreError when it is not ours or truncated."""
    if len(raw) < HEADER_LEN + 16 or raw[:8] != MAGIC:
        if raw[:7] == MAGIC[:7] and len(raw) >= 8 and raw[7] != MAGIC[7]:
            raise StoreError(f"encrypted store {path} has format version {raw[7]}, "
                             "which this alpaca-tui does not understand (upgrade alpaca-tui)")
        raise StoreError(f"encrypted store {path} is corrupted or truncated (not an alpaca-tui secrets file)")
    _magic, log2_n, r, p, salt, nonce = _HEAD.unpack_from(raw)
    if (log2_n, r, p) != kdf_params():
        # The header is not authenticated before the key exists: a crafted one could ask for
        # gigabytes and minutes of scrypt. Only the parameters we write are ever derived with.
        raise StoreError(f"encrypted store {path} asks for key-derivation parameters alpaca-tui never "
                         f"writes (scrypt n=2^{log2_n}, r={r}, p={p}); refusing to derive a key with "
                         "them (a crafted or corrupted file: move it aside)")
    return Header(log2_n, r, p, salt, nonce), raw[HEADER_LEN:]


def encrypt(entries: Mapping[str, str], key: bytes, header: Header) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    head = Header(header.log2_n, header.r, header.p, header.salt, os.urandom(NONCE_LEN))
    aad = head.pack()
    plaintext = json.dumps({"v": 1, "entries": dict(entries)}, separators=(",", ":")).encode("utf-8")
    return aad + AESGCM(key).encrypt(head.nonce, plaintext, aad)


def decrypt(raw: bytes, key: bytes, path: Path) -> dict[str, str]:
    """Decrypt a whole file. WrongPassphraseError when the tag does not verify."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, ciphertext = parse(raw, path)
    try:
        plaintext = AESGCM(key).decrypt(header.nonce, ciphertext, header.pack())
    except InvalidTag:
        raise WrongPassphraseError(
            f"wrong passphrase for the encrypted store {path} (or the file was modified)") from None
    try:
        doc: Any = json.loads(plaintext)
        entries = doc["entries"]
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"encrypted store {path} decrypted but its content is malformed") from None
    return {str(k): v for k, v in entries.items()}


def read_passphrase_file(path_str: str) -> str:
    """The first line of the passphrase file: a regular file (no FIFO, no device such as
    /dev/zero) of at most :data:`.safefile.PASSPHRASE_FILE_MAX` bytes, UTF-8."""
    path = Path(path_str).expanduser()
    label = f"{PASSPHRASE_FILE_ENV}={path}"
    raw = read_file(path, cap=PASSPHRASE_FILE_MAX, label=label, in_home=False)
    if raw is None:
        raise StoreError(f"cannot read {label}: No such file or directory")
    try:
        line = raw.decode("utf-8").split("\n", 1)[0]
    except UnicodeDecodeError:
        raise StoreError(f"cannot read {label}: not UTF-8 text") from None
    value = line.rstrip("\r\n")
    if not value:
        raise StoreError(f"{PASSPHRASE_FILE_ENV}={path} is empty (its first line is the passphrase)")
    return value


class FileBackend(KeyValueSecrets):
    """Secret entries in one AES-GCM encrypted file, modified under the home lock.

    A :class:`~.protocols.SecretBackend`; ``lock`` must be the lock object the index uses.
    """

    kind = "file"
    label = "encrypted file"

    def __init__(self, path: Path, lock: HomeLock, *, passphrase: str | None = None,
                 passphrase_provider: PassphraseProvider | None = None, key: bytes | None = None) -> None:
        self.path = path
        self._lock = lock
        self._passphrase = passphrase
        self._provider = passphrase_provider
        self._key: bytes | None = None
        self._header: Header | None = None  # params + salt the key belongs to
        if key is not None:  # a throwaway store's random key (store/throwaway.py): nothing to derive
            if len(key) != 32:
                raise StoreError("a raw store key is 32 bytes")
            self._key = key
            self._header = Header(SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, os.urandom(SALT_LEN), b"\0" * NONCE_LEN)
        # Serialises key derivation (and prompting) between threads of this process. Never
        # held while waiting for the home lock, so it cannot deadlock with it.
        self._mutex = threading.RLock()

    # -- passphrase ------------------------------------------------------------------------
    def _env_passphrase_file(self) -> str | None:
        return os.environ.get(PASSPHRASE_FILE_ENV) or None

    def has_noninteractive_passphrase(self) -> bool:
        return bool(self._env_passphrase_file() or self._passphrase)

    def _get_passphrase(self, creating: bool) -> tuple[str, str]:
        """(passphrase, where it came from) — in the documented order."""
        env_file = self._env_passphrase_file()
        if env_file:
            return read_passphrase_file(env_file), f"from {PASSPHRASE_FILE_ENV}"
        if self._passphrase:
            return self._passphrase, "given"
        if self._provider is not None:
            value = self._provider(creating)
            if not value:
                raise StoreError("the passphrase cannot be empty")
            return value, "entered"
        raise StoreError(LOCKED_MESSAGE)

    def _read(self) -> bytes | None:
        return read_file(self.path, cap=SECRETS_MAX, label=f"encrypted store {self.path}")

    def _salt_matches(self, header: Header) -> bool:
        h = self._header
        return (self._key is not None and h is not None and h.salt == header.salt
                and (h.log2_n, h.r, h.p) == (header.log2_n, header.r, header.p))

    def _open_existing(self, raw: bytes, passphrase: str | None = None) -> dict[str, str]:
        """Decrypt ``raw``, deriving (and caching) the key for its salt if we do not have it."""
        with self._mutex:
            return self._open_existing_unlocked(raw, passphrase)

    def _open_existing_unlocked(self, raw: bytes, passphrase: str | None) -> dict[str, str]:
        header, _ = parse(raw, self.path)
        if self._salt_matches(header) and passphrase is None:
            assert self._key is not None
            return decrypt(raw, self._key, self.path)
        source = "given"
        if passphrase is None:
            from_agent = self._try_agent(raw)
            if from_agent is not None:
                return from_agent
            passphrase, source = self._get_passphrase(False)
        key = derive_key(passphrase, header.salt, header.log2_n, header.r, header.p)
        try:
            entries = decrypt(raw, key, self.path)
        except WrongPassphraseError as exc:
            if source.startswith("from"):
                raise WrongPassphraseError(f"{exc.message} — passphrase {source}") from None
            raise
        self._key, self._header = key, header
        return entries

    def _try_agent(self, raw: bytes) -> dict[str, str] | None:
        """Decrypt ``raw`` with the key of a running session agent (``alpaca-tui unlock``) and keep
        that key; None when no agent holds this file's key."""
        from alpaca_tui.core.store import agent

        with self._mutex:
            header, _ = parse(raw, self.path)
            key = agent.fetch_key(self.path.parent, header.salt, (header.log2_n, header.r, header.p))
            if key is None:
                return None
            try:
                entries = decrypt(raw, key, self.path)
            except WrongPassphraseError:
                return None  # not this file's key after all: the caller asks for the passphrase
            self._key, self._header = key, header
            return entries

    def session_key(self) -> tuple[bytes, Header]:
        """The derived key and the header it belongs to (for ``alpaca-tui unlock``); unlocks first."""
        raw = self._read()
        if raw is None:
            raise StoreError(f"there is no encrypted store at {self.path} yet (add a profile first)")
        with self._mutex:
            self._open_existing_unlocked(raw, None)
            assert self._key is not None and self._header is not None
            return self._key, self._header

    def _new_key(self, passphrase: str | None = None) -> None:
        with self._mutex:
            self._new_key_unlocked(passphrase)

    def _new_key_unlocked(self, passphrase: str | None) -> None:
        if passphrase is None:
            passphrase, _ = self._get_passphrase(True)
        header = Header(SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, os.urandom(SALT_LEN), b"\0" * NONCE_LEN)
        self._key = derive_key(passphrase, header.salt, header.log2_n, header.r, header.p)
        self._header = header

    # -- public ----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def is_unlocked(self) -> bool:
        return self._key is not None

    def needs_unlock(self) -> bool:
        """True when reading/writing secrets would need an interactive passphrase first."""
        if self._key is not None or self.has_noninteractive_passphrase():
            return False
        raw = self._read()
        if raw is None:
            return True
        try:
            return self._try_agent(raw) is None
        except StoreError:
            return True

    def unlock(self, passphrase: str) -> None:
        if not passphrase:
            raise StoreError("the passphrase cannot be empty")
        raw = self._read()
        if raw is None:
            self._new_key(passphrase)
        else:
            self._open_existing(raw, passphrase)

    def prepare(self) -> None:
        """Derive the key before taking the lock (scrypt is slow; keep the lock short)."""
        with self._mutex:
            if self._key is not None:
                return
            raw = self._read()
            if raw is None:
                self._new_key()
            else:
                self._open_existing(raw)

    def creating_new_store(self) -> bool:
        return not self.exists()

    def ensure_reachable(self, name: str) -> None:
        pass  # opened (and decrypted) by prepare(): nothing more to prove

    def bundle_names(self) -> list[str] | None:
        return sorted(k for k in self.read_all() if "#" not in k)  # "#": token entries

    def read_all(self) -> dict[str, str]:
        raw = self._read()
        return {} if raw is None else self._open_existing(raw)

    def get(self, key: str) -> str | None:
        return self.read_all().get(key)

    def transaction(self) -> AbstractContextManager[object]:
        self.prepare()  # derive the key before taking the lock
        return self._lock.hold()

    def update(self, sets: Mapping[str, str] | None = None, deletes: Iterable[str] = ()) -> None:
        """Set and delete entries in one locked read-modify-write."""
        self.prepare()
        with self._lock.hold():
            raw = self._read()
            if raw is None:
                entries: dict[str, str] = {}
                if self._key is None or self._header is None:
                    self._new_key()
            else:
                entries = self._open_existing(raw)
            before = dict(entries)
            entries.update(sets or {})
            for k in deletes:
                entries.pop(k, None)
            if entries == before:
                return
            assert self._key is not None and self._header is not None
            atomic_write(self.path, encrypt(entries, self._key, self._header))
