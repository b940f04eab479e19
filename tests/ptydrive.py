#!/usr/bin/env python3
"""The project's pseudo-terminal driver: run a program in a real pty of a fixed size, type keys
into it, and read back what a VT100 terminal (pyte) would show.

As a library (tests, bench)::

    from tests.ptydrive import Terminal

    with Terminal(["alpaca-tui", "demo"], size=(100, 30)) as term:
        term.expect(r"\\d+ credentials")       # regex on the screen, or PtyTimeout with the screen
        term.keys("ctrl+n")                    # key names and literal text, comma-separated
        term.press("down", "enter")            # key names only
        term.type("e2e-oauth")                 # literal text
        print(term.text())                     # the screen, one line per row
        term.raw                               # every byte the program wrote, unfiltered
    # leaving the block: SIGTERM to its process group, SIGKILL after a grace period, reaped

As a command (``--size COLSxROWS``, ``--timeout`` per wait, ``--env K=V``)::

    python tests/ptydrive.py --size 100x30 -- CMD ARGS :: wait:REGEX keys:ctrl+n,tab screen
    python tests/ptydrive.py --first-paint REGEX -- CMD ARGS     # prints seconds to first sight

Steps after ``::``:
    wait:REGEX      wait until REGEX matches the screen        gone:REGEX   until it no longer does
    keys:SPEC       type SPEC (see :func:`encode_keys`)        sleep:SECS   pause (still reading)
    screen          print the screen                           mark:LABEL   print "LABEL: 1.234s"
    exit[:CODE]     wait for the program to exit (and check its exit status)

Exit status: 0 when every step succeeded, 1 when one failed (the screen is printed), 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import termios
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

import pyte

# What a VT100/xterm keyboard sends. Names are case-insensitive; ``ctrl+LETTER`` and
# ``alt+KEY`` are computed (see :func:`key`).
KEYS: dict[str, str] = {
    "enter": "\r", "return": "\r", "tab": "\t", "shift+tab": "\x1b[Z", "backtab": "\x1b[Z",
    "escape": "\x1b", "esc": "\x1b", "backspace": "\x7f", "space": " ", "comma": ",",
    "up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C", "left": "\x1b[D",
    "shift+up": "\x1b[1;2A", "shift+down": "\x1b[1;2B", "shift+right": "\x1b[1;2C", "shift+left": "\x1b[1;2D",
    "ctrl+up": "\x1b[1;5A", "ctrl+down": "\x1b[1;5B", "ctrl+right": "\x1b[1;5C", "ctrl+left": "\x1b[1;5D",
    "home": "\x1b[H", "end": "\x1b[F", "insert": "\x1b[2~", "delete": "\x1b[3~",
    "pgup": "\x1b[5~", "pageup": "\x1b[5~", "pgdn": "\x1b[6~", "pagedown": "\x1b[6~",
    "f1": "\x1bOP", "f2": "\x1bOQ", "f3": "\x1bOR", "f4": "\x1bOS",
    "f5": "\x1b[15~", "f6": "\x1b[17~", "f7": "\x1b[18~", "f8": "\x1b[19~",
    "f9": "\x1b[20~", "f10": "\x1b[21~", "f11": "\x1b[23~", "f12": "\x1b[24~",
    "ctrl+space": "\x00", "ctrl+@": "\x00", "ctrl+[": "\x1b", "ctrl+\\": "\x1c", "ctrl+]": "\x1d",
    "ctrl+^": "\x1e", "ctrl+_": "\x1f",
}
_CPR_QUERY = b"\x1b[6n"  # "where is the cursor?": a real terminal answers, some programs wait for it


class PtyTimeout(AssertionError):
    """A wait on the screen (or for the exit) ran out of time; the message ends with the screen."""


def key(name: str) -> str:
    """The characters a terminal sends for the key ``name`` (``enter``, ``ctrl+x``, ``alt+b``,
    ``shift+tab``, ``f5``...). KeyError for a name that is not a key."""
    low = name.strip().lower()
    if low in KEYS:
        return KEYS[low]
    if re.fullmatch(r"ctrl\+[a-z]", low):
        return chr(ord(low[-1]) - ord("a") + 1)
    if low.startswith("alt+") and len(name.strip()) > 4:
        rest = name.strip()[4:]
        return "\x1b" + (key(rest) if len(rest) > 1 else rest)  # alt+x is ESC x (case kept)
    raise KeyError(f"not a key name: {name!r}")


def encode_keys(spec: str) -> str:
    """``SPEC`` of the ``keys:`` step: comma-separated parts, each a key name (see :func:`key`)
    or else literal text typed as is; ``comma`` types a comma. ``"/,e2e,enter"`` -> ``"/e2e\\r"``."""
    out = []
    for part in spec.split(","):
        try:
            out.append(key(part))
        except KeyError:
            out.append(part)
    return "".join(out)


def _status_to_returncode(status: int) -> int:
    """A waitpid status as ``subprocess`` reports it: the exit code, or -N for signal N."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Terminal:
    """``argv`` running in a new pseudo-terminal of ``size`` (columns, rows), in its own session
    (the pty is its controlling terminal, as under a terminal emulator or sshd).

    ``env`` is the child's whole environment (default: this process's), ``extra_env`` is laid
    over it; TERM=xterm-256color, COLUMNS and LINES are set unless given there. Output is read
    only while a method of this object runs (``wait``/``expect``/``pump``/``settle``/...): a
    program that writes a lot blocks until someone reads, as in a real terminal.
    """

    def __init__(self, argv: Sequence[str], *, size: tuple[int, int] = (100, 30),
                 env: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None) -> None:
        if not argv:
            raise ValueError("no command")
        self.argv = [os.fspath(a) for a in argv]
        self.cols, self.rows = size
        child_env = dict(os.environ if env is None else env)
        child_env.update({"TERM": "xterm-256color", "COLUMNS": str(self.cols), "LINES": str(self.rows)})
        child_env.update(extra_env or {})
        exe = self.argv[0]
        if os.sep not in exe:
            exe = shutil.which(exe, path=child_env.get("PATH", os.defpath)) or exe
        self.screen = pyte.Screen(self.cols, self.rows)
        self._stream = pyte.ByteStream(self.screen)
        self._raw = bytearray()
        self.eof = False                 # the pty's other side is closed (everyone who had it exited)
        self.wait_status: int | None = None   # raw os.waitpid status once reaped
        self.fd = -1
        winsize = struct.pack("HHHH", self.rows, self.cols, 0, 0)
        self.start = time.monotonic()
        with warnings.catch_warnings():  # 3.12+: "multi-threaded, use of forkpty() may deadlock"
            warnings.simplefilter("ignore", DeprecationWarning)
            pid, fd = pty.fork()
        if pid == 0:  # child: size the terminal before the program can look, then exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(exe, self.argv, child_env)
            except BaseException as exc:
                os.write(2, f"ptydrive: cannot start {self.argv[0]}: {exc}\r\n".encode())
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        # non-blocking writes: a long paste into a program that is busy writing must not
        # deadlock (send() reads the output while the input queue is full)
        os.set_blocking(fd, False)

    # -- the child ----------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The exit status (``subprocess`` style: -N for signal N) once the child exited, else None."""
        if self.wait_status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else
                pid, status = self.pid, 0
            if pid == 0:
                return None
            self.wait_status = status
        return _status_to_returncode(self.wait_status)

    @property
    def returncode(self) -> int | None:
        return self.poll()

    @property
    def alive(self) -> bool:
        """The child has not exited yet."""
        return self.poll() is None

    def send_signal(self, sig: int = signal.SIGTERM, *, group: bool = True) -> None:
        """Send ``sig`` to the child (``group``: to its whole process group, i.e. what it
        started in the same session too). Nothing happens once the child was reaped."""
        if self.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                try:
                    os.killpg(self.pid, sig)
                    return
                except ProcessLookupError:  # just forked: not yet the leader of its own group
                    pass
            os.kill(self.pid, sig)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the child to exit, reading its output meanwhile (a TUI restoring the
        terminal must not block); its exit status (-N for signal N). PtyTimeout otherwise."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise PtyTimeout(f"{self.argv[0]} still running after {timeout} s; screen:\n{self.text()}")
            self.pump(0.01)
        self._drain()
        rc = self.poll()
        assert rc is not None
        return rc

    def kill(self, sig: int = signal.SIGKILL, *, group: bool = True, timeout: float = 10.0) -> int:
        """Send ``sig`` (default SIGKILL) and reap the child: its exit status (-N for signal N)."""
        self.send_signal(sig, group=group)
        return self.wait_exit(timeout)

    def close(self, grace: float = 3.0) -> int:
        """End the program the clean way: SIGTERM to its group, SIGKILL after ``grace`` seconds;
        reap it and close the pty. Idempotent; returns the exit status."""
        if self.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self.wait_exit(grace)
            except PtyTimeout:
                self.kill(signal.SIGKILL)
        if self.fd >= 0:
            self._drain()
            os.close(self.fd)
            self.fd = -1
        rc = self.poll()
        assert rc is not None
        return rc

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- output -------------------------------------------------------------------------------
    def pump(self, timeout: float = 0.0) -> bool:
        """Read what the program wrote within ``timeout`` seconds (at most one read); True if
        anything came. After EOF it just sleeps."""
        if self.eof or self.fd < 0:
            if timeout > 0:
                time.sleep(timeout)
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the other side is closed
            data = b""
        if not data:
            self.eof = True
            return False
        tail = bytes(self._raw[-(len(_CPR_QUERY) - 1):])
        self._raw += data
        self._stream.feed(data)
        if _CPR_QUERY in tail + data:
            y, x = self.screen.cursor.y + 1, self.screen.cursor.x + 1
            with contextlib.suppress(OSError):
                os.write(self.fd, f"\x1b[{y};{x}R".encode())
        return True

    def _drain(self, limit: float = 1.0) -> None:
        """What is still buffered in the pty (the program exited or is about to); at most
        ``limit`` seconds, should something it left behind keep writing."""
        end = time.monotonic() + limit
        while self.pump(0.0) and time.monotonic() < end:
            pass

    def settle(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (a pause that does not leave the program blocked)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pump(min(left, 0.02))

    @property
    def raw(self) -> bytes:
        """Every byte the program wrote to the terminal so far, escape sequences included."""
        return bytes(self._raw)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        """The screen now: one line per row, trailing blanks removed."""
        return "\n".join(self.lines())

    def elapsed(self) -> float:
        """Seconds since the program was started."""
        return time.monotonic() - self.start

    # -- waiting ------------------------------------------------------------------------------
    def wait(self, pattern: str | re.Pattern[str], timeout: float = 10.0, *, present: bool = True) -> bool:
        """Read until ``pattern`` matches the screen (``present=False``: until it no longer
        does) or ``timeout`` seconds pass; whether it happened. Regex: search, ``re.M`` off."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            if bool(rx.search(self.text())) == present:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.005))  # after EOF this just sleeps: let time run out

    def wait_gone(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> bool:
        return self.wait(pattern, timeout, present=False)

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Like :meth:`wait`, but the match, or PtyTimeout with the screen in its message."""
        if not self.wait(pattern, timeout):
            raise PtyTimeout(f"{_show(pattern)} not on screen after {timeout} s:\n{self.text()}")
        m = re.compile(pattern).search(self.text())
        assert m is not None
        return m

    def expect_gone(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> None:
        if not self.wait_gone(pattern, timeout):
            raise PtyTimeout(f"{_show(pattern)} still on screen after {timeout} s:\n{self.text()}")

    # -- input --------------------------------------------------------------------------------
    def send(self, data: str | bytes, *, settle: float = 0.05) -> None:
        """Write ``data`` to the terminal as typed (str is UTF-8), then read for ``settle`` s."""
        raw = data.encode() if isinstance(data, str) else data
        while raw:
            try:
                n = os.write(self.fd, raw)
            except BlockingIOError:
                n = 0
            raw = raw[n:]
            if raw:  # the input queue is full: let the program read (and write) first
                self.pump(0.01)
        if settle > 0:
            self.settle(settle)

    def type(self, text: str, *, settle: float = 0.05) -> None:
        """Type ``text`` literally."""
        self.send(text, settle=settle)

    def press(self, *names: str, settle: float = 0.05) -> None:
        """Press the named keys in one burst (``"ctrl+s"``, ``"down"``...). KeyError on a non-key."""
        self.send("".join(key(n) for n in names), settle=settle)

    def keys(self, spec: str, *, settle: float = 0.05) -> None:
        """Type a ``keys:`` step's SPEC (key names and literal text, see :func:`encode_keys`)."""
        self.send(encode_keys(spec), settle=settle)


def _show(pattern: str | re.Pattern[str]) -> str:
    return repr(pattern.pattern if isinstance(pattern, re.Pattern) else pattern)


# -- command line -----------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not m or not (1 <= int(m.group(1)) <= 1000 and 1 <= int(m.group(2)) <= 1000):
        raise argparse.ArgumentTypeError(f"size must be COLSxROWS, e.g. 100x30 (got {text!r})")
    return int(m.group(1)), int(m.group(2))


def run_steps(term: Terminal, steps: Iterable[str], timeout: float, out: list[str] | None = None) -> int:
    """Follow the CLI's steps on ``term``, printing as they ask; 0, or 1 at the first failure."""
    def say(line: str) -> None:
        print(line, flush=True)
        if out is not None:
            out.append(line)

    for step in steps:
        kind, _, arg = step.partition(":")
        if kind in ("wait", "gone"):
            if not term.wait(arg, timeout, present=kind == "wait"):
                say(term.text())
                say(f"ptydrive: step {step!r} timed out after {timeout}s")
                return 1
        elif kind == "keys":
            term.keys(arg)
        elif kind == "sleep":
            term.settle(float(arg))
        elif kind == "screen":
            term.settle(0.05)
            say(term.text())
        elif kind == "mark":
            say(f"{arg}: {term.elapsed():.3f}s")
        elif kind == "exit":
            try:
                rc = term.wait_exit(timeout)
            except PtyTimeout:
                say(term.text())
                say(f"ptydrive: the program did not exit within {timeout}s")
                return 1
            if arg and rc != int(arg):
                say(term.text())
                say(f"ptydrive: exit status {rc}, expected {arg}")
                return 1
        else:
            raise ValueError(f"unknown step {step!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ptydrive.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=(100, 30), help="COLSxROWS (default 100x30)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds for each wait step (default 10)")
    ap.add_argument("--first-paint", metavar="REGEX", help="print the seconds until REGEX shows, then quit")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="set in the program's environment")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] [:: STEP...]")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    steps: list[str] = []
    if "::" in command:
        cut = command.index("::")
        command, steps = command[:cut], command[cut + 1:]
    if not command:
        ap.error("no command")
    bad = [kv for kv in args.env if "=" not in kv]
    if bad:
        ap.error(f"--env wants K=V, got {bad[0]!r}")
    known = ("wait", "gone", "keys", "sleep", "screen", "mark", "exit")
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind not in known:
            ap.error(f"unknown step {step!r} (steps: {', '.join(known)})")
        if kind == "sleep" or (kind == "exit" and arg):
            try:
                float(arg) if kind == "sleep" else int(arg)
            except ValueError:
                ap.error(f"bad number in step {step!r}")
    extra = dict(kv.split("=", 1) for kv in args.env)
    try:
        term = Terminal(command, size=args.size, extra_env=extra)
    except OSError as exc:
        print(f"ptydrive: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.first_paint:
            if not term.wait(args.first_paint, args.timeout):
                print(term.text())
                print(f"first paint: {args.first_paint!r} not seen in {args.timeout}s")
                return 1
            print(f"{term.elapsed():.3f}")
            return 0
        return run_steps(term, steps, args.timeout)
    finally:
        term.close()


if __name__ == "__main__":
    sys.exit(main())
