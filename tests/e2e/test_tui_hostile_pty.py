"""The real ``alpaca-tui`` in a pseudo-terminal (``tests/ptydrive.py``) against a hostile server.

A check whose error message carries terminal attacks (OSC 52 clipboard write, window title,
screen clear, 8-bit CSI, bidi override, markup), the request tester on an answer full of them
and on an endless body. Whatever the server sent, the bytes the app writes to the terminal
hold none of it raw: the attack sequences and every C1 control, bidi control and lone
surrogate are absent from the pty's raw output stream (the app's own drawing uses ESC
sequences; the attacker's never reach it), the window title is untouched, and the app's
peak RSS (VmHWM) stays far under 300 MiB (issue 12, items 1 and 2).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.sanitize import UNSAFE
from alpaca_tui.core.store import Store
from tests.hostile import HostileServer
from tests.ptydrive import Terminal
from tests.tui.test_hostile_tui import add

pytestmark = pytest.mark.e2e

# the attacker's sequences, byte for byte as the server sent them
ATTACKS = (b"\x1b]52;c;Y3Vy", b"\x1b]52;c;ZXZp", b"\x1bPtmux", b"\x1b]0;pwned", b"\x1b[31mred",
           "\x1b[2J\x9b31m".encode(), "\u202eevil".encode(), b"\x9b31m", b"\x7f\x00\x08")
# what the app's own drawing never needs: C1 controls, bidi controls, separators, lone surrogates
FOREIGN = {cp for cp in UNSAFE if cp >= 0x80}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as h:
        yield h


def palette(t: Terminal, command: str) -> None:
    t.keys("ctrl+p")
    assert t.wait(r"Search for commands", 10), t.text()
    t.type(command)
    # the command as the palette's first result, right under the search box (the box echoes
    # the typed text at once; enter before the results are in picks whatever was listed)
    first_result = "🔎 " + re.escape(command) + r"\s*\n\s*" + re.escape(command) + r" *\n"
    assert t.wait(first_result, 10), t.text()
    t.keys("enter")


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_hostile_answers_never_reach_the_terminal(alpaca_home: Path, hostile: HostileServer) -> None:
    store = Store.open()
    for name in ("p-escape", "p-escape-ok", "p-escape-text", "p-endless"):
        add(store, hostile, name)
    with Terminal([sys.executable, "-m", "alpaca_tui"], size=(100, 30),
                  extra_env={"ALPACA_TUI_NO_DEMO_OFFER": "1"}) as t:
        assert t.wait(r"4 credentials", 60), t.text()
        # the list comes before the auth engine (a check asked for sooner waits for it)
        assert t.wait(r"loading auth engine", 60, present=False), t.text()
        palette(t, "credential: p-escape — check")
        assert t.wait(r"✗ check p-escape", 60), t.text()
        assert t.wait(r"\\x1b\]52;c;Y3Vy", 5), t.text()            # the attack, shown as text
        palette(t, "request: GET /v2/account as p-escape-ok")
        assert t.wait(r"tester · p-escape-ok", 10), t.text()
        t.keys("ctrl+s")
        assert t.wait(r"200 OK", 30), t.text()
        assert t.wait(r"\\u001b\]52;c;", 5), t.text()              # a JSON answer: JSON-escaped
        t.keys("escape")
        palette(t, "request: GET /v2/account as p-escape-text")
        assert t.wait(r"tester · p-escape-text", 10), t.text()
        t.keys("ctrl+s")
        assert t.wait(r"\\x1b\]52;c;Y3Vy", 30), t.text()              # a text answer: visible escapes
        assert t.wait(r"\[link=https://evil.example\]click", 5), t.text()  # markup shown, not applied
        t.keys("escape")
        palette(t, "request: GET /v2/account as p-endless")
        assert t.wait(r"tester · p-endless", 10), t.text()
        t.keys("ctrl+s")
        assert t.wait(r"truncated: larger than the body cap", 30), t.text()
        rss = peak_rss_mib(t.pid)
        title = t.screen.title
        raw = bytes(t.raw)
    for attack in ATTACKS:
        assert attack not in raw, attack
    decoded = raw.decode("utf-8", "surrogateescape")
    foreign = sorted({f"U+{ord(c):04X}" for c in decoded if ord(c) in FOREIGN})
    assert not foreign, foreign
    assert "pwned" not in title and "title" not in title
    assert rss < 250, rss
