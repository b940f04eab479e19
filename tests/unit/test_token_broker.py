"""The token broker's state machine (core/auth/state.py, core/auth/broker.py) on its own.

Every row of the two tables in ``core/auth/state.py`` (phases, transitions) and its rules is
exercised here: the pure ``BrokerState`` with a FakeClock, and a ``TokenBroker`` against the
emulator's AuthX over real loopback HTTP on the same FakeClock (so tokens really expire
server side). The engine-level behaviour (API calls on top) is in test_engine_units.py and
tests/e2e/test_faults_network.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from alpaca_tui.core.auth import (
    BrokerState,
    Phase,
    RefreshPolicy,
    StoreTokenCache,
    TokenBroker,
    TokenEndpoint,
    TokenService,
)
from alpaca_tui.core.auth.cache import token_to_cache
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow, Profile, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.http import ApiError, ErrorCategory
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.tokens import MIN_TOKEN_LEFT
from alpaca_tui.core.wire import SendPolicy, Wire
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import issue_credential
from tests.emulator_fixtures import ClockSleep

START = 1_800_000_000.0
AUTHX = "authx-sandbox"
POLICY = RefreshPolicy(refresh_ahead=60, backoff=2, backoff_max=30, max_wait=60)


def tok(issued: float, lifetime: float = 899.0, value: str = "tok-aaaaaaaaaaaaaaaa") -> AccessToken:
    return AccessToken(value=value, expires_at=issued + lifetime, issued_at=issued)


def server_error(retry_after: float | None = None,
                 category: ErrorCategory = ErrorCategory.SERVER_ERROR) -> ApiError:
    return ApiError(category, "token request for 'bx': temporarily_unavailable", status=503,
                    profile="bx", retry_after=retry_after)


# -- BrokerState: phases --------------------------------------------------------------------------


def test_phases_as_time_passes() -> None:
    st = BrokerState()
    assert st.phase(START, POLICY) is Phase.NO_TOKEN
    st.issued(tok(START))
    assert st.phase(START, POLICY) is Phase.FRESH
    assert st.phase(START + 838, POLICY) is Phase.FRESH              # 61 s left
    assert st.phase(START + 840, POLICY) is Phase.REFRESH_AHEAD      # 59 s left: renew, still usable
    assert st.phase(START + 899 - MIN_TOKEN_LEFT, POLICY) is Phase.NO_TOKEN   # never sent this close
    st.failed(server_error(), START + 899, POLICY, schedule=True)
    assert st.phase(START + 899, POLICY) is Phase.BACKING_OFF
    assert st.phase(START + 901, POLICY) is Phase.FAILED             # the 2 s backoff is over


def test_a_clock_set_back_before_issue_means_renew_and_never_stretches_the_token() -> None:
    st = BrokerState()
    st.issued(tok(START))
    back = START - 3600
    assert st.phase(back, POLICY) is Phase.REFRESH_AHEAD             # usable, but renew
    assert POLICY.left(tok(START), back) == 899                      # capped at the lifetime
    assert st.phase(START - 4, POLICY) is Phase.FRESH                # within the tolerance


# -- BrokerState: transitions ---------------------------------------------------------------------


def test_issued_replaces_counts_and_clears_failures() -> None:
    st = BrokerState()
    st.issued(tok(START))
    assert (st.refresh_count, st.epoch) == (0, 1)
    st.failed(server_error(), START + 850, POLICY, schedule=True)
    st.last_error = "server error: ..."
    st.issued(tok(START + 852, value="tok-bbbbbbbbbbbbbbbb"))
    assert (st.refresh_count, st.epoch, st.failures, st.failure, st.backoff, st.last_error) == \
        (1, 2, 0, None, None, None)
    assert st.seq == 1                                               # failures ever: kept


def test_failed_backoff_doubles_caps_and_honours_retry_after() -> None:
    st = BrokerState()
    waits = []
    for _ in range(6):
        st.failed(server_error(), START, POLICY, schedule=True)
        assert st.backoff is not None and st.backoff.server_until is None
        waits.append(st.backoff.retry_at - START)
    assert waits == [2, 4, 8, 16, 30, 30]
    st.failed(server_error(retry_after=45), START, POLICY, schedule=True)
    assert st.backoff is not None and st.backoff.retry_at == st.backoff.server_until == START + 45
    st.failed(server_error(retry_after=3600), START, POLICY, schedule=True)   # capped at max_wait
    assert st.backoff is not None and st.backoff.server_until == START + 60
    assert st.snapshot("bx", START).retry_at == START + 60 and st.snapshot("bx", START).failures == 8


def test_an_unscheduled_failure_is_shared_but_sets_no_backoff() -> None:
    st = BrokerState()
    st.failed(server_error(), START, POLICY, schedule=False)
    assert st.seq == 1 and st.failure is not None and st.failures == 0 and st.backoff is None
    assert st.phase(START, POLICY) is Phase.FAILED


def test_dropped_voids_the_backoff_of_the_old_epoch() -> None:
    st = BrokerState()
    st.issued(tok(START))
    st.failed(server_error(), START + 850, POLICY, schedule=True)
    assert st.backing_off(START + 851)
    st.dropped()
    assert st.token is None and not st.backing_off(START + 851)
    assert st.phase(START + 851, POLICY) is Phase.FAILED


def test_a_clock_set_back_before_the_backoff_started_voids_it() -> None:
    st = BrokerState()
    st.failed(server_error(), START, POLICY, schedule=True)
    assert st.backing_off(START + 1)
    assert not st.backing_off(START - 3600)                          # would otherwise last an hour


def test_adopted_fresh_clears_failures_adopted_usable_keeps_them() -> None:
    st = BrokerState()
    st.failed(server_error(), START, POLICY, schedule=True)
    st.adopted(tok(START - 850), fresh=False)
    assert st.failure is not None and st.epoch == 1
    st.adopted(tok(START), fresh=True)
    assert st.failure is None and st.backoff is None and st.epoch == 2


def test_succeeding_state_carries_the_counters_and_a_new_epoch() -> None:
    old = BrokerState()
    old.issued(tok(START))
    old.issued(tok(START + 850))
    old.token_requests = 3
    new = BrokerState.succeeding(old, tok(START + 860))
    assert (new.refresh_count, new.token_requests, new.token is not None) == (1, 3, True)
    assert new.epoch > old.epoch
    assert BrokerState.succeeding(old, None).token is None


# -- BrokerState: the gate (inside the lock) ------------------------------------------------------


def test_gate_serves_fresh_unless_forced_on_the_same_epoch() -> None:
    st = BrokerState()
    st.issued(tok(START))
    ticket = st.ticket()
    assert st.gate(START, POLICY, force=False, ticket=ticket) is st.token
    assert st.gate(START, POLICY, force=True, ticket=ticket) is None             # force: request
    st.issued(tok(START + 1, value="tok-bbbbbbbbbbbbbbbb"))                      # another caller did
    assert st.gate(START + 1, POLICY, force=True, ticket=ticket) is st.token


def test_gate_shares_the_failure_a_waiter_waited_for() -> None:
    st = BrokerState()
    ticket = st.ticket()
    st.failed(server_error(), START, POLICY, schedule=False)                      # while it waited
    again = st.gate(START, POLICY, force=False, ticket=ticket)
    assert isinstance(again, ApiError) and again.category is ErrorCategory.SERVER_ERROR
    assert "next token request" not in again.message
    st2 = BrokerState()
    st2.issued(tok(START))
    ticket = st2.ticket()
    st2.failed(server_error(), START + 850, POLICY, schedule=False)
    assert st2.gate(START + 850, POLICY, force=False, ticket=ticket) is st2.token  # still usable
    assert isinstance(st2.gate(START + 850, POLICY, force=True, ticket=ticket), ApiError)


def test_gate_during_a_backoff() -> None:
    transient = BrokerState()
    transient.failed(server_error(), START, POLICY, schedule=True)
    again = transient.gate(START + 0.5, POLICY, force=False, ticket=transient.ticket())
    assert isinstance(again, ApiError) and "next token request in 2 s" in again.message
    assert again.retry_after == 1.5
    assert transient.gate(START + 0.5, POLICY, force=True, ticket=transient.ticket()) is None  # force tries
    refused = BrokerState()
    refused.failed(server_error(category=ErrorCategory.BAD_CREDENTIALS), START, POLICY, schedule=True)
    assert refused.gate(START + 0.5, POLICY, force=False, ticket=refused.ticket()) is None     # ask again
    waiting = BrokerState()
    waiting.failed(server_error(retry_after=10), START, POLICY, schedule=True)
    forced = waiting.gate(START + 4, POLICY, force=True, ticket=waiting.ticket())
    assert isinstance(forced, ApiError) and "next token request in 6 s" in forced.message
    assert waiting.gate(START + 10, POLICY, force=True, ticket=waiting.ticket()) is None


# -- TokenBroker over real loopback HTTP ----------------------------------------------------------


@dataclass
class Subject:
    profile: Profile
    bundle: SecretBundle
    persistent: bool = True


@dataclass
class DictTokenStore:
    """The three token methods of the secret store, in memory (StoreTokenCache runs on top)."""

    data: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load_token(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)

    def save_token(self, name: str, data: dict[str, Any]) -> None:
        self.data[name] = data

    def clear_token(self, name: str) -> None:
        self.data.pop(name, None)


@dataclass
class Rig:
    emu: Emulator
    clock: FakeClock
    subject: Subject
    broker: TokenBroker
    store: DictTokenStore

    @property
    def requests(self) -> int:
        """Requests that reached AuthX (refused and failed ones included)."""
        return self.emu.requests(AUTHX)


@pytest.fixture
def world() -> Any:
    clock = FakeClock(START)
    # the tests honour the server's Retry-After, which the emulator sends only behind this switch
    with Emulator(clock=clock, retry_after=True) as emu:
        yield emu, clock


@asynccontextmanager
async def rig(world: tuple[Emulator, FakeClock], *, flow: Flow = Flow.CLIENT_SECRET, scheduled: bool = True,
              local: FakeClock | None = None) -> AsyncIterator[Rig]:
    """A broker for a new client-credentials (or ``flow``) credential on the emulator; its clock
    is the emulator's unless ``local`` is given (a client clock that can go its own way)."""
    emu, server_clock = world
    clock = local or server_clock
    profile, bundle = issue_credential(emu, "bx", Env.BROKER_SANDBOX, flow)
    wire = Wire(SendPolicy(), clock=clock, sleep=ClockSleep(clock))
    store = DictTokenStore()
    service = TokenService(TokenEndpoint(wire, clock), POLICY, clock, cache=StoreTokenCache(store))
    subject = Subject(profile, bundle)
    try:
        yield Rig(emu, clock, subject, TokenBroker(subject, service, scheduled=lambda: scheduled), store)
    finally:
        await wire.aclose()


async def test_no_token_then_fresh_then_refresh_ahead(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        assert r.broker.phase() is Phase.NO_TOKEN
        first = await r.broker.token()
        assert r.broker.phase() is Phase.FRESH and r.requests == 1 and first.source == "network"
        assert await r.broker.token() is first and r.requests == 1               # FRESH: no request
        r.clock.advance(840)                                                      # 59 s left
        assert r.broker.phase() is Phase.REFRESH_AHEAD
        second = await r.broker.token()
        assert second is not first and r.requests == 2 and r.broker.state.refresh_count == 1
        assert r.store.data["bx"]["access_token"] == second.value                 # shared via the cache


async def test_a_failed_refresh_ahead_keeps_the_token_and_backs_off(
        world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        first = await r.broker.token()
        r.clock.advance(840)
        r.emu.fail_next(AUTHX, 10_000, status=503)
        assert await r.broker.token() is first and r.requests == 2              # REFRESH_AHEAD -> failed
        assert r.broker.phase() is Phase.BACKING_OFF
        snap = r.broker.snapshot()
        assert snap.failures == 1 and snap.retry_at == START + 842 and snap.last_error
        assert "server error" in snap.last_error
        assert await r.broker.token() is first and r.requests == 2              # BACKING_OFF: no request
        r.clock.advance(2)                                                        # the backoff is over
        assert await r.broker.token() is first and r.requests == 3
        r.emu.fail_next(AUTHX, 0)
        r.clock.advance(4)
        assert (await r.broker.token()) is not first and r.broker.phase() is Phase.FRESH
        assert r.broker.snapshot().failures == 0 and r.broker.snapshot().last_error is None


async def test_without_a_usable_token_transient_failures_are_refused_at_once(
        world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        r.emu.fail_next(AUTHX, 10_000, status=503)
        with pytest.raises(ApiError) as ei:
            await r.broker.token()
        assert ei.value.category is ErrorCategory.SERVER_ERROR and r.requests == 1
        assert r.broker.phase() is Phase.BACKING_OFF
        with pytest.raises(ApiError) as ei:
            await r.broker.token()
        assert "next token request in 2 s" in ei.value.message and r.requests == 1
        r.clock.advance(2)
        assert r.broker.phase() is Phase.FAILED
        with pytest.raises(ApiError):
            await r.broker.token()
        assert r.requests == 2                                                    # FAILED: asked again


async def test_a_refused_credential_is_asked_again_at_once(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        r.emu.revoke(r.subject.bundle.active.key_id)
        for n in (1, 2):
            with pytest.raises(ApiError) as ei:
                await r.broker.token()
            assert ei.value.category is ErrorCategory.BAD_CREDENTIALS and r.requests == n


async def test_single_flight_for_successes_and_failures(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        r.emu.set_latency(AUTHX, 0.05)
        toks = await asyncio.gather(*(r.broker.token() for _ in range(50)))
        assert len({t.value for t in toks}) == 1 and r.requests == 1
        forced = await asyncio.gather(*(r.broker.token(force=True) for _ in range(20)))
        assert len({t.value for t in forced}) == 1 and r.requests == 2          # one forced request
        r.broker.drop()
        r.store.data.clear()                                                      # nothing cached either
        r.emu.fail_next(AUTHX, 10_000, status=503)
        outcomes = await asyncio.gather(*(r.broker.token() for _ in range(100)), return_exceptions=True)
        assert all(isinstance(o, ApiError) and o.category is ErrorCategory.SERVER_ERROR for o in outcomes)
        assert r.requests == 3 and r.broker.state.token_requests == 3


async def test_force_skips_the_backoff_but_not_the_servers_retry_after(
        world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        first = await r.broker.token()
        r.clock.advance(850)
        r.emu.fail_next(AUTHX, 10_000, status=503)
        assert await r.broker.token() is first                                    # backoff 2 s starts
        with pytest.raises(ApiError):
            await r.broker.token(force=True)                                      # tried despite it
        assert r.requests == 3
        r.emu.fail_next(AUTHX, 10_000, status=429)                                # Retry-After: 1
        r.clock.advance(4)
        assert await r.broker.token() is first and r.requests == 4
        with pytest.raises(ApiError) as ei:
            await r.broker.token(force=True)
        assert ei.value.category is ErrorCategory.RATE_LIMITED and r.requests == 4
        assert "next token request in 1 s" in ei.value.message


async def test_a_refused_token_is_never_the_fallback(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        first = await r.broker.token()
        epoch = r.broker.epoch
        r.clock.advance(100)
        r.emu.fail_next(AUTHX, 10_000, status=503)
        with pytest.raises(ApiError):
            await r.broker.token(refused=epoch)                                   # the API said 401:
        # a refusal is a forced refresh, and the usable token it refused is not served instead
        assert r.broker.current is first                                          # kept, not served
        r.emu.fail_next(AUTHX, 0)
        r.clock.advance(2)
        renewed = await r.broker.token(refused=epoch)
        assert renewed is not first
        assert await r.broker.token(refused=epoch) is renewed and r.requests == 3  # already replaced


async def test_the_cache_fresh_adopted_usable_kept_and_renewed(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        secret = r.subject.bundle.active
        other = await r.broker.token()                                            # "another process"
        r.broker.drop()
        r.store.data["bx"] = token_to_cache(other, secret)
        adopted = await r.broker.token()
        assert adopted.source == "cache" and adopted.value == other.value and r.requests == 1
        # a usable cached token that outlives ours is adopted, and renewed at once
        r.clock.advance(850)
        r.emu.fail_next(AUTHX, 10_000, status=503)
        newer = AccessToken(value="tok-cccccccccccccccc", issued_at=START + 10, expires_at=START + 909,
                            token_url=other.token_url)
        r.store.data["bx"] = token_to_cache(newer, secret)
        served = await r.broker.token()
        assert served.value == newer.value and r.requests == 2                    # renewal tried, failed
        assert r.broker.phase() is Phase.BACKING_OFF
        # a cached token of another secret is never used
        r.broker.drop()
        r.emu.fail_next(AUTHX, 0)
        r.store.data["bx"] = token_to_cache(other, type(secret)(secret.key_id, secret="another-secret"))
        r.clock.advance(10)
        assert (await r.broker.token()).source == "network"
        r.subject.persistent = False                                              # a candidate: no cache
        r.store.data.clear()
        assert (await r.broker.token(force=True)).source == "network" and "bx" not in r.store.data


async def test_an_unscheduled_broker_keeps_no_backoff(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world, scheduled=False) as r:
        r.emu.fail_next(AUTHX, 10_000, status=503)
        for n in (1, 2, 3):
            with pytest.raises(ApiError):
                await r.broker.token()
            assert r.requests == n and r.broker.phase() is Phase.FAILED


async def test_clock_set_back_renews_once_and_voids_the_backoff(world: tuple[Emulator, FakeClock]) -> None:
    local = FakeClock(START)                                                      # the client's clock
    async with rig(world, local=local) as r:
        first = await r.broker.token()
        r.store.data.clear()
        local.advance(-3600)                                                      # only ours goes back
        assert r.broker.phase() is Phase.REFRESH_AHEAD
        renewed = await r.broker.token()
        assert renewed is not first and r.requests == 2
        assert await r.broker.token() is renewed and r.requests == 2              # then reused
        r.emu.fail_next(AUTHX, 1, status=503)
        with pytest.raises(ApiError):
            await r.broker.token(force=True)
        assert r.broker.phase() is Phase.FRESH and r.broker.state.backing_off(local.time())  # token fresh
        local.advance(-3600)                                                      # back before the backoff
        assert not r.broker.state.backing_off(local.time())
        await r.broker.token()
        assert r.requests == 4


async def test_legacy_and_expired_credentials_get_no_token(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world) as r:
        r.subject.profile = r.subject.profile.with_changes(flow=Flow.LEGACY)
        with pytest.raises(UsageError, match="no access token"):
            await r.broker.token()
        r.subject.profile = r.subject.profile.with_changes(flow=Flow.CLIENT_SECRET,
                                                           expires_at=r.clock.now())
        with pytest.raises(ApiError) as ei:
            await r.broker.token()
        assert ei.value.category is ErrorCategory.EXPIRED_CREDENTIAL and r.requests == 0


async def test_private_key_jwt_through_the_broker(world: tuple[Emulator, FakeClock]) -> None:
    async with rig(world, flow=Flow.PRIVATE_KEY_JWT) as r:
        a = await r.broker.token()
        b = await r.broker.token(force=True)                                      # a fresh assertion each
        assert a.value != b.value and r.requests == 2 and r.broker.snapshot().refresh_count == 1


# -- the auth proxy's seam: upstream headers for a credential, right now --------------------------


async def test_authorize_gives_upstream_headers_and_one_shared_refresh_after_a_refusal(
        world: tuple[Emulator, FakeClock]) -> None:
    import httpx

    from alpaca_tui.core.engine import Engine

    emu, clock = world
    async with Engine(clock=clock) as engine:
        profile, bundle = issue_credential(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
        engine.add_credential(profile, bundle)
        paper, paper_bundle = issue_credential(emu, "paper", Env.PAPER)
        engine.add_credential(paper, paper_bundle)
        legacy = await engine.authorize("paper")
        key = paper_bundle.active
        assert legacy.headers == {"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": key.secret}
        assert legacy.token is None and legacy.epoch is None and (key.secret or "") not in repr(legacy)
        auth = await engine.authorize("bx")
        assert auth.token is not None and auth.headers == {"Authorization": f"Bearer {auth.token.value}"}
        assert auth.token.value not in repr(auth)
        async with httpx.AsyncClient() as client:          # a proxy sends them itself
            resp = await client.get(emu.urls["broker-sandbox"] + "/v1/accounts", headers=auth.headers)
        assert resp.status_code == 200
        assert await engine.authorize("bx") == auth         # reused: refreshed only ahead of expiry
        # upstream refused them (401): 20 proxied requests at once get one new token between them
        before = emu.token_requests(bundle.active.key_id)
        renewed = await asyncio.gather(*(engine.authorize("bx", refused=auth) for _ in range(20)))
        assert len({a.headers["Authorization"] for a in renewed}) == 1
        assert renewed[0].headers != auth.headers and renewed[0].epoch != auth.epoch
        assert emu.token_requests(bundle.active.key_id) == before + 1
