"""The emulator's records: credentials as the fake server keeps them (with their secrets), what it
hands back when it creates one (:class:`IssuedCredential`, secret hidden from ``repr``), issued
tokens, Alpaca-shaped key IDs and secrets, and registered public keys (PEM or JWK).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix

TOKEN_LIFETIME = 899  # seconds, Alpaca's documented expires_in (alpaca-auth.md §2)

_UPPER_ALNUM = string.ascii_uppercase + string.digits
_MIXED_ALNUM = string.ascii_letters + string.digits
_BASE32 = string.ascii_uppercase + "234567"

# Key ID shapes (alpaca-auth.md §5): live "AK"+18, paper "PK"+18 (20 chars); broker "CK"+24
# (26 chars; the CK prefix is third-party evidence only). All uppercase A-Z0-9.
_KEY_PREFIX: dict[Env, tuple[str, int]] = {
    Env.LIVE: ("AK", 18),
    Env.PAPER: ("PK", 18),
    Env.BROKER_LIVE: ("CK", 24),
    Env.BROKER_SANDBOX: ("CK", 24),
}


def new_key_id(env: Env) -> str:
    prefix, n = _KEY_PREFIX[env]
    return prefix + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(n))


def new_secret(flow: Flow) -> str:
    """Legacy secret: 40 mixed-case alphanumerics; OAuth client secret: 64 base32 characters."""
    if flow is Flow.CLIENT_SECRET:
        return "".join(secrets.choice(_BASE32) for _ in range(64))
    return "".join(secrets.choice(_MIXED_ALNUM) for _ in range(40))


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def parse_when(value: Any) -> float | None:
    """``None`` | epoch seconds | ISO-8601 string | datetime -> epoch seconds (naive = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _as_utc(value).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return _as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00"))).timestamp()
        except ValueError:
            pass
    raise UsageError(f"invalid expires_at {value!r}: expected an ISO-8601 date-time")


@dataclass(frozen=True)
class IssuedCredential:
    """What the emulator hands back when it creates a credential. ``repr`` hides the secret."""

    key_id: str
    secret: str | None = field(default=None, repr=False)
    env: Env | None = None
    flow: Flow | None = None

    def __repr__(self) -> str:
        shown = "<redacted>" if self.secret else None
        env = self.env.value if self.env else None
        flow = self.flow.value if self.flow else None
        return f"IssuedCredential(key_id={self.key_id!r}, secret={shown}, env={env!r}, flow={flow!r})"

    __str__ = __repr__


@dataclass
class Credential:
    key_id: str
    env: Env
    flow: Flow
    secret: str | None
    access: AccessMatrix
    created_at: float
    expires_at: float | None = None
    revoked: bool = False
    public_key: str | None = None     # as registered: PEM or JWK (JSON) text
    alg: str | None = None            # ES256 | RS256, from the registered key
    _key_obj: Any = field(default=None, repr=False, compare=False)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def info(self, now: float) -> dict[str, Any]:
        """Everything except secret material (for list_credentials and the admin API)."""
        status = "revoked" if self.revoked else ("expired" if self.expired(now) else "active")
        return {
            "key_id": self.key_id,
            "env": self.env.value,
            "flow": self.flow.value,
            "access": self.access.to_dict(),
            "access_preset": self.access.preset_name,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at) if self.expires_at is not None else None,
            "revoked": self.revoked,
            "status": status,
            "has_public_key": self.public_key is not None,
            "alg": self.alg,
            "secret_masked": mask(self.secret) if self.secret else None,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id, "env": self.env.value, "flow": self.flow.value, "secret": self.secret,
            "access": self.access.to_dict(), "created_at": self.created_at, "expires_at": self.expires_at,
            "revoked": self.revoked, "public_key": self.public_key,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class TokenRecord:
    client_id: str
    env: Env
    issued_at: float
    expires_at: float


def load_public_key(text: str) -> tuple[Any, str]:
    """Parse a registered public key (PEM, a JWK, or a JWKS with one key) -> (key, alg)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    raw = text.strip()
    key: Any
    if raw.startswith("{"):
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        try:
            jwk = json.loads(raw)
        except ValueError:
            raise UsageError("public key is neither PEM nor valid JWK JSON") from None
        if isinstance(jwk, dict) and isinstance(jwk.get("keys"), list):
            if len(jwk["keys"]) != 1:
                raise UsageError("a JWKS must hold exactly one key to register")
            jwk = jwk["keys"][0]
        if not isinstance(jwk, dict):
            raise UsageError("a JWK must be a JSON object")
        if "d" in jwk:
            raise UsageError("that JWK holds a private key; register the public half only")
        try:
            if jwk.get("kty") == "EC":
                key = ECAlgorithm.from_jwk(json.dumps(jwk))
            elif jwk.get("kty") == "RSA":
                key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            else:
                raise UsageError(f"unsupported JWK kty {jwk.get('kty')!r} (use EC P-256 or RSA)")
        except UsageError:
            raise
        except Exception:
            raise UsageError("could not parse the JWK public key") from None
    else:
        if "PRIVATE KEY" in raw:
            raise UsageError("that is a private key; register the public key only")
        try:
            key = serialization.load_pem_public_key(raw.encode("utf-8"))
        except Exception:
            raise UsageError("could not parse the PEM public key") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UsageError(f"unsupported EC curve {key.curve.name}: ES256 needs P-256")
        return key, "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise UsageError("RSA public key too small: RS256 needs at least 2048 bits")
        return key, "RS256"
    raise UsageError("unsupported public key type (use EC P-256 for ES256 or RSA for RS256)")
