"""Alpaca's published OpenAPI documents (``assets/openapi/``) as test helpers: every operation
of a host kind, and validation of a response body against the operation's schema.

Validation uses ``jsonschema`` through ``openapi-schema-validator``'s OpenAPI dialects: the
3.0 dialect for the Broker API (``nullable``, draft-4 ``$ref`` semantics), the 3.1 dialect
(JSON Schema 2020-12) for Trading, Market Data and AuthX. ``$ref`` pointers are resolved
against the whole spec document; formats (``uuid``, ``date``, ``date-time``) are checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "openapi"
FILES = {"trading": "trading-api.json", "data": "market-data-api.json", "broker": "broker-api.json",
         "authx": "authx.json"}
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"\{[^}]+\}")


@cache
def document(kind: str) -> dict[str, Any]:
    return json.loads((ASSETS / FILES[kind]).read_text("utf-8"))


def base_path(kind: str) -> str:
    """The path part of the document's first server URL (AuthX: ``/v1``)."""
    url = document(kind).get("servers", [{}])[0].get("url", "")
    return re.sub(r"^https?://[^/]+", "", url).rstrip("/")


def shape(template: str) -> str:
    """A template with its parameter names erased: ``/v2/orders/{}``."""
    return _PARAM.sub("{}", template)


@dataclass(frozen=True)
class Operation:
    kind: str
    method: str            # upper case
    path: str              # full template as the emulator serves it (base path included)
    spec_path: str         # the key under ``paths``
    operation_id: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def raw(self) -> dict[str, Any]:
        return document(self.kind)["paths"][self.spec_path][self.method.lower()]  # type: ignore[no-any-return]


@cache
def operations(kind: str) -> tuple[Operation, ...]:
    base = base_path(kind)
    out = []
    for spec_path, item in document(kind)["paths"].items():
        for method in METHODS:
            if method in item:
                out.append(Operation(kind, method.upper(), base + spec_path, spec_path,
                                     item[method].get("operationId", "")))
    return tuple(out)


def find(kind: str, method: str, template: str) -> Operation | None:
    """The spec operation an emulator route serves (parameter names may differ)."""
    want = (method.upper(), shape(template))
    return next((op for op in operations(kind) if (op.method, shape(op.path)) == want), None)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def response_pointer(op: Operation, status: int, content_type: str = "application/json") -> str | None:
    """JSON pointer to the schema of ``op``'s answer ``status`` (exact code, ``2XX`` or ``default``)."""
    responses = op.raw().get("responses", {})
    for code in (str(status), f"{str(status)[0]}XX", "default"):
        if code in responses:
            break
    else:
        return None
    resp = responses[code]
    if "$ref" in resp:
        resp_ptr = resp["$ref"]
        resp = _resolve(op.kind, resp_ptr)
        base = resp_ptr
    else:
        base = f"#/paths/{_escape(op.spec_path)}/{op.method.lower()}/responses/{code}"
    content = resp.get("content") or {}
    media = content_type if content_type in content else next(iter(content), None)
    if media is None or "schema" not in content[media]:
        return None
    return f"{base}/content/{_escape(media)}/schema"


def _resolve(kind: str, pointer: str) -> Any:
    node: Any = document(kind)
    for part in pointer.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@cache
def _validator_for(kind: str, pointer: str) -> Any:
    import openapi_schema_validator as osv

    doc = document(kind)
    oas30 = str(doc.get("openapi", "")).startswith("3.0")
    cls = osv.OAS30Validator if oas30 else osv.OAS31Validator
    checker = osv.oas30_format_checker if oas30 else osv.oas31_format_checker
    schema = {**doc, "$ref": pointer}
    if not oas30:
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return cls(schema, format_checker=checker)


def schema_errors(op: Operation, status: int, body: Any, content_type: str = "application/json") -> list[str]:
    """What is wrong with ``body`` as ``op``'s answer ``status`` (empty: it validates)."""
    pointer = response_pointer(op, status, content_type)
    if pointer is None:
        return [f"{op.key}: the spec documents no {content_type} schema for {status}"]
    validator = _validator_for(op.kind, pointer)
    out: list[str] = []
    for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        out.extend(_leaves(err))
    return out


def _leaves(err: Any) -> list[str]:
    """One line per leaf error: the path in the body and what is wrong there (for a ``oneOf`` /
    ``anyOf`` that no alternative meets, the errors of the alternative that came closest)."""
    from jsonschema.exceptions import best_match

    if err.context:
        return _leaves(best_match(err.context))
    where = "/".join(str(p) for p in err.absolute_path) or "(body)"
    if err.validator == "oneOf" and "is valid under each of" in err.message:
        return [f"{where}: oneOf: valid under more than one alternative"]
    return [f"{where}: {err.message[:300]}"]
