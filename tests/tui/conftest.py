"""Fixtures for the Pilot tests: a real store in a tmp ALPACA_TUI_HOME (encrypted-file backend
with a passphrase file, from ``alpaca_home``), a FakeClock, and helpers to read the screen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope

START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(alpaca_home: Path, clock: FakeClock) -> Any:
    from alpaca_tui.core.store import Store

    return Store.open(alpaca_home, clock=clock)


def half_rotated_home(home: Path, clock: FakeClock) -> tuple[Secret, Secret]:
    """A home whose profile ``p`` a rotation left half-way: the new secret promoted in the
    backend, the index still naming the old key (what a rotation killed before its index write
    leaves). Returns (old, new)."""
    from alpaca_tui.core.store import Store

    old = Secret("PKOLDOLDOLDOLDOLD001", "old-secret-value-0123456789")
    new = Secret("PKNEWNEWNEWNEWNEW002", "new-secret-value-9876543210")
    store = Store.open(home, clock=clock)
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, mask(old.key_id)), SecretBundle(old))
    store.update_profile("p", rotation_state="pending", pending_key_id_masked=mask(new.key_id))
    store.save_bundle("p", SecretBundle(new, previous=old, previous_retire_at=clock.time() + 3600))
    return old, new


def add_static_profiles(store: Any, clock: FakeClock) -> list[Profile]:
    """Deterministic profiles (fixed IDs, no emulator) for layout, filter and delete tests."""
    now = clock.now()
    rows = [
        (Profile("live-trader", Env.LIVE, Flow.LEGACY, "", expires_at=now + timedelta(days=200),
                 created_at=now), Secret("AKLIVE0000000000AAAA", "l" * 40)),
        (Profile("paper-bot", Env.PAPER, Flow.LEGACY, "", expires_at=now + timedelta(days=10),
                 created_at=now, last_verified_at=now - timedelta(minutes=3), last_check_ok=True),
         Secret("PKPAPER000000000BBBB", "p" * 40)),
        (Profile("sandbox-oauth", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "",
                 access=AccessMatrix.read_only().with_level(Scope.FUNDING, Level.RW),
                 expires_at=now - timedelta(days=1), created_at=now),
         Secret("CKSANDBOX0000000CCCC", "c" * 64)),
    ]
    out = []
    for profile, secret in rows:
        profile = profile.with_changes(key_id_masked=mask(secret.key_id))
        store.add_profile(profile, SecretBundle(active=secret))
        out.append(profile)
    return out


@pytest.fixture
def static_store(store: Any, clock: FakeClock) -> Any:
    add_static_profiles(store, clock)
    return store


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Any]:
    from alpaca_tui.emulator import Emulator

    emu = Emulator(clock=clock).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def seeded(store: Any, emulator: Any) -> tuple[Any, Any, list[str]]:
    from alpaca_tui.emulator.demo import seed_demo

    names = seed_demo(store, emulator)
    return store, emulator, list(names)


def screen_text(app: Any) -> str:
    """The visible screen as plain text (what a person would read)."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, record=True, force_terminal=False, file=_Null())
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


class _Null:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


async def wait_for(pilot: Any, predicate: Any, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` holds (workers finish, messages arrive)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            return
        await pilot.pause(0.02)
    if not predicate():
        raise AssertionError(f"timed out waiting for {what or predicate}\n{screen_text(pilot.app)}")
