"""Credential profiles (non-secret) and secret material (kept only in the secret store).

A :class:`Profile` is what the index file holds: nothing in it is secret (the key ID
is stored masked). A :class:`SecretBundle` is what the secret store holds: the active
secret, an optional pending one (mid-rotation) and an optional previous one (kept for
rollback until its retirement time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from alpaca_tui.core.environments import Api, Env, parse_env, validate_url
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix

T = TypeVar("T")


class Flow(StrEnum):
    LEGACY = "legacy"
    CLIENT_SECRET = "client-secret"
    PRIVATE_KEY_JWT = "private-key-jwt"

    @property
    def label(self) -> str:
        return {"legacy": "Key ID + secret", "client-secret": "OAuth client secret",
                "private-key-jwt": "OAuth private key JWT"}[self.value]

    @property
    def is_oauth(self) -> bool:
        return self is not Flow.LEGACY


def parse_flow(value: str) -> Flow:
    v = value.strip().lower().replace("_", "-")
    aliases = {"client-credentials": "client-secret", "jwt": "private-key-jwt",
               "private-key": "private-key-jwt", "key": "legacy", "api-key": "legacy"}
    v = aliases.get(v, v)
    try:
        return Flow(v)
    except ValueError:
        choices = ", ".join(f.value for f in Flow)
        raise UsageError(f"unknown flow {value!r} (choose from {choices})") from None


def check_flow_env(flow: Flow, env: Env) -> None:
    """Client credentials (both OAuth flows) exist only for the Broker API (alpaca-auth.md §2)."""
    if flow.is_oauth and not env.is_broker:
        raise UsageError(
            f"the {flow.value} flow is only available for broker environments; "
            f"{env.value} uses key ID + secret (--flow legacy)"
        )


KEY_ID_SHAPE = re.compile(r"^[A-Z0-9]{20,32}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid profile name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return name


def _printable_ascii(text: str, *, spaces: bool) -> bool:
    low = 0x20 if spaces else 0x21
    return all(low <= ord(c) <= 0x7E for c in text)


def validate_key_id(key_id: str) -> str:
    """Hard checks only (malformed input); shape heuristics are :func:`key_id_warnings`.

    Printable ASCII: a key ID goes into HTTP headers, where anything else fails at send time."""
    k = key_id.strip()
    if not k:
        raise UsageError("key ID is empty")
    if len(k) > 128 or not _printable_ascii(k, spaces=False):
        raise UsageError("malformed key ID: expected up to 128 printable ASCII characters without spaces")
    return k


def key_id_warnings(key_id: str, env: Env) -> list[str]:
    """Heuristics from alpaca-auth.md §5: warnings, never blocks."""
    warnings: list[str] = []
    if not KEY_ID_SHAPE.match(key_id):
        warnings.append(f"key ID {mask(key_id)} does not look like an Alpaca ID (20-32 of A-Z, 0-9)")
    if env is Env.LIVE and key_id.startswith("PK"):
        warnings.append(
            "key ID starts with PK (a paper key) but the profile is live: likely a live/paper mix-up")
    if env is Env.PAPER and key_id.startswith("AK"):
        warnings.append(
            "key ID starts with AK (a live key) but the profile is paper: likely a live/paper mix-up")
    return warnings


def validate_secret(secret: str, *, ascii_only: bool = False) -> str:
    """One line of printable characters (no control, C1 or bidi character); with ``ascii_only``
    printable ASCII (a secret sent in an HTTP header: see :func:`validate_secret_for`)."""
    s = secret.strip("\r\n")
    if not s.strip():
        raise UsageError("secret is empty")
    if len(s) > 4096 or any(not c.isprintable() for c in s):
        raise UsageError("malformed secret: expected printable characters on one line")
    if ascii_only and not _printable_ascii(s, spaces=True):
        raise UsageError("malformed secret: a key ID + secret credential's secret is sent in an HTTP "
                         "header, so it must be printable ASCII")
    return s


def validate_secret_for(flow: Flow, secret: str) -> str:
    """:func:`validate_secret` for ``flow``: a key ID + secret goes into HTTP headers (APCA or
    Basic), where only ASCII can be sent; an OAuth client secret goes into a URL-encoded form,
    where any printable character can."""
    return validate_secret(secret, ascii_only=flow is Flow.LEGACY)


@dataclass(frozen=True)
class Secret:
    """One credential's secret material. ``repr`` never shows it."""

    key_id: str
    secret: str | None = None            # legacy secret or OAuth client secret
    private_key_pem: str | None = None   # private_key_jwt
    alg: str | None = None               # ES256 | RS256 for private_key_jwt

    def __repr__(self) -> str:
        kind = "private-key" if self.private_key_pem else "secret"
        return f"Secret(key_id={mask(self.key_id)!r}, {kind}=<redacted>)"

    __str__ = __repr__

    def values(self) -> list[str]:
        """Every secret string in here (for redaction)."""
        return [v for v in (self.secret, self.private_key_pem) if v]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key_id": self.key_id}
        if self.secret is not None:
            d["secret"] = self.secret
        if self.private_key_pem is not None:
            d["private_key_pem"] = self.private_key_pem
        if self.alg is not None:
            d["alg"] = self.alg
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Secret:
        return cls(key_id=d["key_id"], secret=d.get("secret"), private_key_pem=d.get("private_key_pem"),
                   alg=d.get("alg"))


@dataclass(frozen=True)
class SecretBundle:
    """What the secret store keeps for one profile."""

    active: Secret
    pending: Secret | None = None
    previous: Secret | None = None
    previous_retire_at: float | None = None  # epoch seconds

    def __repr__(self) -> str:
        return f"SecretBundle(active={self.active!r}, pending={self.pending is not None}, " \
               f"previous={self.previous is not None})"

    def values(self) -> list[str]:
        out = list(self.active.values())
        for s in (self.pending, self.previous):
            if s:
                out += s.values()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "active": self.active.to_dict(),
            "pending": self.pending.to_dict() if self.pending else None,
            "previous": self.previous.to_dict() if self.previous else None,
            "previous_retire_at": self.previous_retire_at,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SecretBundle:
        return cls(
            active=Secret.from_dict(d["active"]),
            pending=Secret.from_dict(d["pending"]) if d.get("pending") else None,
            previous=Secret.from_dict(d["previous"]) if d.get("previous") else None,
            previous_retire_at=d.get("previous_retire_at"),
        )


def _ts(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _dt(s: str | None) -> datetime | None:
    text = _opt(s, str, "a timestamp")
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:  # every time we write has one; a naive one cannot be compared with now
        raise ValueError(f"timestamp {text[:40]!r} has no time zone")
    return dt


def _opt(value: Any, kind: type[T], what: str) -> T | None:
    """``value`` when it is a ``kind`` (or None): an index file is outside data, its fields are checked."""
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{what} is a {type(value).__name__}")
    return value


def _text(d: Mapping[str, Any], key: str) -> str | None:
    return _opt(d.get(key), str, key)


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object of strings")
    for k, v in value.items():  # a loop, not all(genexpr): 500 profiles hold 6,000 of them
        if not (isinstance(k, str) and isinstance(v, str)):
            raise TypeError(f"{what} is not an object of strings")
    return value


@dataclass(frozen=True)
class Profile:
    """A credential profile as kept in the non-secret index."""

    name: str
    env: Env
    flow: Flow
    key_id_masked: str
    access: AccessMatrix = field(default_factory=AccessMatrix.full)
    expires_at: datetime | None = None
    created_at: datetime | None = None
    rotated_at: datetime | None = None
    last_verified_at: datetime | None = None
    last_check_ok: bool | None = None
    last_check_error: str | None = None
    endpoints: dict[Api, str] = field(default_factory=dict)
    alg: str | None = None                       # private_key_jwt signing algorithm
    public_key_fingerprint: str | None = None    # sha256 of the public key, for display
    rotation_state: str | None = None            # None | "pending" | "overlap" (old kept for rollback)
    previous_retire_at: datetime | None = None   # when the old secret stops being kept
    pending_key_id_masked: str | None = None
    note: str | None = None

    def with_changes(self, **changes: Any) -> Profile:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "env": self.env.value,
            "flow": self.flow.value,
            "key_id_masked": self.key_id_masked,
            "access": self.access.to_dict(),
            "access_preset": self.access.preset_name,
            "expires_at": _ts(self.expires_at),
            "created_at": _ts(self.created_at),
            "rotated_at": _ts(self.rotated_at),
            "last_verified_at": _ts(self.last_verified_at),
            "last_check_ok": self.last_check_ok,
            "last_check_error": self.last_check_error,
            "endpoints": {k.value: v for k, v in self.endpoints.items()},
            "alg": self.alg,
            "public_key_fingerprint": self.public_key_fingerprint,
            "rotation_state": self.rotation_state,
            "previous_retire_at": _ts(self.previous_retire_at),
            "pending_key_id_masked": self.pending_key_id_masked,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        """A profile from the index file: every field's type is checked (TypeError / ValueError /
        UsageError for a damaged or hostile entry, which the index reader reports in one line)."""
        access = d.get("access")
        return cls(
            # the index is a file: a name is shown, so it is checked
            name=validate_name(_opt(d["name"], str, "name") or ""),
            env=parse_env(_opt(d["env"], str, "env") or ""),
            flow=parse_flow(_opt(d["flow"], str, "flow") or ""),
            key_id_masked=_text(d, "key_id_masked") or "",
            access=AccessMatrix.from_dict(_string_map(access, "access")) if access else AccessMatrix.full(),
            expires_at=_dt(d.get("expires_at")),
            created_at=_dt(d.get("created_at")),
            rotated_at=_dt(d.get("rotated_at")),
            last_verified_at=_dt(d.get("last_verified_at")),
            last_check_ok=_opt(d.get("last_check_ok"), bool, "last_check_ok"),
            last_check_error=_text(d, "last_check_error"),
            endpoints={Api(k): validate_url(v)
                       for k, v in _string_map(d.get("endpoints") or {}, "endpoints").items()},
            alg=_text(d, "alg"),
            public_key_fingerprint=_text(d, "public_key_fingerprint"),
            rotation_state=_text(d, "rotation_state"),
            previous_retire_at=_dt(d.get("previous_retire_at")),
            pending_key_id_masked=_text(d, "pending_key_id_masked"),
            note=_text(d, "note"),
        )


@dataclass(eq=False)
class HeldCredential:
    """A profile with its secret bundle, as a caller holds them while using the credential
    (the engine's registry adds a token broker: ``core/registry.py``)."""

    profile: Profile
    bundle: SecretBundle

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def secret(self) -> Secret:
        return self.bundle.active

    def secrets(self) -> list[str | None]:
        """Every secret value to redact from what the servers say."""
        return list(self.bundle.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.profile.name!r}, {self.bundle!r})"
