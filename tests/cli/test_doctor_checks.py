"""``doctor`` as a list of checks: the rows, their order, and a new backend added by one check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import alpaca_tui.cli.common as common
from alpaca_tui.cli import doctor
from alpaca_tui.cli.doctor_checks import CHECKS, DISPLAY, Facts, Row


@pytest.fixture(autouse=True)
def _no_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "have_tty", lambda: False)


def test_every_check_gives_one_named_row_in_order(alpaca_home: Path) -> None:
    rows = doctor.diagnose()
    assert [r.name for r in rows] == ["home", "index", "keyring", "file", "selection", "consistency",
                                      "permissions", "environment", "backend-fixes", "protection"]
    assert len(rows) == len(CHECKS) and all(isinstance(r, Row) for r in rows)
    assert set(DISPLAY) <= {r.name for r in rows}
    doc = doctor.report(rows)
    assert list(doc) == ["ok", *doctor.REPORT_KEYS, "fixes"]
    assert [b["kind"] for b in doc["backends"]] == ["system", "file"]
    lines = doctor.human(rows)
    assert lines[0].startswith("home            ") and lines[-1] == "status: ok"
    assert [ln.split()[0] for ln in lines if not ln.startswith(" ")][:3] == ["home", "index", "secret"]


def test_a_new_backend_is_one_more_check(alpaca_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a Vault backend would do: its check adds a backend row, a report key, human lines,
    a fix, and (unusable for this home) turns the exit code to 1, with no edit elsewhere."""

    def check_vault(f: Facts) -> Row:
        usable = f.value("selection", "backend") is not None   # reads an earlier row
        return Row("vault", {"vault_notes": ["sealed"]}, backend={"kind": "vault", "usable": False},
                   ok=not usable, fixes=["vault operator unseal"],
                   lines=["vault           ✗ sealed"])

    rows = doctor.diagnose((*CHECKS, check_vault))
    doc = doctor.report(rows)
    assert doc["ok"] is False
    assert [b["kind"] for b in doc["backends"]] == ["system", "file", "vault"]
    assert list(doc)[-2:] == ["vault_notes", "fixes"] and doc["fixes"][-1] == "vault operator unseal"
    text = "\n".join(doctor.human(rows))
    assert "vault           ✗ sealed\nfixes:" in text
    assert text.endswith("  vault operator unseal\nstatus: no usable secret backend for this home")
    assert json.loads(json.dumps(doc)) == doc


def test_collect_keeps_its_contract(alpaca_home: Path) -> None:
    doc, code = doctor.collect()
    assert code == 0 and doc["ok"] is True and doc["backend"] == {"kind": "file", "label": "encrypted file"}
    (alpaca_home).mkdir(mode=0o700)
    (alpaca_home / "index.json").write_text("{oops")
    doc, code = doctor.collect()
    assert code == 1 and doc["ok"] is False and doc["index"]["error"]
    assert doc["fixes"][0].startswith("repair or move aside the corrupted index")
