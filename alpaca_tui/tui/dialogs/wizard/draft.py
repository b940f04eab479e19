"""What the wizard has collected so far, and the credential built from it on save.

:class:`Draft` is the coordinator's state (``WizardScreen.draft``): each step's done-message
replaces it with a copy that has that step's answer (``dataclasses.replace``); steps get it
read-only when they are shown. :func:`build_credential` turns a complete draft into the
profile and secret bundle the store saves (in demo mode the credential is first really
created on the emulator). No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.tui import services

if TYPE_CHECKING:
    from alpaca_tui.tui.session import DemoIssuer


@dataclass(frozen=True)
class Draft:
    env: Env | None = None
    flow: Flow | None = None
    name: str = ""
    key_id: str = ""
    secret: str = field(default="", repr=False)
    keypair: services.KeyPair | None = None
    expiry_spec: str = "never"
    expires_at: datetime | None = None
    access: AccessMatrix | None = None

    def final_access(self) -> AccessMatrix:
        """Trading keys have no scopes (full); broker ones what the access step chose."""
        if self.env is not None and not self.env.is_broker:
            return AccessMatrix.full()
        return self.access or AccessMatrix.read_only()

    @property
    def signing_keypair(self) -> services.KeyPair | None:
        """The generated key pair, when the flow signs with it (private key JWT). A pair made
        for that flow and left behind when the user went back and picked another is unused."""
        return self.keypair if self.flow is Flow.PRIVATE_KEY_JWT else None


def build_credential(draft: Draft, *, demo: DemoIssuer | None, now: datetime,
                     progress: Callable[[str], None]) -> tuple[Profile, SecretBundle]:
    """The profile and bundle to save. Blocking in demo mode (HTTP to the emulator): call it
    from a thread worker; ``progress`` gets a line for the status label."""
    d = draft
    assert d.env is not None and d.flow is not None
    access = d.final_access()
    endpoints: dict[Api, str] = {}
    alg = fp = None
    keypair = d.signing_keypair
    if keypair is not None:
        alg, fp = keypair.alg, keypair.fingerprint
    if demo is not None:
        progress("creating the credential on the emulator…")
        secret = services.demo_issue(demo, d.env, d.flow, access=access, expires_at=d.expires_at,
                                     keypair=keypair)
        endpoints = services.demo_endpoints(demo, d.env)
    elif keypair is not None:
        secret = Secret(key_id=d.key_id, private_key_pem=keypair.private_pem, alg=keypair.alg)
    else:
        secret = Secret(key_id=d.key_id, secret=d.secret)
    profile = Profile(name=d.name, env=d.env, flow=d.flow, key_id_masked=mask(secret.key_id),
                      access=access, expires_at=d.expires_at, created_at=now, endpoints=endpoints,
                      alg=alg, public_key_fingerprint=fp)
    return profile, SecretBundle(active=secret)


__all__ = ["Draft", "build_credential"]
