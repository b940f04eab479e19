"""Masking and redaction: the one place that decides how secrets look when shown."""

from __future__ import annotations

import re
from collections.abc import Iterable

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


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of any secret (and its obvious encodings) in ``text``."""
    out = text
    ordered = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
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


_AUTH_HEADER = re.compile(
    r"(?i)(authorization|apca-api-secret-key|client_secret|client_assertion)"
    r"([\"']?\s*[:=]\s*[\"']?)"
    r"((?:bearer\s+|basic\s+)?[^\s\"'&,]+)"
)


def scrub(text: str) -> str:
    """Best-effort removal of credential-looking values from free text (logs, server echoes)."""
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
