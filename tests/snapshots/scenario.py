"""A deterministic world for SVG snapshots and README screenshots.

Real parts: a real store (encrypted-file backend) in a temp home, the real emulator on
loopback and the real engine. Fixed key IDs and secrets, a frozen FakeClock (token issued-at,
expiry badges, countdowns) and — for snapshots — a fixed emulator port block outside the
kernel's ephemeral range (so endpoint URLs on the details screen are stable).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope

START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
SNAPSHOT_PORT_BASE = 29400  # below 32768: never handed out for port-0 binds
PASSPHRASE = "snapshot passphrase (throwaway)"

CUSTOM = AccessMatrix({Scope.TRADING: Level.RW, Scope.ACCOUNTS: Level.RO, Scope.DATA: Level.RO})


@dataclass(frozen=True)
class Spec:
    name: str
    env: Env
    flow: Flow
    key_id: str
    secret: str
    days: float | None = None
    access: AccessMatrix | None = None
    verified_minutes_ago: float | None = None
    check_ok: bool | None = None


SPECS: tuple[Spec, ...] = (
    Spec("live", Env.LIVE, Flow.LEGACY, "AKSNAPLIVE0000000001", "L" * 39 + "1", 365, None, 42, True),
    Spec("paper", Env.PAPER, Flow.LEGACY, "PKSNAPPAPER000000002", "P" * 39 + "2", None, None, 3, True),
    Spec("broker-live-oauth", Env.BROKER_LIVE, Flow.CLIENT_SECRET, "CKSNAPBROKERLIVE00000003",
         "B" * 63 + "3", 30, AccessMatrix.full()),
    Spec("broker-sandbox-key", Env.BROKER_SANDBOX, Flow.LEGACY, "CKSNAPSANDBOXKEY00000004",
         "K" * 39 + "4", None, None, 600, False),
    Spec("broker-sandbox-oauth", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKSNAPSANDBOXOAUTH000005",
         "S" * 63 + "5", 90, AccessMatrix.read_only().with_level(Scope.TRADING, Level.RW), 1, True),
    Spec("sandbox-expiring", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKSNAPEXPIRING0000000006",
         "E" * 63 + "6", 5, AccessMatrix.full()),
    Spec("sandbox-readonly-custom", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CKSNAPCUSTOM000000000007",
         "C" * 63 + "7", 182, CUSTOM),
)

TYPED_SECRET = "typed-secret-never-shown-0123456789"  # typed into the wizard's masked input
SECRETS: tuple[str, ...] = (*(s.secret for s in SPECS), PASSPHRASE, TYPED_SECRET)


@dataclass
class World:
    clock: FakeClock
    store: Any
    emulator: Any

    def app(self, **kw: Any) -> Any:
        from alpaca_tui.tui.app import AlpacaTuiApp

        kw.setdefault("demo", self.emulator)
        return AlpacaTuiApp(store=self.store, clock=self.clock, **kw)


def _start_emulator(clock: FakeClock, port_base: int, wait: float = 30.0) -> Any:
    from alpaca_tui.emulator import Emulator, EmulatorError

    deadline = time.monotonic() + wait
    while True:
        try:
            return Emulator(clock=clock, port_base=port_base).start()
        except EmulatorError:  # another test process holds the fixed ports: wait for it
            if not port_base or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@contextmanager
def world(home: Path, *, port_base: int = SNAPSHOT_PORT_BASE) -> Iterator[World]:
    from alpaca_tui.core.store import Store

    clock = FakeClock(START)
    emu = _start_emulator(clock, port_base)
    try:
        store = Store.open(home, backend="file", passphrase=PASSPHRASE, clock=clock)
        now = clock.now()
        for s in SPECS:
            expires = now + timedelta(days=s.days) if s.days else None
            emu.create_credential(s.env, s.flow, access=s.access, expires_at=expires, key_id=s.key_id,
                                  secret=s.secret)
            verified = now - timedelta(minutes=s.verified_minutes_ago) if s.verified_minutes_ago else None
            profile = Profile(
                name=s.name, env=s.env, flow=s.flow, key_id_masked=mask(s.key_id),
                access=s.access if (s.access is not None and s.env.is_broker) else AccessMatrix.full(),
                expires_at=expires, created_at=now - timedelta(days=12), endpoints=emu.endpoints_for(s.env),
                last_verified_at=verified, last_check_ok=s.check_ok,
                last_check_error=None if s.check_ok is not False else "trading: bad credentials (HTTP 401)")
            store.add_profile(profile, SecretBundle(active=Secret(s.key_id, s.secret)))
        yield World(clock, store, emu)
    finally:
        emu.stop()


# -- helpers for run_before callbacks ---------------------------------------------------------
async def settle(pilot: Any, *, engine: bool = True) -> None:
    """Wait for the store, the engine and any pending work; stop cursors blinking."""
    app = pilot.app
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if app.profiles_loaded and (app.engine is not None or not engine):
            break
        await pilot.pause(0.02)
    await pilot.pause()
    freeze(app)


def freeze(app: Any) -> None:
    from textual.widgets import Input, TextArea

    for screen in app.screen_stack:
        for w in screen.query(Input):
            w.cursor_blink = False
        for t in screen.query(TextArea):
            t.cursor_blink = False


async def wait_until(pilot: Any, predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        await pilot.pause(0.02)
    assert predicate(), "snapshot scenario did not reach its state"
    await pilot.pause()
