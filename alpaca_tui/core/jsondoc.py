"""JSON from outside, parsed with a bound on nesting.

``json.loads`` of ``[[[[...]]]]`` a few thousand levels deep raises RecursionError (not a
ValueError), and every recursive walk after it (redaction, cleaning, printing) risks the
same. Request bodies (``--data``), server answers and stored documents are parsed here:
anything nested deeper than :data:`MAX_DEPTH` is refused as a ValueError, like any other
malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "depth", "loads"]

MAX_DEPTH = 64


def depth(value: Any) -> int:
    """The nesting depth of a parsed document (a scalar is 0, ``[1]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        d += 1
        deepest = max(deepest, d)
        stack.extend((c, d) for c in children)
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ValueError (never RecursionError) for a document nested
    deeper than ``max_depth``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    if depth(value) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return value
