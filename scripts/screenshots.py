#!/usr/bin/env python3
"""Regenerate README's pictures from the real ``alpaca-tui demo``, driven in a pty like a user.

``screenshots/*.svg``: the demo is started as a user starts it (the installed console script,
a 100x30 pseudo-terminal, keys typed at a human pace) and each picture is the terminal's
screen at that moment (scripts/termshot.py renders pyte's cells to SVG). ``assets/demo.cast``
(``--cast``): an asciinema v2 recording of one session, the wizard creating a credential, its
access token counting down, and a rotation.

Nothing here knows the demo's secrets: they never leave its processes. Every picture and
every frame of the recording is checked for anything shaped like one (termshot.secret_shapes),
and the script fails if it finds one.

Usage: python scripts/screenshots.py [--out screenshots] [--cast assets/demo.cast] [--no-shots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.termshot import Recorder, replay, secret_shapes, svg, svg_text, write_cast  # noqa: E402

SIZE = (100, 30)
PACE = 0.12  # seconds between keys: a quick typist, and what the app's widgets expect
SHOTS = {
    "home": "Environments & credentials",
    "wizard-access": "Creation wizard: access step with the scope matrix",
    "wizard-review": "Creation wizard: review",
    "token-panel": "Credential details with the live access-token countdown",
    "tester": "Request tester: GET /v2/account",
    "tester-live-confirm": "Request tester: a write to live asks first",
    "rotation": "Rotation: verified, promoted, old key kept for rollback",
    "help": "Help: every key",
    "palette": "Command palette",
}


class Session:
    """``alpaca-tui demo`` in a pty, with the helpers the scenarios are written in."""

    def __init__(self, tmp: Path) -> None:
        exe = Path(sys.executable).with_name("alpaca-tui")
        argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "alpaca_tui"]
        self.term = Recorder([*argv, "demo"], size=SIZE,
                             extra_env={"COLORTERM": "truecolor", "TMPDIR": str(tmp)})
        self.screens: list[str] = []
        self.wait(r"8 credentials · secrets", 60)
        self.term.wait_gone("loading auth engine", 30)

    def wait(self, pattern: str, timeout: float = 20) -> None:
        if not self.term.wait(pattern, timeout):
            raise SystemExit(f"timed out waiting for {pattern!r}; the screen:\n{self.term.text()}")
        self.screens.append(self.term.text())

    def keys(self, *names: str, pace: float = PACE) -> None:
        for name in names:  # a key name (enter, ctrl+s, f1) or one character
            self.term.keys(name, settle=pace)

    def type(self, text: str, pace: float = 0.06) -> None:
        for ch in text:
            self.term.type(ch, settle=pace)

    def pause(self, seconds: float) -> None:
        self.term.settle(seconds)
        self.screens.append(self.term.text())

    def select(self, name: str) -> None:
        """Filter the list down to ``name`` and put the cursor on it."""
        self.keys("/")
        self.type(name)
        self.wait(r"\d+ match")
        self.pause(0.4)
        self.keys("enter")
        self.pause(0.4)  # the list has the focus (and the cursor on the first match)

    def clear_filter(self) -> None:
        """Back to the whole list: escape (out of a screen, then the filter) until it shows."""
        for _ in range(4):
            self.keys("escape")
            if self.term.wait(r"\d credentials · secrets", 1.5):
                self.screens.append(self.term.text())
                return
        raise SystemExit(f"could not get back to the whole list; the screen:\n{self.term.text()}")

    def close(self) -> None:
        self.term.press("ctrl+q", settle=1.0)
        self.term.close()


def wizard(s: Session, name: str, access: Callable[[], None], expiry_downs: int = 2) -> None:
    s.keys("n")
    s.wait(r"step 1/")
    s.keys("down", "down", "down", "enter")  # Broker sandbox
    s.wait(r"· Flow")
    s.keys("enter")  # OAuth client secret (preselected for a broker environment)
    s.wait(r"· Identifiers")
    s.type(name)
    s.keys("enter")
    s.wait(r"· Expiration")
    s.keys(*["down"] * expiry_downs, "enter")
    s.wait(r"· Access")
    access()


def shots(out: Path, tmp: Path) -> list[str]:
    s = Session(tmp)
    written: list[str] = []

    def shot(name: str) -> None:
        s.pause(0.6)
        (out / f"{name}.svg").write_text(svg(s.term, f"alpaca-tui — {SHOTS[name]}"), encoding="utf-8")
        written.append(name)

    def custom_access() -> None:
        s.keys("end", "enter")  # custom: the matrix, arrows move, space sets the level
        s.pause(0.5)
        s.keys("down", "left", "space", "down", "down", "down", "down", "left", "space")
        s.wait(r"write access to Funding")

    try:
        shot("home")
        wizard(s, "sandbox-reporting", custom_access)
        shot("wizard-access")
        s.keys("ctrl+n")
        s.wait(r"· Review")
        shot("wizard-review")
        s.keys(*["escape"] * 6)
        s.wait(r"8 credentials · secrets")
        s.select("broker-sandbox-oauth")
        s.keys("enter")
        s.wait(r"│ \d\d:\d\d left")
        s.pause(2.5)
        shot("token-panel")
        s.clear_filter()
        s.select("paper")
        s.keys("t")
        s.wait(r"tester · paper")
        s.keys("ctrl+s")
        s.wait(r"200 OK")
        shot("tester")
        s.clear_filter()
        s.select("live")
        s.keys("t")
        s.wait(r"tester · live")
        s.keys("tab", "tab")  # from the path (empty: its placeholder shows) to the JSON body
        s.pause(0.3)
        s.type('{"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market"}', pace=0.02)
        s.keys("shift+tab", "shift+tab")  # back to the path
        s.pause(0.3)
        s.type("/v2/orders")
        s.keys("shift+tab")  # the method
        s.pause(0.3)
        s.keys("enter")
        s.wait(r"DELETE")
        s.keys("down")
        s.pause(0.3)
        s.keys("enter")
        s.term.wait_gone(r"DELETE", 5)
        s.wait(r"POST")
        s.pause(0.3)
        s.keys("ctrl+s")
        s.wait(r"Write to a live environment")
        shot("tester-live-confirm")
        s.keys("n")
        s.clear_filter()
        s.select("broker-sandbox-oauth")
        s.keys("r")
        s.wait(r"rotate · broker-sandbox-oauth")
        s.keys("ctrl+s")
        s.wait(r"✓ Rotated", 30)
        shot("rotation")
        s.clear_filter()
        s.keys("f1")
        s.pause(0.5)
        shot("help")
        s.clear_filter()
        s.keys("ctrl+p")
        s.wait(r"Search")
        s.type("token:")
        shot("palette")
        s.keys("escape")
    finally:
        s.close()
    pictures = [svg_text((out / f"{n}.svg").read_text(encoding="utf-8")) for n in written]
    check(s.screens + pictures, "screenshots")
    return written


def cast(path: Path, tmp: Path) -> None:
    s = Session(tmp)
    try:
        s.pause(1.5)
        wizard(s, "my-first-oauth", lambda: s.keys("enter"), expiry_downs=2)  # read only
        s.wait(r"· Review")
        s.pause(1.5)
        s.keys("enter")
        s.wait(r"connectivity check")
        s.pause(0.8)
        s.keys("y")
        s.wait(r"my-first-oauth .* ✓ now", 30)
        s.pause(1.0)
        s.select("my-first")
        s.keys("enter")
        s.wait(r"│ \d\d:\d\d left")
        s.pause(3.5)  # the countdown ticks
        s.keys("r")
        s.wait(r"rotate · my-first-oauth")
        s.pause(1.0)
        s.keys("ctrl+s")
        s.wait(r"✓ Rotated", 30)
        s.pause(3.0)
    finally:
        s.close()
    write_cast(path, s.term.events, SIZE, "alpaca-tui demo: the wizard, the token countdown, a rotation")
    _header, frames = replay(path)
    check(s.screens + frames, "the recording")


def check(texts: list[str], what: str) -> None:
    leaks = sorted({shape[:6] + "…" for text in texts for shape in secret_shapes(text)})
    if leaks:
        raise SystemExit(f"something shaped like a secret in {what}: {leaks}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--cast", type=Path, nargs="?", const=ROOT / "assets" / "demo.cast", default=None,
                    help="also record the session (default path assets/demo.cast)")
    ap.add_argument("--no-shots", action="store_true", help="only the recording")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alpaca-tui-shots-"))
    try:
        if not args.no_shots:
            args.out.mkdir(parents=True, exist_ok=True)
            for name in shots(args.out, tmp):
                print(args.out / f"{name}.svg")
        if args.cast:
            args.cast.parent.mkdir(parents=True, exist_ok=True)
            cast(args.cast, tmp)
            print(args.cast)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
