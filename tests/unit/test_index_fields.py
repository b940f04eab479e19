"""A damaged or hostile index entry (a field of the wrong type, a naive timestamp) is one
``BadIndexError`` line naming the profile, never an AttributeError / TypeError traceback
("internal error" at the CLI) and never a profile the UI cannot show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.cli.main import main
from alpaca_tui.core.store.index import BadIndexError, parse_index

GOOD: dict[str, Any] = {
    "name": "a", "env": "paper", "flow": "legacy", "key_id_masked": "PK…AAAA",
    "access": {"accounts": "ro"}, "expires_at": "2027-01-01T00:00:00+00:00",
    "created_at": "2026-01-01T00:00:00+00:00", "rotated_at": None, "last_verified_at": None,
    "last_check_ok": True, "last_check_error": None, "endpoints": {"trading": "http://127.0.0.1:9"},
    "alg": None, "public_key_fingerprint": None, "rotation_state": None, "previous_retire_at": None,
    "pending_key_id_masked": None, "note": "a note",
}
WRONG: list[Any] = [5, 1.5, True, [1], {"a": 1}]
TIMES = ["expires_at", "created_at", "rotated_at", "last_verified_at", "previous_retire_at"]


def doc(entry: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "profiles": {"a": entry}}


def test_the_good_entry_parses() -> None:
    p = parse_index(doc(GOOD)).profiles["a"]
    assert p.note == "a note" and p.last_check_ok is True and p.expires_at is not None


@pytest.mark.parametrize("field", sorted(GOOD))
@pytest.mark.parametrize("value", WRONG, ids=lambda v: type(v).__name__)
def test_a_field_of_the_wrong_type_is_one_bad_index_line(field: str, value: Any) -> None:
    if field == "last_check_ok" and isinstance(value, bool):
        return  # the right type
    with pytest.raises(BadIndexError) as caught:
        parse_index(doc(GOOD | {field: value}))
    assert "'a'" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("field", ["access", "endpoints"])
@pytest.mark.parametrize("value", [{"accounts": 5}, {"trading": None}, {"x": ["ro"]}])
def test_mappings_of_the_wrong_values(field: str, value: Any) -> None:
    with pytest.raises(BadIndexError):
        parse_index(doc(GOOD | {field: value}))


@pytest.mark.parametrize("field", TIMES)
def test_a_timestamp_without_a_zone_is_refused(field: str) -> None:
    with pytest.raises(BadIndexError, match="no time zone"):
        parse_index(doc(GOOD | {field: "2026-01-01T00:00:00"}))


@pytest.mark.parametrize("command", [["profiles", "list"], ["check", "a"]])
def test_the_cli_says_one_line(alpaca_home: Path, capsys: pytest.CaptureFixture[str],
                               command: list[str]) -> None:
    alpaca_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    index = alpaca_home / "index.json"
    index.write_text(json.dumps(doc(GOOD | {"access": {"funding": 5}, "endpoints": [1]})))
    index.chmod(0o600)
    code = main(command)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1, err
    assert "profile index" in err and "bad entry for profile 'a'" in err
