"""OAuth2 client credentials for AuthX (alpaca-auth.md §2): the token request and its answer.

The request is signed in :mod:`alpaca_tui.core.auth.signing` (``token_form``,
``build_assertion``); this module holds the protocol's constants, the token and the
parsing of the answer.

* client secret: ``POST {authx}/v1/oauth2/token`` form-encoded with ``grant_type=
  client_credentials``, ``client_id`` and ``client_secret`` in the body. Only
  ``client_secret_post`` is supported, so there is never an ``Authorization`` header.
* private_key_jwt (RFC 7523 §2.2): the same request with ``client_assertion_type=
  urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a freshly signed
  ``client_assertion`` per token request: ``iss`` = ``sub`` = client_id, ``aud`` = the
  token endpoint URL (UNCONFIRMED which value AuthX wants; the URL is what RFC 7523 and
  Fosite use), a unique ``jti`` (AuthX knows ``jti_known``, so it detects replays),
  ``iat`` and ``exp`` = ``iat`` + 300 (the maximum lifetime is UNCONFIRMED; 5 minutes is
  what the published sample uses), header ``kid`` = client_id. ES256 by default, RS256
  when the key is RSA.

The answer is ``{"access_token", "expires_in": 899, "token_type": "Bearer"}``. It is
checked before anything uses it (:func:`token_problem`): the token must be an RFC 6750
``b64token`` (letters, digits, ``-._~+/``, trailing ``=``; so no CR, LF or ESC ever reaches
a header, ``token``'s output or ``exec``'s child), ``expires_in`` a whole number of seconds
(not ``true``, not ``0.001``) of at least :data:`MIN_LIFETIME` (a shorter lifetime would turn
every call into a token request) and at most a day.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from alpaca_tui.core.explain import AUTHX_CODES
from alpaca_tui.core.redact import mask

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
DEFAULT_EXPIRES_IN = 899  # Alpaca's documented lifetime, used when a response omits it
MAX_LIFETIME = 86400.0
MIN_LIFETIME = 10.0       # seconds; a token endpoint that says less is answering wrongly
MAX_TOKEN_LENGTH = 16 * 1024
TOKEN_BODY_CAP = 64 * 1024  # bytes of a token endpoint's answer read at most
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class AccessToken:
    """A bearer token. ``repr``/``str`` mask the value; use :attr:`value` to send it."""

    value: str = field(repr=False)
    expires_at: float
    issued_at: float
    token_type: str = "Bearer"
    source: str = "network"        # "network" (token endpoint) | "cache" (secret-store cache)
    token_url: str = ""

    def __repr__(self) -> str:
        return (f"AccessToken({mask(self.value)}, expires_at={self.expires_at:.0f}, "
                f"source={self.source!r})")

    __str__ = __repr__

    @property
    def access_token(self) -> str:
        return self.value

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.issued_at

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def authorization(self) -> str:
        return f"Bearer {self.value}"


def is_b64token(value: object) -> bool:
    """Whether ``value`` may be sent as a bearer token (RFC 6750 ``b64token``, bounded length)."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_TOKEN_LENGTH
            and B64TOKEN.fullmatch(value) is not None)


def _lifetime(body: dict[str, Any]) -> float | str:
    """``expires_in`` in seconds, or why it is refused."""
    raw = body.get("expires_in")
    if raw is None:
        return float(DEFAULT_EXPIRES_IN)  # optional in RFC 6749 §5.1: Alpaca's documented value
    if isinstance(raw, bool):
        return f"expires_in is {str(raw).lower()}, not a number of seconds"
    value: float
    if isinstance(raw, int):
        value = float(min(raw, 10**12))
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        value = min(raw, 1e12)
    elif isinstance(raw, str) and raw.strip().isdigit() and raw.strip().isascii() and len(raw.strip()) <= 12:
        value = float(raw.strip())  # a quoted number (UNCONFIRMED whether AuthX ever does this)
    else:
        return "expires_in is not a whole number of seconds"
    if value < MIN_LIFETIME:
        return f"expires_in is {value:g} s (under {MIN_LIFETIME:g} s)"
    return min(value, MAX_LIFETIME)  # never trust an absurd lifetime: refresh at least daily


def token_problem(body: Any) -> str | None:
    """Why a 2xx token answer is unusable ("no access_token" ...), or None when it is fine."""
    if not isinstance(body, dict):
        return "a body that is not a JSON object"
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        return "no access_token"
    if not is_b64token(value):
        return "an access_token that is not an RFC 6750 token (forbidden characters or too long)"
    token_type = body.get("token_type") or "Bearer"
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return "a token_type other than Bearer"
    lifetime = _lifetime(body)
    return lifetime if isinstance(lifetime, str) else None


def parse_token_response(body: Any, *, now: float, token_url: str) -> AccessToken | None:
    """An :class:`AccessToken` from a 2xx token response, or None when it is unusable
    (:func:`token_problem` says why)."""
    if token_problem(body) is not None:
        return None
    lifetime = _lifetime(body)
    assert isinstance(lifetime, float)
    return AccessToken(value=body["access_token"], expires_at=now + lifetime, issued_at=now,
                       token_type="Bearer", source="network", token_url=token_url)


# OAuth error codes (authx.json error_code) -> the short hint of their explanation (core/explain.py,
# the one table of causes and fixes; kept here under its old name).
OAUTH_HINTS: dict[str, str] = {code: e.hint for code, e in AUTHX_CODES.items()}

BAD_CREDENTIAL_CODES = frozenset({
    "invalid_client", "unauthorized_client", "invalid_grant", "token_signature_mismatch", "token_claim",
    "jti_known", "request_unauthorized", "access_denied", "invalid_token",
})
