"""Route tables: what each host role answers, as data that tests (and a spec-driven scope
guard) can walk.

A :class:`Route` is one operation: an HTTP method, a path template in OpenAPI syntax
(``/v1/accounts/{account_id}/transfers``), the handler, and for broker routes the scope a
broker credential needs and at which level (read-only for reads, read-write for writes). A
:class:`RouteTable` is the ordered list of routes one host role serves; the first route whose
template matches wins, so a literal path (``/v1/accounts/activities``) goes before a template
that would also match it (``/v1/accounts/{account_id}``).

The tables themselves live beside their handlers' hosts (:mod:`.api` for trading, data and
broker, :mod:`.authx`, :mod:`.admin`); :func:`alpaca_tui.emulator.routes.table` gives the one
for a role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote

from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.emulator.context import Ctx
from alpaca_tui.emulator.wire import Reply

Handler = Callable[[Ctx], Reply]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SEGMENT = "[^/]+"   # what a ``{param}`` matches unless the route says otherwise


def compile_template(template: str, param_patterns: Mapping[str, str] | None = None) -> re.Pattern[str]:
    """``/v2/orders/{order_id}`` -> ``^/v2/orders/(?P<order_id>[^/]+)/?$`` (one optional
    trailing slash, like Alpaca's hosts)."""
    patterns = param_patterns or {}
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>{patterns.get(m.group(1), SEGMENT)})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "/?$")


@dataclass(frozen=True, eq=False)
class Route:
    """One operation a host answers (compared and hashed by identity)."""

    method: str                        # GET, POST, PUT, PATCH, DELETE
    path: str                          # template, OpenAPI syntax: /v1/accounts/{account_id}
    handler: Handler
    scope: Scope | None = None         # broker credentials need this scope (None: any credential)
    anonymous: bool = False            # answered without credentials too (historical crypto data)
    kind: str = ""                     # the kind of host: trading | data | broker | authx | admin
    param_patterns: Mapping[str, str] = field(default_factory=dict)   # {param: regex} overrides
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method != self.method.upper() or not self.path.startswith("/"):
            raise ValueError(f"bad route {self.method} {self.path}")
        object.__setattr__(self, "pattern", compile_template(self.path, self.param_patterns))

    @property
    def level(self) -> Level | None:
        """The level of :attr:`scope` a broker credential needs: read-write for writes."""
        if self.scope is None:
            return None
        return Level.RW if self.method in WRITE_METHODS else Level.RO

    @property
    def methods(self) -> frozenset[str]:
        return frozenset({self.method})

    @property
    def params(self) -> tuple[str, ...]:
        """The template's parameter names, in order."""
        return tuple(_PARAM.findall(self.path))

    @property
    def key(self) -> str:
        """``"GET /v1/accounts/{account_id}"``: unique within a table."""
        return f"{self.method} {self.path}"

    def fill(self, params: Mapping[str, str]) -> str:
        """The template with its parameters filled in (KeyError names a missing one)."""
        def value(m: re.Match[str]) -> str:
            if m.group(1) not in params:
                raise KeyError(f"{self.key} needs a value for {{{m.group(1)}}}")
            return params[m.group(1)]

        return _PARAM.sub(value, self.path)

    def match(self, path: str) -> dict[str, str] | None:
        """The parameters of a raw (still percent-encoded) ``path``, decoded: ``BTC%2FUSD`` is one
        segment that reads ``BTC/USD``."""
        m = self.pattern.match(path)
        return None if m is None else {k: unquote(v) for k, v in m.groupdict().items() if v is not None}


class Match(NamedTuple):
    route: Route | None
    params: dict[str, str]
    allowed: frozenset[str]            # methods of the routes whose template matched the path

    @property
    def known(self) -> bool:
        """The path exists (perhaps for another method: a 405)."""
        return bool(self.allowed)


@dataclass(frozen=True)
class RouteTable:
    """The routes one host role serves, in match order.

    ``head_as_get``: HEAD is answered by the GET route (Alpaca's API hosts). ``strip_slashes``:
    trailing slashes are dropped before matching (the token endpoint, the admin port).
    """

    role: str
    kind: str
    routes: tuple[Route, ...]
    head_as_get: bool = True
    strip_slashes: bool = False

    def __post_init__(self) -> None:
        keys = [r.key for r in self.routes]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"{self.role}: duplicate routes {dupes}")

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)

    def normalize(self, path: str) -> str:
        return (path.rstrip("/") or "/") if self.strip_slashes else path

    def match(self, method: str, path: str) -> Match:
        """The first route for ``method`` whose template matches ``path`` (normalized)."""
        path = self.normalize(path)
        want = "GET" if (method == "HEAD" and self.head_as_get) else method
        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == want:
                return Match(route, params, frozenset(allowed | {route.method}))
            allowed.add(route.method)
        return Match(None, {}, frozenset(allowed))

