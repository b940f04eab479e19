"""The broker credential access matrix: 10 scopes x {read-write, read-only, no access}.

Write implies read: a scope is either ``rw``, ``ro`` or ``none``. Presets are
"read-only" (every scope ro) and "full" (every scope rw); anything else is "custom".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from alpaca_tui.core.errors import UsageError


class Scope(StrEnum):
    ACCOUNTS = "accounts"
    FUNDING = "funding"
    ADMIN = "admin"
    CRYPTO = "crypto"
    REBALANCING = "rebalancing"
    TRADING = "trading"
    JOURNALING = "journaling"
    DATA = "data"
    REPORTING = "reporting"
    SSE_EVENTS = "sse-events"

    @property
    def label(self) -> str:
        return SCOPE_LABELS[self]


SCOPE_LABELS: dict[Scope, str] = {
    Scope.ACCOUNTS: "Accounts",
    Scope.FUNDING: "Funding",
    Scope.ADMIN: "Admin",
    Scope.CRYPTO: "Crypto",
    Scope.REBALANCING: "Rebalancing",
    Scope.TRADING: "Trading",
    Scope.JOURNALING: "Journaling",
    Scope.DATA: "Data",
    Scope.REPORTING: "Reporting",
    Scope.SSE_EVENTS: "SSE events",
}

# Writing to these moves money or changes administration: the UI warns in red.
DANGEROUS_WRITE_SCOPES: frozenset[Scope] = frozenset({Scope.FUNDING, Scope.JOURNALING, Scope.ADMIN})


class Level(StrEnum):
    RW = "rw"
    RO = "ro"
    NONE = "none"

    @property
    def label(self) -> str:
        return {"rw": "read-write", "ro": "read-only", "none": "no access"}[self.value]

    def allows(self, write: bool) -> bool:
        if self is Level.RW:
            return True
        if self is Level.RO:
            return not write
        return False


ACCESS_PRESETS = ("read-only", "full", "custom")
_SCOPES = tuple(Scope)

_LEVEL_ALIASES = {
    "rw": Level.RW, "read-write": Level.RW, "readwrite": Level.RW, "write": Level.RW, "w": Level.RW,
    "full": Level.RW,
    "ro": Level.RO, "read-only": Level.RO, "readonly": Level.RO, "read": Level.RO, "r": Level.RO,
    "none": Level.NONE, "no": Level.NONE, "no-access": Level.NONE, "off": Level.NONE, "-": Level.NONE,
}


def _norm(s: str) -> str:
    return "-".join(s.strip().lower().replace("_", " ").replace("-", " ").split())


_SCOPE_ALIASES: dict[str, Scope] = {}
for _s in Scope:
    _SCOPE_ALIASES[_norm(_s.value)] = _s
    _SCOPE_ALIASES[_norm(_s.label)] = _s
_SCOPE_ALIASES["sse"] = Scope.SSE_EVENTS
_SCOPE_ALIASES["events"] = Scope.SSE_EVENTS


# the names to_dict writes, looked up as they are (an index of 500 profiles holds 5,000 of them)
_SCOPE_EXACT: dict[str, Scope] = {s.value: s for s in Scope}
_LEVEL_EXACT: dict[str, Level] = {lvl.value: lvl for lvl in Level}


def parse_scope(name: str) -> Scope:
    s = _SCOPE_EXACT.get(name) or _SCOPE_ALIASES.get(_norm(name))
    if s is None:
        choices = ", ".join(x.value for x in Scope)
        raise UsageError(f"unknown scope {name!r} (choose from {choices})")
    return s


def parse_level(value: str) -> Level:
    lvl = _LEVEL_EXACT.get(value) or _LEVEL_ALIASES.get(_norm(value))
    if lvl is None:
        raise UsageError(f"unknown access level {value!r} (use rw, ro or none)")
    return lvl


def parse_scope_spec(spec: str) -> tuple[Scope, Level]:
    """``funding=rw`` / ``SSE events=ro`` -> (Scope, Level)."""
    name, sep, level = spec.partition("=")
    if not sep or not name.strip() or not level.strip():
        raise UsageError(f"invalid scope spec {spec!r}: expected SCOPE=rw|ro|none")
    return parse_scope(name), parse_level(level)


@dataclass(frozen=True)
class AccessMatrix:
    levels: Mapping[Scope, Level] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get = self.levels.get
        full = {s: Level(get(s, Level.NONE)) for s in _SCOPES}
        # read-only: profiles with the same access share one matrix (from_dict)
        object.__setattr__(self, "levels", MappingProxyType(full))

    @classmethod
    def read_only(cls) -> AccessMatrix:
        return cls({s: Level.RO for s in Scope})

    @classmethod
    def full(cls) -> AccessMatrix:
        return cls({s: Level.RW for s in Scope})

    @classmethod
    def preset(cls, name: str) -> AccessMatrix:
        n = _norm(name)
        if n in ("read-only", "readonly", "ro"):
            return cls.read_only()
        if n in ("full", "rw", "read-write"):
            return cls.full()
        if n == "custom":
            return cls({})
        raise UsageError(f"unknown access {name!r} (choose from read-only, full, custom)")

    @classmethod
    def build(cls, access: str | None, specs: Iterable[str] = ()) -> AccessMatrix:
        """CLI form: ``--access PRESET`` then ``--scope S=L`` overrides (custom starts from none)."""
        specs = list(specs)
        base = cls.preset(access) if access else (cls({}) if specs else cls.full())
        if not specs:
            return base
        levels = dict(base.levels)
        for spec in specs:
            scope, level = parse_scope_spec(spec)
            levels[scope] = level
        return cls(levels)

    def level(self, scope: Scope) -> Level:
        return self.levels[scope]

    def allows(self, scope: Scope, write: bool) -> bool:
        return self.levels[scope].allows(write)

    def with_level(self, scope: Scope, level: Level) -> AccessMatrix:
        levels = dict(self.levels)
        levels[scope] = level
        return AccessMatrix(levels)

    @property
    def preset_name(self) -> str:
        vals = set(self.levels.values())
        if vals == {Level.RO}:
            return "read-only"
        if vals == {Level.RW}:
            return "full"
        return "custom"

    def dangerous_writes(self) -> list[Scope]:
        return [s for s in Scope if s in DANGEROUS_WRITE_SCOPES and self.levels[s] is Level.RW]

    def summary(self) -> str:
        """Short human form: 'full', 'read-only', or 'custom: trading rw, data ro (+0 none)'."""
        name = self.preset_name
        if name != "custom":
            return name
        parts = [f"{s.value} {lvl.value}" for s, lvl in self.levels.items() if lvl is not Level.NONE]
        return "custom: " + (", ".join(parts) if parts else "no access")

    def to_dict(self) -> dict[str, str]:
        return {s.value: lvl.value for s, lvl in self.levels.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> AccessMatrix:
        key = tuple(data.items())
        try:
            known = _FROM_DICT.get(key)
        except TypeError:  # an unhashable value: parsed (and refused) below
            known, key = None, ()
        if known is not None:
            return known
        matrix = cls({parse_scope(k): parse_level(v) for k, v in data.items()})
        if key and len(_FROM_DICT) < _FROM_DICT_MAX:
            _FROM_DICT[key] = matrix
        return matrix


# An index's profiles mostly share a handful of matrices (500 profiles: 5,000 scope and level
# names parsed, ~7 ms at start-up): each distinct one is parsed once. Bounded: a hostile index
# of many distinct matrices only parses the rest as before.
_FROM_DICT: dict[tuple[tuple[str, str], ...], AccessMatrix] = {}
_FROM_DICT_MAX = 256
