"""Masking and redaction: the one place that decides how secrets look when shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "…"


def mask(value: str | None, *, prefix: int = 4, suffix: int = 4) -> str:
    """Show ``prefix…last4``. Short values reveal less so they are never shown whole."""
    if not value:
        return ""
    n = len(value)
    if n <= 8:
        if n > 4:
            return MASK + value[-2:]
        return MASK if value != MASK else "*"
    if n <= prefix + suffix + 4:
        prefix, suffix = 2, 2
    return f"{value[:prefix]}{MASK}{value[-suffix:]}"


def _forms(secret: str) -> set[str]:
    """``secret`` and the encodings it travels in inside text: JSON strings, URLs."""
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            quote(secret, safe=""), quote_plus(secret)}


def _needles(secrets: Iterable[str | None]) -> list[str]:
    return sorted({f for s in secrets if s and len(s) >= 4 for f in _forms(s)}, key=len, reverse=True)


def _redact(text: str, ordered: list[str]) -> str:
    out = text
    # Repeat until stable: a masked tail followed by more text can spell a periodic secret
    # again ("abab…" cases). Every pass shortens the text, so this terminates.
    changed = True
    while changed:
        changed = False
        for s in ordered:
            if s in out:
                out = out.replace(s, mask(s))
                changed = True
    return out


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of any secret (and its obvious encodings) in ``text``."""
    return _redact(text, _needles(secrets))


def redact_json(value: Any, secrets: Iterable[str | None]) -> Any:
    """:func:`redact` applied to every string (keys too) of a parsed JSON document."""
    ordered = _needles(secrets)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return _redact(v, ordered)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {_redact(str(k), ordered): walk(x) for k, x in v.items()}
        return v

    return walk(value) if ordered else value


_AUTH_HEADER = re.compile(
    r"(?i)(authorization|apca-api-secret-key|client_secret|client_assertion)"
    r"([\"']?\s*[:=]\s*[\"']?)"
    r"((?:bearer\s+|basic\s+)?[^\s\"'&,]+)"
)


def scrub(text: str) -> str:
    """Best-effort removal of credential-looking values from free text (logs, server echoes)."""
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
