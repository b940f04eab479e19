"""JSON from outside, parsed with a bound on nesting.

``json.loads`` of ``[[[[...]]]]`` a few thousand levels deep raises RecursionError (not a
ValueError), and every recursive walk after it (redaction, cleaning, printing) risks the
same. Request bodies (``--data``), server answers and stored documents are parsed here:
anything nested deeper than :data:`MAX_DEPTH` is refused as a ValueError, like any other
malformed JSON, before ``json.loads`` sees it. The depth is read from the text at C speed
(strings taken out, then innermost bracket pairs removed once per level), so a 4 MiB
answer costs milliseconds, not a walk over millions of objects.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "loads", "text_depth"]

MAX_DEPTH = 64

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# every byte but the brackets is deleted; braces count as brackets (only the depth matters)
_KEEP = bytes.maketrans(b"{}", b"[]")
_DROP = bytes(b for b in range(256) if b not in b"[]{}")


def text_depth(text: str | bytes, *, limit: int = MAX_DEPTH) -> int:
    """The bracket nesting of a JSON text (strings ignored), or ``limit + 1`` when deeper."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    brackets = _STRING.sub(b"", raw).translate(_KEEP, _DROP)
    level = 0
    while brackets:
        if level > limit:
            return limit + 1
        shorter = brackets.replace(b"[]", b"")  # one level: the innermost pairs
        if len(shorter) == len(brackets):  # unbalanced: json.loads will say what is wrong
            return level
        brackets = shorter
        level += 1
    return level


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ValueError (never RecursionError) for a document nested
    deeper than ``max_depth``."""
    if text_depth(text, limit=max_depth) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
