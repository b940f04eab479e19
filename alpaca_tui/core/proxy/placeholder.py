"""The placeholder credentials of one proxy run: what the child holds instead of the real ones.

A random pair made when the proxy starts, shaped like an Alpaca key pair so that SDKs that
check the shape accept it: a key ID of 20 characters, ``PK`` (paper), ``AK`` (live) or ``CK``
(broker) + 18 uppercase letters and digits, and a 40-character secret. It is worthless
anywhere but at this proxy, and only while it runs.

A request carries it as ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers, as HTTP Basic
``key:secret``, or as ``Authorization: Bearer <secret>``; a stream client as the key pair of
its auth message. Comparisons are constant-time (:func:`hmac.compare_digest`, both halves
always compared).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask

__all__ = ["AUTH_HEADERS", "Placeholder", "new_placeholder"]

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_PREFIX = {Env.PAPER: "PK", Env.LIVE: "AK", Env.BROKER_SANDBOX: "CK", Env.BROKER_LIVE: "CK"}

# Request headers that carry credentials: never forwarded (lower-case, as h11 gives them; the
# underscore spellings too, which some clients send and which Alpaca answers with a 403).
AUTH_HEADERS = frozenset({b"authorization", b"apca-api-key-id", b"apca-api-secret-key",
                          b"apca_api_key_id", b"apca_api_secret_key", b"proxy-authorization"})


@dataclass(frozen=True)
class Placeholder:
    """A key pair valid at one proxy run only. ``repr`` masks both halves."""

    key_id: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Placeholder({mask(self.key_id)})"

    def matches(self, key_id: str | None, secret: str | None) -> bool:
        """Both halves equal, compared in constant time (the second is compared even when the
        first already differs)."""
        a = hmac.compare_digest(self.key_id.encode(), (key_id or "").encode("utf-8", "replace"))
        b = hmac.compare_digest(self.secret.encode(), (secret or "").encode("utf-8", "replace"))
        return bool(key_id) and bool(secret) and a & b

    def matches_bearer(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.secret.encode(),
                                                   (value or "").encode("utf-8", "replace"))

    def presented_in(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """True when ``headers`` (lower-case names) carry this placeholder: the APCA headers
        when present, else ``Authorization: Basic`` / ``Bearer``."""
        found: dict[bytes, str] = {}
        for name, value in headers:
            if name in AUTH_HEADERS:
                found[name] = value.decode("latin-1").strip()
        key, sec = found.get(b"apca-api-key-id"), found.get(b"apca-api-secret-key")
        if key is not None or sec is not None:
            return self.matches(key, sec)
        scheme, _, given = found.get(b"authorization", "").partition(" ")
        scheme, given = scheme.lower(), given.strip()
        if scheme == "bearer":
            return self.matches_bearer(given)
        if scheme == "basic":
            try:
                user, sep, pw = base64.b64decode(given, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, ValueError):
                return False
            return bool(sep) and self.matches(user, pw)
        return False


def new_placeholder(env: Env) -> Placeholder:
    """A fresh random pair for ``env`` (key ID prefix by environment)."""
    key = _PREFIX[env] + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return Placeholder(key, secret)
