"""Text from outside, made safe to show: control characters become visible escapes.

What a server says (a message, a body, ``X-Request-ID``, ``Retry-After``), what a file
holds and what the index keeps are *data*. A terminal treats some characters in data as
commands: ``ESC ] 52 ; c ; <base64> BEL`` writes the clipboard (through tmux too), other
sequences set the window title or blank the screen, and the 8-bit C1 controls (U+0080 -
U+009F, e.g. U+009B "CSI") do the same on terminals that honour them; bidirectional
overrides and isolates make text read differently from what it is ("Trojan Source").

:func:`clean` turns every such character into a visible escape, so it is shown, never
obeyed:

* C0 controls except newline and tab (U+0000 - U+001F), DEL (U+007F) and the C1 controls
  (U+0080 - U+009F) -> ``\\x1b``, ``\\x7f``, ``\\x9b``;
* bidi controls: the embeddings and overrides U+202A - U+202E, the isolates U+2066 -
  U+2069, the marks U+200E, U+200F and U+061C -> ``\\u202e`` ...;
* the line and paragraph separators U+2028, U+2029 (a line break to some terminals and
  viewers) and lone surrogates (which no UTF-8 stream can write) -> ``\\u2028``, ``\\ud800``.

:func:`clean_line` also escapes newline and tab (for one-line fields). :func:`json_text` is
``json.dumps`` whose output holds none of these characters raw (they become JSON
``\\uXXXX`` escapes, so the document decodes to the same value). The output boundaries use
these: the CLI wraps its standard streams (``cli/main.py``), the TUI shows server text
through one helper, stored fields are cleaned before they are written.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["UNSAFE", "clean", "clean_json", "clean_line", "is_clean", "json_text"]

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_SEPARATORS = (0x2028, 0x2029)

# Every code point that is never shown raw (newline and tab are handled per function).
UNSAFE: frozenset[int] = frozenset(
    [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, *_SEPARATORS,
     *range(0xD800, 0xE000)])


def _visible(cp: int) -> str:
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


_TABLE: dict[int, str] = {cp: _visible(cp) for cp in UNSAFE}
_LINE_TABLE: dict[int, str] = {**_TABLE, 0x0A: "\\n", 0x09: "\\t"}
_JSON_TABLE: dict[int, str] = {cp: f"\\u{cp:04x}" for cp in UNSAFE}


def clean(text: str) -> str:
    """``text`` with every unsafe character as a visible escape (newline and tab kept)."""
    return text.translate(_TABLE)


def clean_line(text: str) -> str:
    """:func:`clean` for a one-line field: newline and tab are escaped as well."""
    return text.translate(_LINE_TABLE)


def is_clean(text: str) -> bool:
    """Whether ``text`` can be shown as it is (no unsafe character; newline and tab allowed)."""
    return not any(ord(c) in UNSAFE for c in text)


def clean_json(value: Any) -> Any:
    """A parsed JSON document with every string (keys too) passed through :func:`clean`."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean(str(k)): clean_json(v) for k, v in value.items()}
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``json.dumps(value, ensure_ascii=False)`` with the unsafe characters JSON-escaped.

    Outside strings a JSON text is ASCII, so every unsafe character sits inside a string,
    where ``\\uXXXX`` is its exact JSON spelling: the text stays valid and means the same.
    """
    return json.dumps(value, indent=indent, ensure_ascii=False).translate(_JSON_TABLE)
