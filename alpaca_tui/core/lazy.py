"""A package's names imported from their modules on first use (PEP 562 ``__getattr__``).

``__getattr__ = lazy_exports(__name__, {"Name": "module", ...})`` in a package's
``__init__``: ``from package import Name`` then imports ``package.module`` only when some code
asks for ``Name`` (the store's index reader does not load its secret backends, one emulator
part does not load the whole emulator). Each name is kept on the package once imported. The
names are also imported under ``TYPE_CHECKING`` there, for the type checker.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to its submodule."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__all__ = ["lazy_exports"]
