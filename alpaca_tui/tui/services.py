"""Glue between the TUI and core / emulator that has no Textual in it.

Everything here is blocking or heavy (key generation, emulator admin calls) and is called
from thread workers only. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alpaca_tui.core.credentials import Flow, Secret
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.redact import scrub
from alpaca_tui.core.scopes import AccessMatrix


def one_line(exc: BaseException) -> str:
    """A user-facing one-line message for an exception (scrubbed of credential-looking values)."""
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub(" ".join(str(msg).split()))


def open_store(ask: Callable[[bool, str | None], str]) -> Any:
    """Open the store for ``alpaca-tui`` (no arguments); while the encrypted file is locked, ask
    for the passphrase (``ask(creating, error)``) and retry on a wrong one."""
    from alpaca_tui.core.errors import WrongPassphraseError
    from alpaca_tui.core.store import Store

    store = Store.open()
    error: str | None = None
    while store.needs_unlock():
        passphrase = ask(store.creating_new_store(), error)
        try:
            store.unlock(passphrase)
        except WrongPassphraseError as exc:
            error = exc.message
    return store


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str
    public_jwk: str
    alg: str
    fingerprint: str

    def __repr__(self) -> str:
        return f"KeyPair(alg={self.alg!r}, fingerprint={self.fingerprint[:16]!r}, private=<redacted>)"


def generate_keypair(alg: str = "ES256", *, kid: str | None = None) -> KeyPair:
    """A new private_key_jwt signing key pair (cryptography is imported here, not at startup)."""
    from alpaca_tui.core import keys

    private_pem = keys.generate_private_key(alg)
    return keypair_from_private(private_pem, kid=kid)


def keypair_from_private(private_pem: str, *, kid: str | None = None) -> KeyPair:
    import json

    from alpaca_tui.core import keys

    alg = keys.private_key_alg(private_pem)
    return KeyPair(private_pem=private_pem, public_pem=keys.public_key_pem(private_pem),
                   public_jwk=json.dumps(keys.public_jwk(private_pem, kid=kid), indent=2), alg=alg,
                   fingerprint=keys.public_key_fingerprint(private_pem))


def demo_issue(demo: Any, env: Env, flow: Flow, *, access: AccessMatrix, expires_at: datetime | None,
               keypair: KeyPair | None) -> Secret:
    raise NotImplementedError  # replaced when the emulator lands


def demo_endpoints(demo: Any, env: Env) -> dict[Api, str]:
    return dict(demo.endpoints_for(env))
