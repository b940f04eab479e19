"""The emulator's modules import on their own, and their import graph has no cycle.

The graph counts every import of an ``alpaca_tui.emulator`` module anywhere in a file (top
level, inside functions, under ``TYPE_CHECKING``): a handler that reached back for the server
"only for typing" would close a circle the next refactor trips over.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import alpaca_tui.emulator
from tests.freshimports import import_each

PKG = "alpaca_tui.emulator"
PKG_DIR = Path(alpaca_tui.emulator.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PKG_DIR)], PKG + "."))


def _module_file(name: str) -> Path:
    return PKG_DIR / "__init__.py" if name == PKG else PKG_DIR / (name.rsplit(".", 1)[1] + ".py")


def _resolve(node: ast.ImportFrom, current: str) -> str:
    if not node.level:
        return node.module or ""
    package = current if current == PKG else current.rsplit(".", 1)[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports_of(name: str) -> set[str]:
    """The emulator modules ``name`` imports (``from PKG import x``: the submodule x if there is
    one, else the package itself)."""
    tree = ast.parse(_module_file(name).read_text("utf-8"))
    known = set(MODULES) | {PKG}
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, name)
            if target == PKG:
                subs = {f"{PKG}.{a.name}" for a in node.names}
                out |= (subs & known) or {PKG}
                if subs - known:
                    out.add(PKG)
            elif target in known:
                out.add(target)
    out.discard(name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_emulator_import_graph_is_acyclic() -> None:
    graph = {name: imports_of(name) for name in [PKG, *MODULES]}
    assert graph[f"{PKG}.dispatch"] >= {f"{PKG}.routes", f"{PKG}.authn"}   # the graph is really read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    # a TYPE_CHECKING import counts: this is the shape the old handlers had
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from alpaca_tui.emulator.server import Emulator\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module != "typing")
    assert _resolve(node, f"{PKG}.admin") == f"{PKG}.server"


def test_handlers_and_tables_never_import_the_server() -> None:
    graph = {name: imports_of(name) for name in MODULES}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n == goal:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(graph.get(n, ()))
        return False

    importers = [m for m in MODULES if m != f"{PKG}.server" and reaches(m, f"{PKG}.server")]
    assert importers == []


def test_each_emulator_module_imports_alone() -> None:
    """Each module imported alone (tests/freshimports.py: a fork each): it loads, and only the
    server itself has the server loaded."""
    results = import_each(MODULES, watch=(PKG.split(".")[0],))
    for module in MODULES:
        r = results[module]
        assert r.ok, f"{module}: {r.error}"
        assert module in r.loaded
        if module != f"{PKG}.server":
            assert f"{PKG}.server" not in r.loaded, f"{module} pulled in the server"
