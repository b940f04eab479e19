"""Pytest fixtures and helpers for tests that talk to the local Alpaca emulator.

Use them from a test module (binding the fixtures by assignment keeps ruff's F811 quiet)::

    from tests import emulator_fixtures as fx

    emulator = fx.emulator
    emulator_clock = fx.emulator_clock

or list ``"tests.emulator_fixtures"`` in the root conftest's ``pytest_plugins``.

* ``emulator_clock`` — a :class:`FakeClock` at 2027-01-15 08:00 UTC (US market closed) that
  drives the emulator's token lifetimes, credential expiry and rate-limit windows.
* ``emulator`` — a started :class:`Emulator` on free loopback ports using that clock;
  stopped after the test.
* ``emulator_http`` — an ``httpx.Client`` (5 s timeout) for talking to it directly.
* ``http_client(**kw)`` / ``async_http_client(**kw)`` — ``httpx.Client`` / ``AsyncClient`` for the
  emulator's (and any loopback server's) plain-HTTP ports, all sharing one TLS context.
* ``make_profile(emulator, store_or_none, env, flow, ...)`` — create a credential on the
  emulator and the matching ``Profile`` + ``SecretBundle`` (endpoints point at the
  emulator); saved in ``store`` when one is given.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix

EMULATOR_START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


@pytest.fixture
def emulator_clock() -> FakeClock:
    return FakeClock(EMULATOR_START)


@pytest.fixture
def emulator(emulator_clock: FakeClock) -> Iterator[Any]:
    from alpaca_tui.emulator import Emulator

    emu = Emulator(clock=emulator_clock).start()
    try:
        yield emu
    finally:
        emu.stop()


@cache
def _tls() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()  # what httpx.Client() builds by default (verify=True)


def http_client(**kwargs: Any) -> Any:
    """``httpx.Client(**kwargs)`` with this process's one TLS context. httpx builds a new context
    per client, loading the whole CA bundle (~35 ms of CPU) that a plain http:// request never
    uses; hundreds of tests make a client each. Verification is httpx's default all the same."""
    import httpx

    return httpx.Client(verify=_tls(), **kwargs)


def async_http_client(**kwargs: Any) -> Any:
    """``httpx.AsyncClient(**kwargs)`` with the shared TLS context (see :func:`http_client`)."""
    import httpx

    return httpx.AsyncClient(verify=_tls(), **kwargs)


@pytest.fixture
def emulator_http() -> Iterator[Any]:
    with http_client(timeout=5) as client:
        yield client


def make_profile(emulator: Any, store: Any | None, env: Env, flow: Flow, *, name: str | None = None,
                 access: AccessMatrix | None = None, expires_at: datetime | None = None,
                 alg: str = "ES256", register_key: bool = True) -> tuple[Profile, SecretBundle]:
    """A credential on ``emulator`` plus its Profile/SecretBundle (added to ``store`` if given).

    private-key-jwt: a fresh ``alg`` key pair is generated; its public half is registered on
    the emulator unless ``register_key`` is False.
    """
    from alpaca_tui.core import keys

    name = name or f"{env.value}-{flow.value}"
    alg_out = fingerprint = None
    if flow is Flow.PRIVATE_KEY_JWT:
        private_pem = keys.generate_private_key(alg)
        public = keys.public_key_pem(private_pem) if register_key else None
        issued = emulator.create_credential(env, flow, access=access, expires_at=expires_at,
                                            public_key=public)
        secret = Secret(issued.key_id, private_key_pem=private_pem, alg=alg)
        alg_out, fingerprint = alg, keys.public_key_fingerprint(private_pem)
    else:
        issued = emulator.create_credential(env, flow, access=access, expires_at=expires_at)
        secret = Secret(issued.key_id, issued.secret)
    clock = getattr(emulator, "clock", None)
    profile = Profile(name=name, env=env, flow=flow, key_id_masked=mask(issued.key_id),
                      access=access if (access is not None and env.is_broker) else AccessMatrix.full(),
                      expires_at=expires_at, created_at=clock.now() if clock is not None else None,
                      endpoints=emulator.endpoints_for(env), alg=alg_out, public_key_fingerprint=fingerprint)
    bundle = SecretBundle(active=secret)
    if store is not None:
        store.add_profile(profile, bundle)
    return profile, bundle


def legacy_headers(key_id: str, secret: str | None) -> dict[str, str]:
    return {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret or ""}


class ClockSleep:
    """Injected engine sleep that advances a shared fake clock (so rate windows and token
    lifetimes really pass) and records what was asked."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)
