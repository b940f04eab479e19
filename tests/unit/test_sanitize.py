"""``core.sanitize``: nothing from outside reaches a terminal raw; ``--json`` stays valid JSON;
the CLI's streams pass everything through it (issue 12, item 1)."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from alpaca_tui.cli.main import SafeStream, safe_streams
from alpaca_tui.core.jsondoc import MAX_DEPTH, loads, text_depth
from alpaca_tui.core.sanitize import UNSAFE, clean, clean_json, clean_line, is_clean, json_text
from tests.hostile import ATTACK, HEADER_ATTACK

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def raw_controls(text: str) -> list[str]:
    return [c for c in text if ord(c) in UNSAFE]


def test_every_unsafe_class_becomes_a_visible_escape() -> None:
    assert clean("a\x1b]52;c;Zg==\x07b") == "a\\x1b]52;c;Zg==\\x07b"
    assert clean("\x9b31m") == "\\x9b31m"
    assert clean("\x7f\x00\r") == "\\x7f\\x00\\x0d"
    assert clean("\u202eevil\u202c") == "\\u202eevil\\u202c"
    assert clean("x\u2028y\u2029") == "x\\u2028y\\u2029"
    assert clean("\ud800") == "\\ud800"                      # a lone surrogate no stream can write
    assert clean("line 1\n\tline 2 ✓ €ß 日本") == "line 1\n\tline 2 ✓ €ß 日本"   # text stays text
    assert clean_line("a\nb\tc") == "a\\nb\\tc"
    for c in BIDI + "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)])):
        if c in "\n\t":
            continue
        assert not raw_controls(clean(c)) and clean(c).startswith("\\"), repr(c)
    assert is_clean("plain ✓\n") and not is_clean("\x1b") and not is_clean("\u202e")


def test_the_attacks_of_the_hostile_server_come_out_inert() -> None:
    for attack in (ATTACK, HEADER_ATTACK):
        out = clean(attack)
        assert not raw_controls(out)
        assert "\\x1b]52;c;" in out or "\\x9b" in out      # shown, so the user sees what was tried


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_clean_never_leaves_an_unsafe_character(text: str) -> None:
    out = clean(text)
    assert not raw_controls(out) and is_clean(out)
    assert clean(out) == out                                  # already clean: unchanged
    assert not raw_controls(clean_line(text)) and "\n" not in clean_line(text)
    if is_clean(text):
        assert out == text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_text_is_valid_same_value_and_inert(value: object) -> None:
    text = json_text(value)
    assert not raw_controls(text)
    assert json.loads(text) == value
    assert json_text(value, indent=None) == json_text(value, indent=None).strip()
    assert not raw_controls(json.dumps(clean_json(value), ensure_ascii=False))


def test_json_text_escapes_what_ensure_ascii_false_lets_through() -> None:
    value = {"m": "\x9b31m\u202e\x7f\u2028\x1b"}
    assert "\x9b" in json.dumps(value, ensure_ascii=False)   # the hole issue 12 found
    text = json_text(value)
    assert "\\u009b" in text and "\\u202e" in text and "\\u007f" in text and "\\u001b" in text
    assert json.loads(text) == value


def test_safe_stream_cleans_and_survives_a_non_utf8_terminal() -> None:
    buf = io.BytesIO()
    latin = io.TextIOWrapper(buf, encoding="latin-1")
    s = SafeStream(latin)  # type: ignore[arg-type]
    s.write(f"✓ {ATTACK} €\n")
    s.flush()
    out = buf.getvalue().decode("latin-1")
    assert "\x1b" not in out and "\x9b" not in out and "\\u2713" in out and "\\u20ac" in out


def test_safe_streams_wrap_and_restore(capsys: object) -> None:
    import sys

    before = sys.stdout, sys.stderr
    with safe_streams():
        print(ATTACK)
        print(ATTACK, file=sys.stderr)
    assert (sys.stdout, sys.stderr) == before
    out, err = capsys.readouterr()  # type: ignore[attr-defined]
    assert not raw_controls(out) and not raw_controls(err) and "\\x1b" in out


def test_json_nesting_is_bounded_without_recursion_error() -> None:
    assert text_depth('[{"a": "[[[[", "b": [1, {"c": []}]}]') == 5
    assert text_depth('"\\"[["') == 0
    assert loads("[" * (MAX_DEPTH) + "]" * MAX_DEPTH) is not None
    too_deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    for deep in (too_deep, "[" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000):
        try:
            loads(deep)
        except ValueError as exc:
            assert "nested deeper" in str(exc) or "Expecting" in str(exc)
        else:
            raise AssertionError("accepted a document nested too deep")
