"""Request/response values passed between the HTTP handler and the emulator's route code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

JSON_CT = "application/json; charset=UTF-8"   # Alpaca's content type (alpaca-auth.md §3)


@dataclass
class Request:
    role: str
    method: str
    path: str                          # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]            # lower-cased names -> value (last one wins)
    header_names: list[str]            # as sent (case and underscores preserved)
    body: bytes
    client: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_CT
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False                 # close the connection without answering
    close: bool = False                # answer, then close the connection

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj, separators=(",", ":")).encode("utf-8"), JSON_CT,
                   dict(headers or {}))


def alpaca_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Alpaca's generic error body ``{"code": 8-digit, "message": ...}``."""
    return Reply.json(status, {"code": code, "message": message}, headers)


def unauthorized(reason: str) -> Reply:
    """Alpaca's 401, byte for byte; ``reason`` goes only to the emulator-only debug header."""
    return alpaca_error(401, 40110000, "request is not authorized", {"X-Emulator-Reason": reason})


def oauth_error(status: int, error: str, *, fields: list[str] | None = None,
                reason: str | None = None) -> Reply:
    """AuthX error body ``{"error": code, "fields": [{"name": ...}]}`` (fields optional)."""
    body: dict[str, Any] = {"error": error}
    if fields:
        body["fields"] = [{"name": f} for f in fields]
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if reason:
        headers["X-Emulator-Reason"] = reason
    return Reply.json(status, body, headers)
