"""Test processes only: the encrypted file's scrypt at n = 2^10 instead of 2^15.

The suite opens encrypted-file stores a few thousand times (every CLI command a test runs,
in-process or as a child, derives the key again); at the real cost (~80 ms of CPU each) that
was a third of the suite's CPU. ``tests/conftest.py`` lowers the parameter in the pytest
process and puts this directory first on ``PYTHONPATH`` for every child, where this module
lowers it the moment ``alpaca_tui.core.store.filecrypt`` is imported. Both sides of a test
agree, and files from outside the suite (other n) are still refused, as in production.
``tests/unit/test_kdf_cost.py`` checks, in a process without this, that alpaca-tui itself
writes and reads only n = 2^15. Nothing here is reachable from alpaca-tui's own code.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType

TARGET = "alpaca_tui.core.store.filecrypt"
TEST_LOG2_N = 10


class _Lower(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)  # type: ignore[arg-type]
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader
        exec_module = inner.exec_module  # type: ignore[union-attr]

        def patched(module: ModuleType) -> None:
            exec_module(module)
            module.SCRYPT_LOG2_N = TEST_LOG2_N  # type: ignore[attr-defined]

        inner.exec_module = patched  # type: ignore[union-attr,method-assign]
        return spec


if os.environ.get("ALPACA_TUI_TEST_FAST_KDF") == "1" and TARGET not in sys.modules:
    sys.meta_path.insert(0, _Lower())
