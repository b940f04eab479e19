"""Layers point one way: core, emulator and cli never import Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import alpaca_tui.cli
import alpaca_tui.core
from tests.freshimports import import_each


def _modules(pkg) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]


HEADLESS = ["alpaca_tui.cli.main", *_modules(alpaca_tui.core), *_modules(alpaca_tui.cli)]


def test_no_headless_module_imports_textual() -> None:
    """Each of core's and cli's modules imported alone (tests/freshimports.py: a fork each)."""
    results = import_each(sorted(set(HEADLESS)))
    broken = {m: r.error for m, r in results.items() if not r.ok}
    assert not broken, broken
    pulled = sorted(m for m, r in results.items() if "textual" in r.loaded)
    assert pulled == [], f"these pulled in textual: {pulled}"
    assert len(results) > 50  # the walk found the packages' modules


def test_cli_parser_builds_without_textual() -> None:
    code = ("import sys; from alpaca_tui.cli.main import build_parser; build_parser(); "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_emulator_does_not_import_textual() -> None:
    code = "import sys, alpaca_tui.emulator; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
