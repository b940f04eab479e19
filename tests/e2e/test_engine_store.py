"""The engine with a real secret store (encrypted-file backend) against the emulator:
cross-process token cache, check bookkeeping, rotation (promote, rollback, failed
verification, retirement)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Secret, SecretBundle
from alpaca_tui.core.engine import Engine, RotationError
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.http import ErrorCategory
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import issue_credential


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def world(alpaca_home: Path) -> Iterator[tuple[Emulator, Store, FakeClock]]:
    clock = FakeClock(1_800_000_000)
    with Emulator(clock=clock) as emu:
        yield emu, Store.open(clock=clock), clock


def add(store: Store, emu: Emulator, name: str, env: Env, flow: Flow, **kw: Any) -> Secret:
    profile, bundle = issue_credential(emu, name, env, flow, **kw)
    store.add_profile(profile, bundle)
    return bundle.active


async def test_token_cache_shared_across_engines(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    secret = add(store, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    async with Engine(store, clock=clock) as e1:
        t1 = await e1.token("bx")
    cached = store.load_token("bx")
    assert cached is not None and cached["access_token"] == t1.value
    assert secret.secret not in str(cached)  # the cache holds the token, never the client secret
    async with Engine(store, clock=clock) as e2:  # "the next CLI run"
        t2 = await e2.token("bx")
        assert t2.value == t1.value and t2.source == "cache"
        assert (await e2.request("bx", "GET", "/v1/accounts")).ok
    assert emu.token_requests(secret.key_id) == 1
    async with Engine(store, clock=clock, cache_tokens=False) as e3:  # --no-cache
        assert (await e3.token("bx")).value != t1.value
    assert emu.token_requests(secret.key_id) == 2
    clock.advance(850)  # the cached token is inside the refresh window: not reused
    async with Engine(store, clock=clock) as e4:
        t4 = await e4.token("bx")
        assert t4.source == "network" and t4.value != t1.value
    assert emu.token_requests(secret.key_id) == 3


async def test_cached_token_of_another_key_is_never_used(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    add(store, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    async with Engine(store, clock=clock) as e1:
        await e1.token("bx")
    # the secret is replaced behind the cache's back (e.g. by another tool): fingerprint mismatch
    other = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    store.save_bundle("bx", SecretBundle(Secret(other.key_id, secret=other.secret)))
    async with Engine(store, clock=clock) as e2:
        t = await e2.token("bx")
        assert t.source == "network"
    assert emu.token_requests(other.key_id) == 1


async def test_check_records_result_in_index(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    secret = add(store, emu, "paper", Env.PAPER, Flow.LEGACY)
    async with Engine(store, clock=clock) as e:
        assert all(r.ok for r in await e.check("paper"))
        p = store.get_profile("paper")
        assert p.last_check_ok is True and p.last_verified_at == clock.now() and p.last_check_error is None
        emu.revoke(secret.key_id)
        results = await e.check("paper")
        assert not any(r.ok for r in results)
    p = store.get_profile("paper")
    assert p.last_check_ok is False and p.last_check_error and "bad credentials" in p.last_check_error


async def test_rotate_promote_rollback_and_retire(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    old = add(store, emu, "paper", Env.PAPER, Flow.LEGACY)
    new = emu.create_credential(Env.PAPER, Flow.LEGACY)
    async with Engine(store, clock=clock) as e:
        res = await e.rotate("paper", Secret(new.key_id, secret=new.secret), keep_old_for=timedelta(hours=1))
        assert res.ok and res.attempts == 1 and res.verification[0].status == 200
        assert res.previous_retire_at == clock.now() + timedelta(hours=1)
        b = store.load_bundle("paper")
        assert b.active.key_id == new.key_id and b.previous is not None and b.previous.key_id == old.key_id
        assert b.pending is None
        p = store.get_profile("paper")
        assert p.rotation_state == "overlap" and p.key_id_masked == mask(new.key_id)
        assert p.rotated_at == clock.now() and p.pending_key_id_masked is None
        assert (await e.request("paper", "GET", "/v2/account")).ok
        # rollback while the old secret is kept
        await e.rollback("paper")
        b = store.load_bundle("paper")
        assert b.active.key_id == old.key_id and b.previous is not None and b.previous.key_id == new.key_id
        assert store.get_profile("paper").key_id_masked == mask(old.key_id)
        r = await e.request("paper", "GET", "/v2/account")
        assert r.ok
    # retirement: once previous_retire_at has passed, the previous secret is dropped on next use
    clock.advance(3601)
    async with Engine(store, clock=clock) as e2:
        assert (await e2.request("paper", "GET", "/v2/account")).ok
        b = store.load_bundle("paper")
        assert b.previous is None and b.previous_retire_at is None
        p = store.get_profile("paper")
        assert p.rotation_state is None and p.previous_retire_at is None
        with pytest.raises(UsageError, match="nothing to roll back"):
            await e2.rollback("paper")


async def test_failed_verification_leaves_old_active(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    old = add(store, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    sleeps = Sleeps()
    async with Engine(store, clock=clock, sleep=sleeps) as e:
        t_before = await e.token("bx")
        bad = Secret(old.key_id, secret="W" * 64)  # a secret AuthX does not know
        with pytest.raises(RotationError) as ei:
            await e.rotate("bx", bad, keep_old_for=timedelta(hours=24))
        err = ei.value
        assert err.category is ErrorCategory.BAD_CREDENTIALS
        assert err.result.attempts == 5 and len(sleeps.calls) == 4  # retried for propagation
        assert sleeps.calls == sorted(sleeps.calls)  # backoff
        assert "old secret is still active" in err.message and "W" * 64 not in err.message
        b = store.load_bundle("bx")
        assert b.active == old and b.pending is None and b.previous is None
        p = store.get_profile("bx")
        assert p.rotation_state is None and p.pending_key_id_masked is None
        # still works with the old secret, same token
        assert (await e.token("bx")).value == t_before.value
        assert (await e.request("bx", "GET", "/v1/accounts")).ok


async def test_rotation_propagation_delay_is_retried(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    add(store, emu, "paper", Env.PAPER, Flow.LEGACY)
    new_id, new_secret = "PKPROPAGATING0000001", "P" * 40  # not known to the server yet

    class Propagate(Sleeps):
        async def __call__(self, seconds: float) -> None:
            await super().__call__(seconds)
            if len(self.calls) == 2:  # the new key "propagates" before the third attempt
                emu.create_credential(Env.PAPER, Flow.LEGACY, key_id=new_id, secret=new_secret)

    sleeps = Propagate()
    async with Engine(store, clock=clock, sleep=sleeps) as e:
        res = await e.rotate("paper", Secret(new_id, secret=new_secret), keep_old_for=timedelta(0))
    assert res.ok and res.attempts == 3 and res.previous_retire_at is None
    b = store.load_bundle("paper")
    assert b.active.key_id == new_id and b.previous is None


async def test_rotate_private_key_jwt_clears_token_cache(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    old = add(store, emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    async with Engine(store, clock=clock) as e:
        t_old = await e.token("bj")
        assert store.load_token("bj") is not None
        pem = keys.generate_private_key("RS256")
        emu.register_public_key(old.key_id, keys.public_key_pem(pem))  # the new key is registered
        res = await e.rotate("bj", Secret(old.key_id, private_key_pem=pem, alg="RS256"),
                             keep_old_for=timedelta(days=7))
        assert res.ok
        assert store.load_token("bj") is None
        p = store.get_profile("bj")
        assert p.alg == "RS256" and p.public_key_fingerprint == keys.public_key_fingerprint(pem)
        t_new = await e.token("bj")
        assert t_new.value != t_old.value
        assert (await e.request("bj", "GET", "/v1/accounts")).ok


async def test_stage_then_rotate_pending(world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    old = add(store, emu, "bj", Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT)
    pem = keys.generate_private_key("ES256")
    async with Engine(store, clock=clock, sleep=Sleeps()) as e:
        await e.stage("bj", Secret(old.key_id, private_key_pem=pem, alg="ES256"))
        p = store.get_profile("bj")
        assert p.rotation_state == "pending" and p.pending_key_id_masked == mask(old.key_id)
        assert store.load_bundle("bj").pending is not None
        assert (await e.request("bj", "GET", "/v1/accounts")).ok  # the active key still works
        emu.register_public_key(old.key_id, keys.public_key_pem(pem))
        res = await e.rotate_pending("bj", keep_old_for=timedelta(hours=1))
        assert res.ok and store.load_bundle("bj").pending is None
        with pytest.raises(UsageError, match="no pending"):
            await e.rotate_pending("bj", keep_old_for=timedelta(hours=1))


async def test_long_lived_engine_follows_rotation_by_another_process(
        world: tuple[Emulator, Store, FakeClock]) -> None:
    emu, store, clock = world
    old = add(store, emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    new = emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    async with Engine(store, clock=clock) as tui:  # e.g. the TUI, running all along
        t_old = await tui.token("bx")
        async with Engine(Store.open(clock=clock), clock=clock) as cli:  # `alpaca-tui rotate` meanwhile
            await cli.rotate("bx", Secret(new.key_id, secret=new.secret), keep_old_for=timedelta(hours=1))
        emu.revoke(old.key_id)  # the old client is retired at Alpaca
        r = await tui.request("bx", "GET", "/v1/accounts")
        assert r.ok and r.attempts == 1  # the new secret was picked up before sending, no 401 round trip
        assert (await tui.profile("bx")).key_id_masked == mask(new.key_id)
        assert (await tui.token("bx")).value != t_old.value
        assert emu.token_requests(new.key_id) == 2  # the rotation's verification + the TUI's token
        # and when the retirement time passes while it runs, the previous secret is dropped
        clock.advance(3601)
        assert (await tui.request("bx", "GET", "/v1/accounts")).ok
        assert store.load_bundle("bx").previous is None
        assert store.get_profile("bx").rotation_state is None
