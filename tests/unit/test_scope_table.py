"""The scope guard against Alpaca's published Broker API (assets/openapi/broker-api.json).

Walks every operation of the spec: each must be classified (a scope or reference data) by
core/scopetable.py, each table row must be a spec operation (the table cannot drift), each
operation's path resolves to itself and no other, and ``scope_preflight`` refuses every
operation of a scope the credential has at "no access" (and every write of one it has
read-only), as the request command, the TUI tester and the auth proxy rely on.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.http import ErrorCategory
from alpaca_tui.core.pathscopes import BROKER_OPERATIONS, Kind, Operation, match_operation, required_scope
from alpaca_tui.core.preflight import scope_check, scope_preflight
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.core.scopetable import BROKER_PATHS, SPEC_TITLE, SPEC_VERSION

SPEC = Path(__file__).resolve().parents[2] / "assets" / "openapi" / "broker-api.json"
METHODS = ("get", "put", "post", "patch", "delete")
ACC = "7d6b1f6e-33c5-4c1f-9d6a-0b3c5a1e2f40"


@cache
def spec() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return doc


def spec_operations() -> list[tuple[str, str]]:
    return [(m.upper(), path) for path, item in spec()["paths"].items() for m in METHODS if m in item]


def fill(template: str, symbol: str = "AAPL") -> str:
    """A concrete path for a template: ids as UUIDs, symbols as ``symbol``."""
    def value(m: re.Match[str]) -> str:
        return symbol if m.group(1).startswith("symbol") else ACC
    return re.sub(r"\{([^}]+)\}", value, template)


OPS = {(op.method, op.template): op for op in BROKER_OPERATIONS}


def test_the_spec_is_the_one_the_table_was_made_from() -> None:
    info = spec()["info"]
    assert (info["title"], info["version"]) == (SPEC_TITLE, SPEC_VERSION)
    assert len(spec_operations()) == 141 == len(BROKER_OPERATIONS)
    assert len(BROKER_PATHS) == len(spec()["paths"]) == 107


@pytest.mark.parametrize(("method", "template"), spec_operations(), ids=lambda v: str(v))
def test_every_spec_operation_is_classified(method: str, template: str) -> None:
    op = OPS.get((method, template))
    assert op is not None, f"{method} {template} is in the spec but in neither the scope table nor the " \
                           f"reference list (core/scopetable.py)"
    if op.scope is None:
        assert method == "GET", f"reference data is read-only, but {method} {template} is listed as reference"


def test_every_table_row_is_a_spec_operation() -> None:
    documented = set(spec_operations())
    stale = [op.key for op in BROKER_OPERATIONS if (op.method, op.template) not in documented]
    assert not stale, f"rows of core/scopetable.py that are no operation of the spec: {stale}"
    rows = [template for template, _methods, _scope in BROKER_PATHS]
    assert len(rows) == len(set(rows)), "a template is listed twice"


@pytest.mark.parametrize("op", BROKER_OPERATIONS, ids=lambda op: op.key)
def test_each_operation_path_resolves_to_that_operation(op: Operation) -> None:
    """No template shadows another: a concrete path of each operation matches exactly it."""
    assert match_operation(op.method, fill(op.template)) == op
    if "{symbol" in op.template:  # a crypto pair as the SDKs send it, unencoded and encoded
        assert match_operation(op.method, fill(op.template, "BTC/USD")) == op
        assert match_operation(op.method, fill(op.template, "BTC%2FUSD")) == op
    need = required_scope(Api.BROKER, op.method, fill(op.template) + "?limit=5")
    assert need.operation == op
    assert need.kind is (Kind.REFERENCE if op.scope is None else Kind.SCOPED)
    assert need.scope is op.scope and need.level is op.level
    assert need.level is (None if op.scope is None else (Level.RW if op.write else Level.RO))


def _broker(levels: dict[Scope, Level], default: Level = Level.RW) -> Profile:
    full = {s: levels.get(s, default) for s in Scope}
    return Profile("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK…", access=AccessMatrix(full))


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
@pytest.mark.parametrize("level", [Level.NONE, Level.RO], ids=lambda v: v.value)
def test_scope_preflight_over_every_operation(scope: Scope, level: Level) -> None:
    """Every scope at "no access" / read-only, every other at read-write: the guard refuses
    exactly that scope's operations (reads too, at no access) and lets every other through."""
    profile = _broker({scope: level})
    for op in BROKER_OPERATIONS:
        path = fill(op.template)
        refusal = scope_preflight(profile, Api.BROKER, op.method, path)
        blocked = op.scope is scope and (level is Level.NONE or op.write)
        if blocked:
            assert refusal is not None, f"{op.key} reachable with {scope.value}={level.value}"
            assert refusal.category is ErrorCategory.FORBIDDEN_SCOPE and refusal.status is None
            assert scope.label in refusal.message and level.label in refusal.message
            assert refusal.explanation is not None and "--force" in refusal.explanation.fix
        else:
            assert refusal is None, f"{op.key} refused with only {scope.value}={level.value}: {refusal}"
    if scope is Scope.DATA:  # the market-data host needs Data
        refusal = scope_preflight(profile, Api.DATA, "GET", "/v2/stocks/AAPL/bars/latest")
        assert (refusal is not None) is (level is Level.NONE)


def test_a_credential_without_any_access_reaches_only_reference_data() -> None:
    profile = _broker({}, default=Level.NONE)
    for op in BROKER_OPERATIONS:
        refused = scope_preflight(profile, Api.BROKER, op.method, fill(op.template)) is not None
        assert refused is (op.scope is not None), op.key


def test_funding_at_no_access_cannot_withdraw_from_a_funding_wallet() -> None:
    """issue 13: this POST used to be sent with Funding at no access."""
    profile = _broker({Scope.FUNDING: Level.NONE})
    for method, path in [("POST", f"/v1beta/accounts/{ACC}/funding_wallet/withdrawal"),
                         ("POST", "/v1beta/accounts/funding_wallet"),
                         ("POST", "/v1beta/demo/banking/funding"), ("POST", "/v1/jit/settlements"),
                         ("GET", f"/v1beta/accounts/{ACC}/funding_wallet")]:
        err = scope_preflight(profile, Api.BROKER, method, path)
        assert err is not None and "Funding" in err.message and "no access" in err.message, (method, path)


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("GET", "/v1/reporting/eod/positions", Scope.REPORTING),
    ("GET", "/v1/fpsl/loans", Scope.REPORTING),
    ("GET", "/v1/fpsl/tiers", Scope.ADMIN),
    ("POST", "/v1/oauth/token", Scope.ADMIN),
    ("GET", f"/v1/accounts/{ACC}/wallets/whitelists", Scope.CRYPTO),
    ("DELETE", f"/v1/accounts/{ACC}/wallets/whitelists/{ACC}", Scope.CRYPTO),
    ("POST", f"/v1/accounts/{ACC}/wallets/transfers", Scope.CRYPTO),
    ("POST", f"/v1/accounts/{ACC}/documents/upload", Scope.ACCOUNTS),
    ("GET", "/v1/accounts/positions", Scope.REPORTING),
    ("GET", "/v2/events/funding/status", Scope.SSE_EVENTS),
    ("DELETE", f"/v1/trading/accounts/{ACC}/positions/BTC/USD", Scope.TRADING),
])
def test_paths_the_old_table_missed(method: str, path: str, scope: Scope) -> None:
    assert required_scope(Api.BROKER, method, path).scope is scope


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/accounts/activities"),          # the literal template has GET only: no fallback
    ("PATCH", "/v1/accounts/activities"),         # (not patchAccount with account_id="activities")
    ("POST", "/v1/assets"),                       # reference data is read-only
    ("DELETE", "/v1/clock"),
    ("POST", "/v2/accounts"),
    ("PUT", "/v1/journals"),
])
def test_unknown_writes_are_refused_by_default(method: str, path: str) -> None:
    check = scope_check(_broker({}), Api.BROKER, method, path)  # full access: still refused
    assert check.requirement.kind is Kind.UNKNOWN
    assert check.refusal is not None and check.refusal.category is ErrorCategory.FORBIDDEN_SCOPE
    assert "not an operation of Alpaca's Broker API 1.1.1" in check.refusal.message
    assert "--force" in check.refusal.message


def test_unknown_reads_warn_and_go() -> None:
    check = scope_check(_broker({}, default=Level.NONE), Api.BROKER, "GET", "/v1/somewhere/new")
    assert check.refusal is None and check.requirement.kind is Kind.UNKNOWN
    assert check.warning is not None and "cannot tell which scope" in check.warning
    assert "sent anyway" in check.warning


@pytest.mark.parametrize(("path", "seen"), [
    (f"/v1/trading/accounts/{ACC}/../../../journals", "/v1/journals"),   # httpx resolves dot segments
    (f"/v1/trading/accounts/{ACC}/./positions/../../../../journals/", "/v1/journals"),
    ("/v1//journals/./", "/v1/journals"),
])
def test_dot_segments_are_resolved_before_matching(path: str, seen: str) -> None:
    need = required_scope(Api.BROKER, "GET", path)
    assert need.path == seen and need.scope is Scope.JOURNALING
    assert scope_preflight(_broker({Scope.JOURNALING: Level.NONE}), Api.BROKER, "GET", path) is not None


@pytest.mark.parametrize("path", [
    f"/v1/trading/accounts/{ACC}/..%2F..%2F..%2Fjournals",
    f"/v1/trading/accounts/{ACC}/%2e%2e/%2e%2e/%2E%2E/journals",
    "/v1/assets/%2e%2e",
])
def test_encoded_dots_and_slashes_that_change_the_operation_are_refused(path: str) -> None:
    check = scope_check(_broker({}), Api.BROKER, "GET", path)
    assert check.requirement.kind is Kind.AMBIGUOUS
    assert check.refusal is not None and "ambiguous" in check.refusal.message
    assert scope_preflight(_broker({}), Api.BROKER, "POST", path) is not None  # ambiguous or unknown


def test_trading_keys_have_no_matrix() -> None:
    paper = Profile("paper", Env.PAPER, Flow.LEGACY, "PK…", access=AccessMatrix({}))
    check = scope_check(paper, Api.TRADING, "POST", "/v2/anything")
    assert check.refusal is None and check.warning is None
    assert check.requirement.kind is Kind.NO_MATRIX


def test_broker_v1beta_paths_go_to_the_broker_host() -> None:
    """/v1beta/ (no digit) is the Broker API's funding wallets and demo deposit, not market data
    (/v1beta1/news, /v1beta3/crypto): before, a funding-wallet withdrawal went to the data host
    and was guarded as a Data call."""
    from alpaca_tui.core.api import infer_api

    assert infer_api(Env.BROKER_SANDBOX, f"/v1beta/accounts/{ACC}/funding_wallet/withdrawal") is Api.BROKER
    assert infer_api(Env.BROKER_LIVE, "/v1beta/demo/banking/funding") is Api.BROKER
    assert infer_api(Env.BROKER_SANDBOX, "/v1beta1/news") is Api.DATA
    assert infer_api(Env.PAPER, "/v1beta3/crypto/us/latest/bars") is Api.DATA


@pytest.mark.parametrize(("levels", "method", "path"), [
    ({Scope.FUNDING: Level.NONE}, "POST", f"/v1beta/accounts/{ACC}/funding_wallet/withdrawal"),
    ({}, "POST", "/v1/nowhere"),
    ({}, "GET", "/v1/assets/%2e%2e"),
])
def test_every_refusal_is_its_reason_then_the_same_tail(levels: dict[Scope, Level], method: str,
                                                        path: str) -> None:
    """Callers without --force (the auth proxy) rely on it: ``reason`` + one fixed tail."""
    check = scope_check(_broker(levels), Api.BROKER, method, path)
    assert check.refusal is not None and check.reason
    assert check.refusal.detail == f"{check.reason}; not sent (use --force to send anyway)"
