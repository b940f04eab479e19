"""Process hardening: no core dumps, no same-user memory reading, secrets in locked memory.

Every alpaca-tui process calls :func:`harden_process` before it reads a secret (``cli.main``
does it first thing, for every command and the TUI; the session agent does it at its start):

- ``RLIMIT_CORE`` soft limit 0 (the hard limit is kept, so the original can be given back to a
  child): a crash writes no core file with the API secret or the file key in it;
- Linux: ``prctl(PR_SET_DUMPABLE, 0)``: no core either (whatever the limit), and other
  processes of the same user can no longer ``ptrace`` it or open ``/proc/<pid>/mem``,
  ``/proc/<pid>/maps``, ``/proc/<pid>/environ`` (root still can: root is out of scope);
- macOS: the core limit only. ``PT_DENY_ATTACH`` cannot be turned off again for ``exec``'s
  child, so only the agent, which never runs another program, uses it (:func:`deny_attach`);
- elsewhere: whatever of the above exists, else nothing.

A program alpaca-tui starts for the user (``exec``'s child, ``exec --proxy``'s child) is a
normal program: :func:`restore_for_child` gives it the original core limit and makes it
dumpable again. ``exec`` calls it right before ``execve``; a parent that stays alive passes it
as ``preexec_fn`` (it runs in the forked child only, so the parent stays hardened). It uses
what :func:`harden_process` prepared and makes no allocation-heavy call, so it is safe there.

:class:`LockedBuffer` is memory for key material: one anonymous ``mmap`` page, ``mlock``-ed
where ``RLIMIT_MEMLOCK`` allows (never swapped out), excluded from core dumps
(``MADV_DONTDUMP``), zeroed when closed. :func:`memory_lock_probe` says whether locking works
here (``doctor`` reports it).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import sys
from dataclasses import dataclass
from typing import Any

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PT_DENY_ATTACH = 31  # macOS <sys/ptrace.h>
PAGE = mmap.PAGESIZE


@dataclass
class _Saved:
    core: tuple[int, int] | None = None   # RLIMIT_CORE before hardening
    hardened: bool = False


_saved = _Saved()
_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)  # the running program's libc (no find_library)
        except OSError:
            _libc = False
        else:  # declared, so the unsigned long arguments are passed whole
            ulong = ctypes.c_ulong
            if hasattr(_libc, "prctl"):
                _libc.prctl.argtypes = [ctypes.c_int, ulong, ulong, ulong, ulong]
            for name in ("mlock", "munlock"):
                if hasattr(_libc, name):
                    getattr(_libc, name).argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return _libc or None


def _set_dumpable(value: int) -> bool:
    libc = _load_libc()
    if libc is None or not sys.platform.startswith("linux"):
        return False
    return bool(libc.prctl(PR_SET_DUMPABLE, value, 0, 0, 0) == 0)


def is_dumpable() -> bool | None:
    """Linux: whether this process is dumpable (ptrace-able by the same user); None elsewhere."""
    libc = _load_libc()
    if libc is None or not sys.platform.startswith("linux"):
        return None
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)


def harden_process() -> None:
    """Core dumps off and (Linux) non-dumpable; idempotent. Never fails: each step is best effort."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if _saved.core is None:
            _saved.core = (soft, hard)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ImportError, OSError, ValueError):
        pass
    _set_dumpable(0)
    _saved.hardened = True


def restore_for_child() -> None:
    """Give a program we start the limits it would have had without us (see the module doc).

    Call it in the process that is about to ``execve`` (``exec``) or as ``preexec_fn``."""
    if not _saved.hardened:
        return
    if _saved.core is not None:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, _saved.core)
        except (ImportError, OSError, ValueError):
            pass
    _set_dumpable(1)


def exec_program(argv: list[str], env: dict[str, str]) -> None:
    """``execvpe`` a program with the limits restored (:func:`restore_for_child`). Returns only
    by raising the OSError of a failed exec, with this process hardened again."""
    restore_for_child()
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - argv list, no shell
    except OSError:
        harden_process()
        raise


def deny_attach() -> bool:
    """macOS: refuse debuggers for good (``PT_DENY_ATTACH``); for a process that never execs."""
    libc = _load_libc()
    if libc is None or sys.platform != "darwin":
        return False
    return bool(libc.ptrace(PT_DENY_ATTACH, 0, 0, 0) == 0)


def core_limit() -> int | None:
    """This process's soft RLIMIT_CORE (None where there is no such limit)."""
    try:
        import resource

        return int(resource.getrlimit(resource.RLIMIT_CORE)[0])
    except (ImportError, OSError, ValueError):
        return None


def memlock_limit() -> int | None:
    """Soft RLIMIT_MEMLOCK in bytes (-1: unlimited; None: unknown)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    return -1 if soft == resource.RLIM_INFINITY else int(soft)


class LockedBuffer:
    """``size`` bytes (at most one page) of memory that is mlock-ed where allowed; see the module doc.

    ``view`` is the writable memoryview of the buffer; ``locked`` says whether ``mlock`` worked
    and ``reason`` why not. ``close()`` zeroes it (also on garbage collection)."""

    def __init__(self, size: int = PAGE) -> None:
        if not 0 < size <= PAGE:
            raise ValueError(f"LockedBuffer holds 1..{PAGE} bytes")
        self.size = size
        self._map: mmap.mmap | None = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._cbuf: Any = (ctypes.c_char * PAGE).from_buffer(self._map)
        self._addr = ctypes.addressof(self._cbuf)
        dontdump = getattr(mmap, "MADV_DONTDUMP", None)
        if dontdump is not None:
            try:
                self._map.madvise(dontdump)
            except OSError:
                pass
        self.locked, self.reason = self._lock()
        self.view = memoryview(self._map)[:size]

    def _lock(self) -> tuple[bool, str]:
        libc = _load_libc()
        if libc is None or not hasattr(libc, "mlock"):
            return False, "mlock is not available on this system"
        limit = memlock_limit()
        shown = ("unlimited" if limit == -1 else "unknown" if limit is None
                 else f"{limit >> 10} KiB" if limit % 1024 == 0 else f"{limit} bytes")
        if libc.mlock(ctypes.c_void_p(self._addr), ctypes.c_size_t(PAGE)) == 0:
            return True, f"available: key pages are locked in RAM (RLIMIT_MEMLOCK {shown})"
        err = ctypes.get_errno()
        return False, f"mlock refused ({os.strerror(err) if err else 'error'}; RLIMIT_MEMLOCK {shown})"

    def close(self) -> None:
        """Zero the memory, unlock it, release it. Idempotent."""
        if self._map is None:
            return
        ctypes.memset(self._addr, 0, PAGE)
        libc = _load_libc()
        if self.locked and libc is not None:
            libc.munlock(ctypes.c_void_p(self._addr), ctypes.c_size_t(PAGE))
        self.view.release()
        del self._cbuf
        self._map.close()
        self._map = None

    def __enter__(self) -> LockedBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self.close()


def memory_lock_probe() -> tuple[bool, str]:
    """Whether this process can lock a page of key material in RAM, and why (not)."""
    try:
        with LockedBuffer(32) as buf:
            return buf.locked, buf.reason
    except (OSError, ValueError) as exc:
        return False, f"cannot allocate locked memory ({exc})"


def status() -> dict[str, Any]:
    """This process's hardening, for ``doctor``: core limit, dumpable, memory locking."""
    locked, reason = memory_lock_probe()
    return {"core_limit": core_limit(), "dumpable": is_dumpable(), "memory_lock": locked,
            "memory_lock_reason": reason, "memlock_limit": memlock_limit()}
