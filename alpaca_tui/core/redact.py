"""Masking and redaction: the one place that decides how secrets look when shown."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
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
    """``secret`` and the encodings it travels in inside text: JSON strings, URLs (with and
    without ``/`` left as it is; percent escapes match in any case, see :class:`_Needle`)."""
    urls = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], *urls}


_PERCENT = re.compile(r"%([0-9A-F])([0-9A-F])")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_MIN_BINARY_NEEDLE = 8


@dataclass(frozen=True)
class _Needle:
    """One form of a secret to find, and what replaces it. A form with percent escapes is
    found with them in any case (``%2F``, ``%2f``): ``pattern``."""

    text: str
    replacement: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, text: str, replacement: str) -> _Needle:
        if _HEX.fullmatch(text):  # hex in any case, even mixed
            return cls(text, replacement, re.compile(re.escape(text), re.IGNORECASE))
        if not _PERCENT.search(text):
            return cls(text, replacement)
        return cls(text, replacement, re.compile(_percent_rx(_PERCENT.split(text))))

    def found(self, text: str) -> bool:
        return self.text in text if self.pattern is None else self.pattern.search(text) is not None

    def replace(self, text: str) -> str:
        if self.pattern is None:
            return text.replace(self.text, self.replacement)
        return self.pattern.sub(lambda _m: self.replacement, text)


def _percent_rx(parts: list[str]) -> str:
    """``re.split`` parts of a form ([literal, hex, hex, literal, ...]) as a pattern whose
    percent escapes match in either case."""
    out = []
    for i, p in enumerate(parts):
        if i % 3 == 0:
            out.append(re.escape(p))
        elif i % 3 == 1:
            out.append(f"%[{p}{p.lower()}]")
        else:
            out.append(f"[{p}{p.lower()}]")
    return "".join(out)


def _binary_forms(secret: str) -> set[str]:
    """The secret's bytes as hex and as base64 (standard and URL-safe alphabets).

    Base64 inside a longer text (``Basic base64(key_id:secret)``, a JSON blob echoed back
    encoded) depends on where the secret starts modulo 3 bytes, so each of the three
    alignments gives a needle: the groups of 4 characters made of the secret's bytes only
    (a few edge bits stay, never enough to recover the secret)."""
    raw = secret.encode("utf-8", "surrogatepass")
    out = {raw.hex()}
    for shift in range(3):
        full = (shift + len(raw)) // 3  # complete 3-byte groups, the first one holding the shift
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode("ascii")
            out.add(text[4 if shift else 0: 4 * full])
        if shift == 0:
            out.add(base64.b64encode(raw).decode("ascii"))  # with its padding, as sent whole
    return {n for n in out if len(n) >= _MIN_BINARY_NEEDLE}


def _needles(secrets: Iterable[str | None]) -> list[_Needle]:
    """Longest first: text forms masked like the secret, binary forms (hex, base64) replaced
    by the mask character alone (they reveal nothing)."""
    pairs: dict[str, str] = {}
    for s in secrets:
        if not s or len(s) < 4:
            continue
        for b in _binary_forms(s):
            pairs.setdefault(b, MASK)
        for f in _forms(s):
            pairs[f] = mask(f)
    return [_Needle.of(t, r) for t, r in sorted(pairs.items(), key=lambda p: len(p[0]), reverse=True)]


def _redact(text: str, ordered: list[_Needle]) -> str:
    out = text
    # Repeat until stable: a masked tail followed by more text can spell a periodic secret
    # again ("abab…" cases). Every replacement shortens the text, so this terminates.
    changed = True
    while changed:
        changed = False
        for needle in ordered:
            if needle.found(out):
                out = needle.replace(out)
                changed = True
    return out


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of any secret (and its obvious encodings) in ``text``."""
    return _redact(text, _needles(secrets))


def redact_json(value: Any, secrets: Iterable[str | None]) -> Any:
    """:func:`redact` applied to every string (keys too) of a parsed JSON document.

    The document is returned as it is (no copy) when no string in it holds a secret, which
    is the common case; a copy is made only when there is something to mask."""
    ordered = _needles(secrets)
    if not ordered or not _holds_any(value, ordered):
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return _redact(v, ordered)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {_redact(str(k), ordered): walk(x) for k, x in v.items()}
        return v

    return walk(value)


def _holds_any(value: Any, needles: list[_Needle]) -> bool:
    """Whether any string (or key) in the document contains a needle. The document is
    written out once by the C encoder: each string then appears in its canonical JSON form,
    which is one of every secret's needles (``_forms``)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return True  # not plain JSON: walk it
    return any(n.found(text) for n in needles)


_AUTH_HEADER = re.compile(
    r"(?i)(authorization|apca-api-secret-key|client_secret|client_assertion)"
    r"([\"']?\s*[:=]\s*[\"']?)"
    r"((?:bearer\s+|basic\s+)?[^\s\"'&,]+)"
)


def scrub(text: str) -> str:
    """Best-effort removal of credential-looking values from free text (logs, server echoes)."""
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
