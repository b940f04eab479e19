"""docs/scopes.md is generated from the scope table (scripts/gen_scopes_doc.py) and must be current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from alpaca_tui.core.pathscopes import BROKER_OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_scopes_doc.py"
DOC = ROOT / "docs" / "scopes.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_scopes_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_scopes_md_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == generator().render(), \
        "docs/scopes.md is stale: run python scripts/gen_scopes_doc.py"


def test_the_doc_lists_every_operation_with_its_level() -> None:
    text = DOC.read_text(encoding="utf-8")
    for op in BROKER_OPERATIONS:
        level = "none (reference data)" if op.level is None else op.level.label
        assert f"| {op.method} | `{op.template}` | {level} |" in text, op.key


def test_check_mode_fails_on_a_stale_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    stale = tmp_path / "scopes.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("| read-write |", "| read-only |", 1))
    monkeypatch.setattr(gen, "OUT", stale)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_the_script_runs_as_a_command() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_readme_links_the_table() -> None:
    assert "(docs/scopes.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
