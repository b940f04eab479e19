from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alpaca_tui.core.credentials import Flow, Profile, check_flow_env, key_id_warnings, validate_key_id
from alpaca_tui.core.environments import Api, Env, resolve_endpoints, token_url, validate_url
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.expiry import ExpiryState, describe_expiry, expiry_state, parse_expiry
from alpaca_tui.core.redact import mask, redact, scrub
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope, parse_scope_spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_expiry_choices() -> None:
    assert parse_expiry("never", NOW) is None
    assert parse_expiry("1w", NOW) == NOW + timedelta(days=7)
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("90d", NOW) == NOW + timedelta(days=90)
    assert parse_expiry("6m", NOW) == datetime(2027, 5, 23, 12, 0, tzinfo=UTC)
    assert parse_expiry("1y", NOW) == datetime(2027, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)
    for bad in ("2027-02-30", "2020-01-01", "tomorrow", "5x"):
        with pytest.raises(UsageError):
            parse_expiry(bad, NOW)


def test_expiry_state_and_description() -> None:
    assert expiry_state(None, NOW) is ExpiryState.OK
    assert expiry_state(NOW + timedelta(days=15), NOW) is ExpiryState.OK
    assert expiry_state(NOW + timedelta(days=14), NOW) is ExpiryState.EXPIRING
    assert expiry_state(NOW, NOW) is ExpiryState.EXPIRED
    assert describe_expiry(NOW + timedelta(days=3, hours=4), NOW) == "in 3d 4h"
    assert describe_expiry(NOW - timedelta(days=2), NOW) == "expired 2d ago"


def test_access_matrix_presets_and_specs() -> None:
    assert AccessMatrix.build("read-only").preset_name == "read-only"
    assert AccessMatrix.build(None).preset_name == "full"
    m = AccessMatrix.build("custom", ["funding=rw", "SSE events=ro", "data=read-only"])
    assert m.level(Scope.FUNDING) is Level.RW and m.level(Scope.SSE_EVENTS) is Level.RO
    assert m.level(Scope.TRADING) is Level.NONE
    assert m.allows(Scope.DATA, write=False) and not m.allows(Scope.DATA, write=True)
    assert m.dangerous_writes() == [Scope.FUNDING]
    assert AccessMatrix.from_dict(m.to_dict()) == m
    with pytest.raises(UsageError):
        parse_scope_spec("bogus=rw")
    with pytest.raises(UsageError):
        parse_scope_spec("funding=maybe")


def test_flows_are_refused_outside_broker() -> None:
    check_flow_env(Flow.CLIENT_SECRET, Env.BROKER_SANDBOX)
    with pytest.raises(UsageError, match="broker"):
        check_flow_env(Flow.PRIVATE_KEY_JWT, Env.PAPER)


def test_key_id_checks() -> None:
    assert key_id_warnings("PKABCDEFGHIJKLMNOPQR", Env.PAPER) == []
    assert any("mix-up" in w for w in key_id_warnings("PKABCDEFGHIJKLMNOPQR", Env.LIVE))
    assert any("mix-up" in w for w in key_id_warnings("AKABCDEFGHIJKLMNOPQR", Env.PAPER))
    assert key_id_warnings("short", Env.PAPER)
    with pytest.raises(UsageError):
        validate_key_id("  ")
    with pytest.raises(UsageError):
        validate_key_id("has space")


def test_endpoints() -> None:
    assert resolve_endpoints(Env.PAPER)[Api.TRADING] == "https://paper-api.alpaca.markets"
    assert token_url(Env.BROKER_SANDBOX) == "https://authx.sandbox.alpaca.markets/v1/oauth2/token"
    assert validate_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    for bad in ("ftp://x", "http://example.com", "https://u:p@h", "not a url", "https://h:99999"):
        with pytest.raises(UsageError):
            validate_url(bad)
    with pytest.raises(UsageError):
        token_url(Env.PAPER)


def test_profile_round_trip() -> None:
    p = Profile(name="p1", env=Env.BROKER_SANDBOX, flow=Flow.CLIENT_SECRET, key_id_masked="CKAB…WXYZ",
                access=AccessMatrix.read_only(), expires_at=NOW, created_at=NOW,
                endpoints={Api.AUTH: "http://127.0.0.1:9000"})
    assert Profile.from_dict(p.to_dict()) == p


def test_masking_and_redaction() -> None:
    assert mask("PKABCDEFGHIJKLMNOPQR") == "PKAB…OPQR"
    assert "secretvalue123" not in redact("x secretvalue123 y", ["secretvalue123"])
    assert "tok123" not in scrub("Authorization: Bearer tok123")
    assert "abc" not in scrub("client_secret=abc&client_id=x")
