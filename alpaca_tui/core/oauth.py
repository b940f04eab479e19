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

The answer is ``{"access_token", "expires_in": 899, "token_type": "Bearer"}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from alpaca_tui.core.explain import AUTHX_CODES
from alpaca_tui.core.redact import mask

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
DEFAULT_EXPIRES_IN = 899  # Alpaca's documented lifetime, used when a response omits it
MAX_LIFETIME = 86400.0


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


def parse_token_response(body: Any, *, now: float, token_url: str) -> AccessToken | None:
    """An :class:`AccessToken` from a 2xx token response, or None when it is malformed."""
    if not isinstance(body, dict):
        return None
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        return None
    token_type = body.get("token_type") or "Bearer"
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return None
    expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError, OverflowError):
        lifetime = float(DEFAULT_EXPIRES_IN)
    if not math.isfinite(lifetime) or lifetime <= 0:
        return None
    lifetime = min(lifetime, MAX_LIFETIME)  # never trust an absurd lifetime: refresh at least daily
    return AccessToken(value=value, expires_at=now + lifetime, issued_at=now, token_type="Bearer",
                       source="network", token_url=token_url)


# OAuth error codes (authx.json error_code) -> the short hint of their explanation (core/explain.py,
# the one table of causes and fixes; kept here under its old name).
OAUTH_HINTS: dict[str, str] = {code: e.hint for code, e in AUTHX_CODES.items()}

BAD_CREDENTIAL_CODES = frozenset({
    "invalid_client", "unauthorized_client", "invalid_grant", "token_signature_mismatch", "token_claim",
    "jti_known", "request_unauthorized", "access_denied", "invalid_token",
})
