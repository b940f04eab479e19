"""Which access a call needs: the scope guard's reading of a (API, method, path).

Broker credentials carry a 10-scope x {rw, ro, none} access matrix ([CRED]). Every operation
of Alpaca's Broker API is classified in :mod:`alpaca_tui.core.scopetable` (a scope, or
reference data); :func:`required_scope` matches a call against it and answers with a
:class:`Requirement` whose ``kind`` says which case it is:

* ``SCOPED``: the call needs ``scope`` at ``level`` (read-only for a read, read-write for
  a write). Every path of the market-data host needs Data.
* ``REFERENCE``: reference data (assets, calendar, clock, ...): any broker credential.
* ``UNKNOWN``: not an operation of the Broker API spec (a path or a method it does not
  list): the guard cannot say what it needs. Callers refuse a write and warn on a read.
* ``AMBIGUOUS``: the path means one operation as sent and another once percent-decoded
  (``%2F``, ``%2E`` tricks): refused, whatever the method.
* ``NO_MATRIX``: the API has no access matrix (Trading keys, the token endpoint).

Matching: templates as the spec writes them; ``{param}`` is one path segment (a crypto pair
``BTC/USD`` is also accepted for ``{symbol...}`` parameters, as the SDKs send it unencoded).
Where several templates match, the one with more literal segments wins, then the one whose
first differing segment is literal (``/v1/accounts/activities`` before
``/v1/accounts/{account_id}``); when the winning template lacks the method, the call is
``UNKNOWN`` (no fallback to a looser template). Before matching, the path is normalized the
way httpx sends it (query, fragment, doubled and trailing slashes, ``.``/``..`` segments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from urllib.parse import unquote

from alpaca_tui.core.environments import Api, normalize_path
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.core.scopetable import BROKER_PATHS, SPEC_TITLE, SPEC_VERSION

__all__ = [
    "BROKER_OPERATIONS",
    "WRITE_METHODS",
    "Kind",
    "Operation",
    "Requirement",
    "describe_requirement",
    "is_write",
    "match_operation",
    "normalize_path",
    "required_scope",
]

WRITE_METHODS: frozenset[str] = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SPEC_NAME = f"Alpaca's {SPEC_TITLE} {SPEC_VERSION}"

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = r"[^/]+"
_PAIR = r"(?:[A-Za-z0-9]+/[A-Za-z0-9]+|[^/]+)"   # {symbol...}: 'AAPL', an id, or 'BTC/USD'


def needed_level(scope: Scope | None, method: str) -> Level | None:
    """The level a call with ``method`` needs of ``scope``: read-write for writes, else read-only;
    None when no scope is needed."""
    if scope is None:
        return None
    return Level.RW if method in WRITE_METHODS else Level.RO


class Kind(StrEnum):
    SCOPED = "scoped"
    REFERENCE = "reference"
    UNKNOWN = "unknown"
    AMBIGUOUS = "ambiguous"
    NO_MATRIX = "no-matrix"


@dataclass(frozen=True)
class Operation:
    """One operation of the Broker API: method, the spec's template, scope (None: reference)."""

    method: str
    template: str
    scope: Scope | None

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def level(self) -> Level | None:
        """The level the operation needs (None for reference data)."""
        return needed_level(self.scope, self.method)

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


@dataclass(frozen=True)
class Requirement:
    """The scope guard's answer for one call (see the module doc for the kinds)."""

    kind: Kind
    api: Api
    method: str
    path: str                       # normalized (what is matched and shown)
    scope: Scope | None = None
    operation: Operation | None = None
    other: Operation | None = None  # AMBIGUOUS: the operation of the path as sent (``operation``:
                                    # once percent-decoded)

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def level(self) -> Level | None:
        """The level needed (read-only or read-write) when a scope is needed, else None."""
        return needed_level(self.scope, self.method)

    @property
    def need(self) -> tuple[Scope, bool] | None:
        """``(scope, write)`` when a scope is needed, else None (the pre-spec answer)."""
        return None if self.scope is None else (self.scope, self.write)

    def allowed_by(self, access: AccessMatrix) -> bool:
        """True when ``access`` allows the call as far as a scope is concerned (no scope: True)."""
        return self.scope is None or access.allows(self.scope, self.write)

    def describe(self) -> str:
        """'needs Funding (read-write)', 'reference data', 'not an operation of ...'."""
        if self.scope is not None:
            return f"needs {describe_requirement(self.scope, self.write)}"
        if self.kind is Kind.REFERENCE:
            return "reference data (no scope needed)"
        if self.kind is Kind.AMBIGUOUS:
            sent = self.other.key if self.other else "no operation"
            decoded = self.operation.key if self.operation else "no operation"
            return f"is ambiguous: as sent it is {sent}, percent-decoded {decoded}"
        if self.kind is Kind.UNKNOWN:
            return f"is not an operation of {SPEC_NAME}"
        return f"needs no scope (the {self.api.value} API has no access matrix)"


def _build() -> tuple[tuple[Operation, ...], list[tuple[str, dict[str, Operation]]]]:
    """The operations and the route order (most literal segments first); no regex yet."""
    ops: list[Operation] = []
    routes: list[tuple[tuple[int, tuple[int, ...]], str, dict[str, Operation]]] = []
    for template, methods, scope in BROKER_PATHS:
        by_method = {m: Operation(m, template, scope) for m in methods.split()}
        ops.extend(by_method.values())
        segments = template.strip("/").split("/")
        shape = tuple(1 if _PARAM.fullmatch(s) else 0 for s in segments)
        rank = (-shape.count(0), shape)
        routes.append((rank, template, by_method))
    routes.sort(key=lambda r: r[0])
    return tuple(ops), [(t, by) for _, t, by in routes]


@cache
def _routes() -> list[tuple[str, re.Pattern[str], dict[str, Operation]]]:
    """The routes' patterns, compiled on the first match (141 of them: ~7 ms a process that
    never asks, e.g. ``check`` of a trading key, would pay at import)."""
    return [(t, _template_regex(t), by) for t, by in _ORDER]


def _template_regex(template: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(_PAIR if m.group(1).startswith("symbol") else _SEGMENT)
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


BROKER_OPERATIONS, _ORDER = _build()


def _decoded(path: str) -> str:
    """The normalized path a server that percent-decodes before routing would see."""
    return normalize_path(unquote(normalize_path(path)))


def is_write(method: str) -> bool:
    return method.strip().upper() in WRITE_METHODS


def match_operation(method: str, path: str) -> Operation | None:
    """The Broker API operation a (method, normalized path) is, or None."""
    m = method.strip().upper()
    m = "GET" if m == "HEAD" else m
    for _template, rx, by_method in _routes():
        if rx.fullmatch(path):
            return by_method.get(m)
    return None


def required_scope(api: Api, method: str, path: str) -> Requirement:
    """What a broker credential needs for this call (see :class:`Requirement` and the module doc)."""
    m = method.strip().upper()
    p = normalize_path(path)
    if api is Api.DATA:
        return Requirement(Kind.SCOPED, api, m, p, scope=Scope.DATA)
    if api is not Api.BROKER:
        return Requirement(Kind.NO_MATRIX, api, m, p)
    op = match_operation(m, p)
    decoded = _decoded(p)
    if decoded != p:
        other = match_operation(m, decoded)
        if other != op:
            return Requirement(Kind.AMBIGUOUS, api, m, p, operation=other, other=op)
    if op is None:
        return Requirement(Kind.UNKNOWN, api, m, p)
    kind = Kind.REFERENCE if op.scope is None else Kind.SCOPED
    return Requirement(kind, api, m, p, scope=op.scope, operation=op)


def describe_requirement(scope: Scope, write: bool) -> str:
    """'Funding (read-write)' / 'Accounts (read-only)'."""
    return f"{scope.label} ({'read-write' if write else 'read-only'})"
