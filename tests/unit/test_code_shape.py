"""The engine stays readable in one sitting: no file over 400 lines, no function over 60.

Covers the auth engine's modules (core/auth/, core/api*, checks, rotation, engine, wire, registry,
preflight), the scope guard's (pathscopes, scopetable) and explain, and the shared store
(core/store/vault/, with the store modules it added: access, pin, tokencache, migrate) (issue 10:
"a reader can follow one check from the CLI to the wire through named objects, each in a file
under ~400 lines, no function over ~60 lines").
A function's span is from its ``def`` (or first decorator) to its last line, docstring included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "alpaca_tui" / "core"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def shaped_files() -> list[Path]:
    files = sorted((CORE / "auth").glob("*.py"))
    files += sorted(CORE.glob("api*.py")) + sorted(CORE.glob("api/*.py"))
    # and what they stand on: the wire, the credential registry, the local refusals
    files += [CORE / name for name in ("checks.py", "rotation.py", "engine.py", "wire.py", "registry.py",
                                       "preflight.py", "exchange.py", "retirement.py")]
    # the one-shot check of key pairs, without the engine (its blocking sender)
    files += [CORE / name for name in ("quickcheck.py", "syncwire.py")]
    # the scope guard and the error explanations
    files += [CORE / name for name in ("pathscopes.py", "scopetable.py", "explain.py")]
    # the auth proxy (issue 11) and the child's variables it shares with exec
    files += sorted((CORE / "proxy").glob("*.py")) + [CORE / "clientenv.py"]
    # the shared store
    files += sorted((CORE / "store" / "vault").glob("*.py"))
    files += [CORE / "store" / name for name in ("access.py", "pin.py", "tokencache.py", "migrate.py",
                                                 "store.py")]
    # issue 12: what text from outside passes through (cleaning, bounded parsing, redaction),
    # the per-call deadline, and the door's checks of tokens, URLs and keys
    files += [CORE / name for name in ("sanitize.py", "jsondoc.py", "deadline.py", "redact.py", "oauth.py",
                                       "http.py", "keys.py", "environments.py")]
    return files


def function_spans(tree: ast.AST) -> list[tuple[str, int]]:
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            spans.append((f"{node.name} (line {node.lineno})", node.end_lineno - first + 1))
    return spans


def test_the_shaped_files_exist() -> None:
    names = {p.relative_to(CORE).as_posix() for p in shaped_files()}
    assert {"auth/broker.py", "auth/state.py", "api.py", "checks.py", "rotation.py", "engine.py",
            "pathscopes.py", "scopetable.py", "explain.py",
            "store/vault/index.py", "store/vault/secrets.py", "store/migrate.py"} <= names
    assert {"proxy/server.py", "proxy/forward.py", "proxy/relay.py", "clientenv.py"} <= names
    assert {"sanitize.py", "jsondoc.py", "deadline.py"} <= names
    assert all(p.is_file() for p in shaped_files())


@pytest.mark.parametrize("path", shaped_files(), ids=lambda p: p.relative_to(CORE).as_posix())
def test_file_and_function_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.name}: {lines} lines (limit {MAX_FILE_LINES}): split it"
    too_long = [(name, n) for name, n in function_spans(ast.parse(text)) if n > MAX_FUNCTION_LINES]
    assert not too_long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_the_checker_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    spans = dict(function_spans(ast.parse(f"@decorator\ndef f():\n{body}\n")))
    assert spans["f (line 2)"] == MAX_FUNCTION_LINES + 2
