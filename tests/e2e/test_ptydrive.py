"""The tests' own pseudo-terminal driver (tests/ptydrive.py) against small real programs in a
real pty: the size the program sees, the bytes each key name sends, waits that time out with
the screen, exit statuses, the clean kill of a whole process group, the raw output stream,
and the command line the bench and the demo tests use."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ptydrive import KEYS, PtyTimeout, Terminal, encode_keys, key

pytestmark = pytest.mark.e2e

DRIVER = Path(__file__).resolve().parents[1] / "ptydrive.py"
PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


# Reads the terminal in raw mode until a '.' and prints what came, as hex.
RAW_ECHO = (
    "import os, sys, tty\n"
    "tty.setraw(0)\n"
    "print('ready', flush=True)\n"
    "buf = b''\n"
    "while not buf.endswith(b'.'):\n"
    "    buf += os.read(0, 100)\n"
    "print('got ' + buf.hex(), flush=True)\n"
)


def test_the_program_sees_a_sized_controlling_terminal() -> None:
    code = ("import os, shutil; s = os.get_terminal_size(0); fd = os.open('/dev/tty', os.O_RDWR); "
            "print(f'size {s.columns}x{s.lines} term {os.environ[\"TERM\"]} tty {os.isatty(fd)} "
            "leader {os.getsid(0) == os.getpid()} x {os.environ.get(\"X_PTY\")}', flush=True)")
    with Terminal(py(code), size=(83, 21), extra_env={"X_PTY": "yes"}) as term:
        m = term.expect(r"size (\d+)x(\d+) term (\S+) tty (\w+) leader (\w+) x (\w+)")
        assert m.groups() == ("83", "21", "xterm-256color", "True", "True", "yes")
        assert term.wait_exit() == 0
    assert term.screen.columns == 83 and term.screen.lines == 21


@pytest.mark.parametrize(("names", "sent"), [
    (["enter", "tab", "shift+tab", "escape", "backspace"], "\r\t\x1b[Z\x1b\x7f"),
    (["up", "down", "right", "left", "home", "end", "pgup", "pgdn"],
     "\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1b[5~\x1b[6~"),
    (["ctrl+a", "ctrl+n", "ctrl+x", "ctrl+S", "alt+b", "f1", "f5", "delete", "space"],
     "\x01\x0e\x18\x13\x1bb\x1bOP\x1b[15~\x1b[3~ "),
])
def test_key_names_arrive_as_a_terminal_sends_them(names: list[str], sent: str) -> None:
    with Terminal(py(RAW_ECHO), size=(200, 10)) as term:
        term.expect("ready")
        term.press(*names)
        term.type(".")
        m = term.expect(r"got ([0-9a-f]+)")
    assert bytes.fromhex(m.group(1)) == (sent + ".").encode()


def test_keys_spec_mixes_names_and_literal_text() -> None:
    assert encode_keys("/,e2e,enter") == "/e2e\r"
    assert encode_keys("Hello world,comma,tab,ctrl+q") == "Hello world,\t\x11"
    assert key("ESC") == key("escape") == "\x1b"
    with pytest.raises(KeyError):
        key("e2e")
    assert all(v for v in KEYS.values())


def test_typed_text_is_utf8_and_keys_step_in_raw_mode() -> None:
    with Terminal(py(RAW_ECHO)) as term:
        term.expect("ready")
        term.keys("é€,enter,.")
        m = term.expect(r"got ([0-9a-f]+)")
    assert bytes.fromhex(m.group(1)).decode() == "é€\r."


def test_a_long_paste_into_a_busy_program_does_not_deadlock() -> None:
    # The program answers every byte it reads with one byte of output: while the driver writes
    # half a megabyte, the program's output fills the pty too, and only reading it in between
    # lets both go on.
    code = ("import os, tty; tty.setraw(0); os.write(1, b'ready'); n = 0; buf = b''\n"
            "while not buf.endswith(b'END'):\n"
            "    buf = os.read(0, 65536); n += len(buf); os.write(1, b'.' * len(buf))\n"
            "os.write(1, b'\\r\\ngot %d\\r\\n' % n)\n")
    paste = "x" * 500_000 + "END"
    with Terminal(py(code)) as term:
        term.expect("ready")  # raw mode (setting it flushes what was typed before)
        term.send(paste, settle=0)
        assert term.expect(r"got (\d+)", timeout=60).group(1) == str(len(paste))
        assert term.raw.count(b".") == len(paste)


def test_expect_times_out_with_the_screen_and_wait_gone() -> None:
    code = ("import time; print('first line', flush=True); time.sleep(0.4); "
            "print('\\x1b[2Jcleared', flush=True); time.sleep(30)")
    with Terminal(py(code)) as term:
        term.expect("first line")
        started = time.monotonic()
        with pytest.raises(PtyTimeout) as ei:
            term.expect("never shown", timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        assert "'never shown' not on screen after 0.3 s" in str(ei.value) and "first line" in str(ei.value)
        assert term.wait_gone("first line", timeout=10)
        term.expect("cleared")
        assert term.wait("cleared", present=False, timeout=0.2) is False


def test_raw_output_keeps_every_byte_the_screen_does_not() -> None:
    code = ("import sys; sys.stdout.write('\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07plain\\n'); "
            "sys.stdout.flush()")
    with Terminal(py(code)) as term:
        term.expect("red plain")
        assert term.wait_exit() == 0
    assert b"\x1b[31mred\x1b[0m" in term.raw and b"\x1b]0;title\x07" in term.raw
    assert "\x1b" not in term.text() and term.lines()[0] == "red plain"


def test_cursor_position_queries_are_answered() -> None:
    code = ("import os, sys, tty; tty.setraw(0); os.write(1, b'abc\\x1b[6n'); r = b''\n"
            "while not r.endswith(b'R'): r += os.read(0, 32)\n"
            "os.write(1, b'\\r\\nreply ' + r[1:])")
    with Terminal(py(code)) as term:
        term.expect(r"reply \[1;4R")


def test_exit_statuses() -> None:
    with Terminal(py("import sys; print('bye'); sys.exit(3)")) as term:
        assert term.wait_exit() == 3
        assert term.returncode == 3 and not term.alive
        term.expect("bye")  # the output is read to the end
    with Terminal(["sleep", "30"]) as term:
        assert term.alive
        assert term.kill() == -signal.SIGKILL
        assert term.wait_status is not None and os.WIFSIGNALED(term.wait_status)
    term = Terminal(["sleep", "30"])
    with pytest.raises(PtyTimeout, match="still running"):
        term.wait_exit(timeout=0.2)
    assert term.close() == -signal.SIGTERM
    assert term.close() == -signal.SIGTERM  # idempotent


def test_close_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    code = ("import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "c = subprocess.Popen(['sleep', '60']); print('child', c.pid, flush=True); time.sleep(60)")
    term = Terminal(py(code))
    child = int(term.expect(r"child (\d+)").group(1))
    started = time.monotonic()
    assert term.close(grace=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the grandchild got the SIGTERM too (init reaps it)
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"grandchild {child} survived the close")


def test_a_command_that_cannot_start_exits_127() -> None:
    with Terminal(["/nonexistent/program"]) as term:
        assert term.wait_exit() == 127
        term.expect("ptydrive: cannot start /nonexistent/program")


# -- the command line -----------------------------------------------------------------------------
def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(DRIVER), *args], capture_output=True, text=True, timeout=timeout)


def test_cli_steps() -> None:
    prog = "x = input('name? '); print(f'hello {x}!'); input(); print('done')"
    out = cli("--size", "40x8", "--timeout", "10", "--", PY, "-c", prog, "::",
              "wait:name\\?", "keys:world,enter", "wait:hello world!", "mark:@@ m", "screen",
              "keys:enter", "exit:0", "screen")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 + 8 + 8, lines
    assert re.fullmatch(r"@@ m: \d+\.\d{3}s", lines[0]) and lines[1:3] == ["name? world", "hello world!"]
    assert "done" in lines[-8:]


def test_cli_failures() -> None:
    out = cli("--timeout", "0.3", "--", PY, "-c", "print('here'); input()", "::", "wait:absent")
    assert out.returncode == 1 and "here" in out.stdout and "step 'wait:absent' timed out" in out.stdout
    out = cli("--", PY, "-c", "raise SystemExit(4)", "::", "exit:0")
    assert out.returncode == 1 and "exit status 4, expected 0" in out.stdout
    for bad in (["--", PY, "::", "bogus:1"], ["--size", "100", "--", PY], ["--"], ["--", PY, "::", "sleep:x"],
                ["--env", "NOEQUALS", "--", PY]):
        out = cli(*bad)
        assert out.returncode == 2, (bad, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr


def test_cli_first_paint() -> None:
    out = cli("--env", "GREETING=painted", "--first-paint", "painted", "--", PY, "-c",
              "import os, time; time.sleep(0.2); print(os.environ['GREETING']); time.sleep(30)")
    assert out.returncode == 0, out.stdout + out.stderr
    assert 0.2 <= float(out.stdout.strip()) < 10
