"""Layers point one way: core, emulator and cli never import Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import alpaca_tui.cli
import alpaca_tui.core


def _modules(pkg) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]


HEADLESS = ["alpaca_tui.cli.main", *_modules(alpaca_tui.core), *_modules(alpaca_tui.cli)]


@pytest.mark.parametrize("module", sorted(set(HEADLESS)))
def test_headless_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, importlib; importlib.import_module({module!r}); print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"{module} pulled in textual"


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
