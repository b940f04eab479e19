"""The refresh-ahead margin shrinks for short token lifetimes (issue 11, the long run): a token
is renewed with a quarter of its lifetime left when that is under ``refresh_ahead``, and never
sent with an eighth or less; Alpaca's 899 s tokens keep the 60 s / 5 s margins."""

from __future__ import annotations

import pytest

from alpaca_tui.core.auth.state import BrokerState, Phase, RefreshPolicy
from alpaca_tui.core.clock import FakeClock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.engine import Engine
from alpaca_tui.core.environments import Env
from alpaca_tui.core.oauth import AccessToken
from alpaca_tui.core.tokens import MIN_TOKEN_LEFT
from alpaca_tui.emulator import Emulator
from tests.emulator_fixtures import ClockSleep, make_profile

START = 1_800_000_000.0
POLICY = RefreshPolicy(refresh_ahead=60, backoff=2, backoff_max=30, max_wait=60)


def tok(lifetime: float) -> AccessToken:
    return AccessToken(value="tok-aaaaaaaaaaaaaaaa", expires_at=START + lifetime, issued_at=START)


@pytest.mark.parametrize(("lifetime", "ahead", "min_left"), [
    (899.0, 60.0, MIN_TOKEN_LEFT),      # Alpaca's tokens: unchanged
    (240.0, 60.0, MIN_TOKEN_LEFT),      # a quarter is exactly the margin
    (200.0, 50.0, MIN_TOKEN_LEFT),      # a quarter of the lifetime, under 60 s
    (12.0, 3.0, 1.5),                   # the long-run switch: renew at 3 s left, never at <= 1.5 s
])
def test_margins_follow_the_lifetime(lifetime: float, ahead: float, min_left: float) -> None:
    t = tok(lifetime)
    assert POLICY.ahead(t) == ahead and POLICY.min_left(t) == min_left
    assert POLICY.min_left(t) < POLICY.ahead(t)          # a fresh token is always usable


def test_phases_of_a_12_second_token() -> None:
    st = BrokerState()
    st.issued(tok(12.0))
    assert st.phase(START, POLICY) is Phase.FRESH
    assert st.phase(START + 8.9, POLICY) is Phase.FRESH            # 3.1 s left
    assert st.phase(START + 9.1, POLICY) is Phase.REFRESH_AHEAD    # 2.9 s left: renew, still usable
    assert st.phase(START + 10.4, POLICY) is Phase.REFRESH_AHEAD   # 1.6 s left
    assert st.phase(START + 10.6, POLICY) is Phase.NO_TOKEN        # 1.4 s: never sent


async def test_calling_for_three_lifetimes_costs_about_one_token_request_each() -> None:
    clock = FakeClock(START)
    with Emulator(clock=clock, token_lifetime=12) as emu:
        profile, bundle = make_profile(emu, None, Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, name="bx")
        engine = Engine(clock=clock, sleep=ClockSleep(clock))
        engine.add_credential(profile, bundle)
        try:
            left: list[float] = []
            for _ in range(72):                    # a call every 0.5 s for 36 s = three lifetimes
                resp = await engine.request("bx", "GET", "/v1/accounts")
                assert resp.status == 200, resp.text
                state = engine.token_state("bx")
                assert state is not None and state.expires_at is not None
                left.append(state.expires_at - clock.time())
                clock.advance(0.5)
            assert 3 <= emu.token_requests(bundle.active.key_id) <= 5
            assert min(left) > 1.5                  # never sent this close to expiry
        finally:
            await engine.aclose()
