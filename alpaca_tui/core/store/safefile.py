"""Files and directories we do not fully trust (issue 12, item 5).

**Reading.** :func:`read_file` is the one way alpaca-tui reads a file: opened with
``O_NOFOLLOW | O_NONBLOCK`` (a symlink in the data home is refused; a FIFO or device opens
without waiting for a writer), required to be a regular file by ``fstat`` after the open,
refused past a size cap before a byte is read, and read with the cap again (a file that grows
meanwhile is still refused). Files in the home must also belong to the user. Files the user
names (``ALPACA_TUI_PASSPHRASE_FILE``, a PEM key) may be reached through a symlink (secret
mounts are links), but are checked the same way once opened. The caps:

=================================  ==========  ===============================================
file                               cap         why that much
=================================  ==========  ===============================================
``index.json``                     8 MiB       ~1 KiB per profile: thousands of profiles
``secrets.enc``                    32 MiB      a bundle is < 20 KiB even with three PEM keys
``ALPACA_TUI_PASSPHRASE_FILE``     64 KiB      its first line is the passphrase
PEM private key                    64 KiB      ``core.keys.MAX_PEM_BYTES``; RSA 4096 is ~3 KiB
``agent.json`` (session agent)     4 KiB       a pid, a path, two numbers
a cached token (any backend)       64 KiB      a JWT is a few KiB (``TOKEN_ENTRY_MAX``)
=================================  ==========  ===============================================

(There is no configuration file: settings are environment variables.)

**The home.** :func:`check_home` is ssh's ``StrictModes`` for the data directory: the home
must belong to the user and be writable by nobody else, and every directory above it must
belong to the user or root and be writable by nobody else, except a sticky directory like
``/tmp`` (others cannot rename or delete what is ours in it; the home below it is still ours
and checked). Otherwise another local user could swap ``index.json`` (pointing the endpoints
at her server, which then receives the secret) or plant a socket. A refusal is one line with
the fix (``chmod 700 ...``, or choose another home).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from alpaca_tui.core.errors import StoreError

MiB = 1024 * 1024
INDEX_MAX = 8 * MiB
SECRETS_MAX = 32 * MiB
PASSPHRASE_FILE_MAX = 64 * 1024
AGENT_RECORD_MAX = 4096
TOKEN_ENTRY_MAX = 64 * 1024
_CHUNK = 64 * 1024

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISREG, "a regular file"))


class UnsafeFileError(StoreError):
    """A file or directory alpaca-tui refuses to use (not regular, too large, not ours...)."""


class FileTooLargeError(UnsafeFileError):
    """A file over its cap."""


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n // scale} {unit}" if n % scale == 0 else f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "of an unknown kind")


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def read_file(path: Path, *, cap: int, label: str, in_home: bool = True) -> bytes | None:
    """The bytes of ``path`` (see the module doc); None when it does not exist.

    ``label`` names the file in errors (``"cannot read <label>: <reason>"``). ``in_home``: never
    follow a symlink, and the file must belong to the user."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if in_home:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and in_home:
            raise UnsafeFileError(f"cannot read {label}: it is a symbolic link (alpaca-tui never follows "
                                  "links in its data directory; move it aside)") from None
        raise UnsafeFileError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"cannot read {label}: it is {_kind(st.st_mode)}, not a regular file")
        if in_home and st.st_uid != os.getuid():
            raise UnsafeFileError(f"cannot read {label}: it belongs to {_owner(st.st_uid)}, not you "
                                  "(move it aside)")
        if st.st_size > cap:
            raise FileTooLargeError(f"cannot read {label}: it is {_size(st.st_size)}, more than the "
                                  f"{_size(cap)} such a file can be")
        return _read_capped(fd, cap, label)
    except OSError as exc:
        raise UnsafeFileError(f"cannot read {label}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _read_capped(fd: int, cap: int, label: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, min(_CHUNK, cap + 1 - total))
        except BlockingIOError:  # a regular file never blocks; be safe anyway
            raise UnsafeFileError(f"cannot read {label}: it would block") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise FileTooLargeError(f"cannot read {label}: it grew past the {_size(cap)} such a file can be")


# -- the home ------------------------------------------------------------------------------------
HOME_FIX_OTHER = "or choose another data directory: export ALPACA_TUI_HOME=~/.local/share/alpaca-tui"


def _chain(path: Path) -> list[Path]:
    """``path`` and its ancestors, root first."""
    return [*reversed(path.parents), path]


def _refuse(home: Path, what: str, fix: str) -> UnsafeFileError:
    return UnsafeFileError(f"refusing to use the data directory {home}: {what}; fix: {fix}")


def _check_parent(home: Path, d: Path, st: os.stat_result, uid: int) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (uid, 0):
        raise _refuse(home, f"the directory above it, {d}, belongs to {_owner(st.st_uid)}",
                      "choose a data directory elsewhere: export ALPACA_TUI_HOME=<a directory of yours>")
    if mode & 0o022 and not mode & stat.S_ISVTX:
        who = "others" if mode & 0o002 else "its group"
        fix = (f"chmod go-w {d}" if st.st_uid == uid
               else f"ask the administrator to chmod go-w {d}, {HOME_FIX_OTHER}")
        raise _refuse(home, f"the directory above it, {d}, is writable by {who} (mode {mode:04o})", fix)


def _check_self(home: Path, st: os.stat_result, uid: int) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(home, f"it is {_kind(st.st_mode)}, not a directory", f"move it aside, {HOME_FIX_OTHER}")
    if st.st_uid != uid:
        raise _refuse(home, f"it belongs to {_owner(st.st_uid)}, not you",
                      f"move it aside (mv {home} {home}.untrusted) and let alpaca-tui create a new one, "
                      f"{HOME_FIX_OTHER}")
    if mode & 0o022:
        who = "others" if mode & 0o002 else "its group"
        raise _refuse(home, f"it is writable by {who} (mode {mode:04o}), who could swap its files",
                      f"chmod 700 {home}")


def check_home(home: Path) -> None:
    """Refuse a home (or one of its parents) that another user could change; see the module doc.

    A home that does not exist yet is fine if its existing parents are. Symlinks on the way are
    allowed when the directory holding them passes, and the real path is checked too."""
    uid = os.getuid()
    home = Path(os.path.abspath(home))
    chains = [_chain(home)]
    real = Path(os.path.realpath(home))
    if real != home:
        chains.append(_chain(real))
    for chain in chains:
        for d in chain:
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                break  # the rest will be created by us, 0700
            except OSError as exc:
                raise _refuse(home, f"cannot inspect {d} ({exc.strerror or exc})", HOME_FIX_OTHER) from None
            if stat.S_ISLNK(st.st_mode):
                continue  # the directory holding it was checked; its target is checked in the real chain
            if d == chain[-1]:
                _check_self(home, st, uid)
            else:
                _check_parent(home, d, st, uid)
