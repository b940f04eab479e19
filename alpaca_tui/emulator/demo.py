"""Demo seeding: one credential per environment and flow, created on the emulator *and*
saved as profiles in a store, so the app has something real to show and test.

Profiles (names as created, with an optional ``prefix``):

==========================  ==============  ===============  =================================
name                        env             flow             notes
==========================  ==============  ===============  =================================
paper                       paper           legacy
live                        live            legacy           real-money env (on the emulator)
broker-sandbox-key          broker-sandbox  legacy
broker-sandbox-oauth        broker-sandbox  client-secret    full access, 90 days
broker-sandbox-jwt          broker-sandbox  private-key-jwt  ES256 key generated here
broker-live-oauth           broker-live     client-secret    30 days
sandbox-expiring            broker-sandbox  client-secret    expires in 5 days ("expiring soon")
sandbox-readonly-custom     broker-sandbox  client-secret    trading rw, accounts ro, data ro
==========================  ==============  ===============  =================================

Names that already exist in the store are left alone (never overwritten) and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope


@dataclass(frozen=True)
class DemoSpec:
    name: str
    env: Env
    flow: Flow
    expires_in_days: float | None = None
    access: AccessMatrix | None = None
    note: str | None = None


READONLY_CUSTOM = AccessMatrix({Scope.TRADING: Level.RW, Scope.ACCOUNTS: Level.RO, Scope.DATA: Level.RO})

DEMO_PROFILES: tuple[DemoSpec, ...] = (
    DemoSpec("paper", Env.PAPER, Flow.LEGACY, note="demo: paper trading key"),
    DemoSpec("live", Env.LIVE, Flow.LEGACY, note="demo: live trading key (on the local emulator)"),
    DemoSpec("broker-sandbox-key", Env.BROKER_SANDBOX, Flow.LEGACY, note="demo: broker legacy key"),
    DemoSpec("broker-sandbox-oauth", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, 90, AccessMatrix.full(),
             note="demo: OAuth client secret, full access"),
    DemoSpec("broker-sandbox-jwt", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, 365, AccessMatrix.full(),
             note="demo: OAuth private key JWT (ES256)"),
    DemoSpec("broker-live-oauth", Env.BROKER_LIVE, Flow.CLIENT_SECRET, 30, AccessMatrix.full(),
             note="demo: broker production OAuth client"),
    DemoSpec("sandbox-expiring", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, 5, AccessMatrix.full(),
             note="demo: expires in 5 days"),
    DemoSpec("sandbox-readonly-custom", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, 182, READONLY_CUSTOM,
             note="demo: custom scopes (trading rw, accounts ro, data ro)"),
)


def _existing(store: Any) -> set[str]:
    return {p.name for p in store.list_profiles()}


def seed_demo(store: Any, emulator: Any, *, prefix: str = "") -> list[str]:
    """Create the demo credentials on ``emulator`` (an Emulator or AdminClient) and save them as
    profiles in ``store``; return the names created (existing names are skipped)."""
    from alpaca_tui.core import keys

    clock = getattr(emulator, "clock", None)
    now: datetime = clock.now() if clock is not None else _utcnow()
    existing = _existing(store)
    created: list[str] = []
    for spec in DEMO_PROFILES:
        name = prefix + spec.name
        if name in existing:
            continue
        expires_at = now + timedelta(days=spec.expires_in_days) if spec.expires_in_days else None
        alg = fingerprint = None
        if spec.flow is Flow.PRIVATE_KEY_JWT:
            private_pem = keys.generate_private_key("ES256")
            issued = emulator.create_credential(spec.env, spec.flow, access=spec.access,
                                                expires_at=expires_at,
                                                public_key=keys.public_key_pem(private_pem))
            secret = Secret(issued.key_id, private_key_pem=private_pem, alg="ES256")
            alg, fingerprint = "ES256", keys.public_key_fingerprint(private_pem)
        else:
            issued = emulator.create_credential(spec.env, spec.flow, access=spec.access,
                                                expires_at=expires_at)
            secret = Secret(issued.key_id, issued.secret)
        profile = Profile(
            name=name, env=spec.env, flow=spec.flow, key_id_masked=mask(issued.key_id),
            access=spec.access if (spec.access is not None and spec.env.is_broker) else AccessMatrix.full(),
            expires_at=expires_at, created_at=now, endpoints=emulator.endpoints_for(spec.env),
            alg=alg, public_key_fingerprint=fingerprint, note=spec.note)
        store.add_profile(profile, SecretBundle(active=secret))
        created.append(name)
    return created


def _utcnow() -> datetime:
    from alpaca_tui.core.clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK.now()
