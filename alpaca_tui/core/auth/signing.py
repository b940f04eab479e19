"""Per-flow signing: what each flow puts on the wire (alpaca-auth.md §2-3).

=====================  =====================================  ==========================
flow                   API calls                              token request
=====================  =====================================  ==========================
legacy, trading envs   ``APCA-API-KEY-ID`` / ``-SECRET-KEY``  (none)
legacy, broker envs    HTTP Basic ``key_id:secret``           (none)
client_secret          ``Authorization: Bearer <token>``      form: ``client_secret_post``
private_key_jwt        ``Authorization: Bearer <token>``      form: RFC 7523 assertion
=====================  =====================================  ==========================

No secret ever goes into a token request's headers (``client_secret_post`` only, never
Basic); a fresh assertion (new ``jti``, ``iat``) is signed for every token request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from alpaca_tui.core.apicall import key_headers
from alpaca_tui.core.credentials import Flow, Profile, Secret
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.oauth import ASSERTION_LIFETIME, ASSERTION_TYPE, GRANT_TYPE, AccessToken

__all__ = ["UpstreamAuth", "api_headers", "build_assertion", "token_form"]


@dataclass(frozen=True)
class UpstreamAuth:
    """The authentication headers for one API call, right now.

    ``epoch`` is the token broker's epoch the bearer token belongs to (None for legacy
    keys): after the API refuses these headers (401), pass them back
    (``ApiClient.authorize(cred, refused=...)``) for one forced refresh shared by every
    caller that was refused the same token.
    """

    headers: dict[str, str] = field(repr=False)
    token: AccessToken | None = None
    epoch: int | None = None
    # key ID + secret of a legacy credential: what a WebSocket stream's auth message carries
    key_pair: tuple[str, str] | None = field(default=None, repr=False)
    refresh_due: bool = False   # a still-valid token whose refresh ahead of expiry is due (after the call)


def api_headers(profile: Profile, secret: Secret, token: AccessToken | None) -> dict[str, str]:
    """The auth headers of an API call: the bearer token, or the key pair (APCA / Basic)."""
    if token is not None:
        return {"Authorization": token.authorization()}
    return key_headers(profile, secret)


def build_assertion(client_id: str, private_key_pem: str, audience: str, *, now: float,
                    alg: str | None = None, lifetime: int = ASSERTION_LIFETIME,
                    jti: str | None = None) -> str:
    """A signed RFC 7523 client assertion (claims: see :mod:`alpaca_tui.core.oauth`)."""
    import jwt

    from alpaca_tui.core.keys import load_private_key

    key, key_alg = load_private_key(private_key_pem, alg)
    iat = int(now)
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti or secrets.token_hex(16),
              "iat": iat, "exp": iat + min(int(lifetime), ASSERTION_LIFETIME)}
    return jwt.encode(claims, key, algorithm=key_alg, headers={"kid": client_id, "typ": "JWT"})


def token_form(flow: Flow, secret: Secret, token_url: str, *, now: float) -> dict[str, str]:
    """The form body for the token request (no secret ever goes into a header)."""
    form = {"grant_type": GRANT_TYPE, "client_id": secret.key_id}
    if flow is Flow.CLIENT_SECRET:
        if not secret.secret:
            raise UsageError("this client-secret credential has no client secret stored")
        form["client_secret"] = secret.secret
    elif flow is Flow.PRIVATE_KEY_JWT:
        if not secret.private_key_pem:
            raise UsageError("this private-key-jwt credential has no private key stored")
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = build_assertion(secret.key_id, secret.private_key_pem, token_url,
                                                   now=now, alg=secret.alg)
    else:
        raise UsageError("profile uses key ID + secret; there is no access token")
    return form
