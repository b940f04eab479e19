"""AccessMatrix.from_dict parses each distinct matrix once: the profiles of an index share it,
so it must be read-only, and the memo must stay bounded and never change what is parsed."""

from __future__ import annotations

import pytest

from alpaca_tui.core import scopes
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope


def test_equal_dicts_give_one_shared_read_only_matrix() -> None:
    data = AccessMatrix.read_only().to_dict()
    a, b = AccessMatrix.from_dict(dict(data)), AccessMatrix.from_dict(dict(data))
    assert a is b and a == AccessMatrix.read_only()
    with pytest.raises(TypeError):
        a.levels[Scope.TRADING] = Level.RW  # type: ignore[index]
    changed = a.with_level(Scope.TRADING, Level.RW)
    assert changed.level(Scope.TRADING) is Level.RW and a.level(Scope.TRADING) is Level.RO
    assert AccessMatrix.from_dict(dict(data)).level(Scope.TRADING) is Level.RO


def test_the_memo_is_bounded_and_every_matrix_is_still_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scopes, "_FROM_DICT", {})
    names = [s.value for s in Scope]
    levels = ["rw", "ro", "none"]
    made = []
    for i in range(scopes._FROM_DICT_MAX + 200):  # distinct matrices: digits of i in base 3
        data = {name: levels[(i // 3 ** k) % 3] for k, name in enumerate(names)}
        matrix = AccessMatrix.from_dict(data)
        assert matrix.to_dict() == data
        made.append((data, matrix))
    assert len(scopes._FROM_DICT) == scopes._FROM_DICT_MAX
    for data, matrix in made[-5:] + made[:5]:
        assert AccessMatrix.from_dict(dict(data)) == matrix


def test_bad_names_are_refused_and_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scopes, "_FROM_DICT", {})
    for _ in range(2):
        with pytest.raises(UsageError, match="unknown scope"):
            AccessMatrix.from_dict({"tradnig": "rw"})
        with pytest.raises(UsageError, match="unknown access level"):
            AccessMatrix.from_dict({"trading": "sometimes"})
    assert scopes._FROM_DICT == {}
    with pytest.raises((TypeError, UsageError)):
        AccessMatrix.from_dict({"trading": ["rw"]})  # type: ignore[dict-item]
