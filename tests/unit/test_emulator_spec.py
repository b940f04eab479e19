"""The emulator against Alpaca's published OpenAPI documents (``assets/openapi/``), over real
loopback HTTP:

* every emulated operation answers 2xx and its body validates against the operation's response
  schema (``tests/openapi_spec.py``: jsonschema with the OpenAPI 3.0 / 3.1 dialects, ``$ref``
  resolved in the document, formats checked); SSE streams: each event against the item schema;
* every operation of every document is answered: emulated (2xx) or 501 with Alpaca's error body
  saying it is not emulated, never 404 / 405; a path in no document stays 404;
* every route of ours is a documented operation, or one of the few named extras;
* the emulator's built-in catalogue (``alpaca_tui/emulator/catalog_data.py``) equals the documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alpaca_tui.core.clock import FakeClock
from alpaca_tui.emulator import Emulator, catalog
from alpaca_tui.emulator.routes import table
from alpaca_tui.emulator.routing import Route
from tests import openapi_spec as spec
from tests.emulator_fixtures import http_client
from tests.emulator_world import MARKET_OPEN, World

# One role per kind of host: both roles of a kind share the same routes.
ROLE = {"trading": "trading-paper", "data": "data", "broker": "broker-sandbox", "authx": "authx-sandbox"}
KINDS = tuple(ROLE)

# Routes that answer no documented operation, and why.
EXTRAS = {
    ("broker", "GET /v1/trading/accounts/{account_id}/account/configurations"):
        "alpaca-py's get_trade_configuration_for_account calls it; the spec lists only the PATCH",
    ("broker", "GET /v1/correspondents"): "the emulator's Admin-scope stand-in",
    ("broker", "GET /v1/correspondents/me"): "the emulator's Admin-scope stand-in",
    ("broker", "PATCH /v1/correspondents"): "the emulator's Admin-scope stand-in",
    ("broker", "PATCH /v1/correspondents/me"): "the emulator's Admin-scope stand-in",
}

# Where the published schema cannot be met by a real answer: the exact errors tolerated, and why.
# Each entry must still occur (a stale entry fails), so a fixed spec or emulator shows up.
_ONE_OF = "oneOf: valid under more than one alternative"
_ACTIVITY = ("the spec's oneOf between trade and non-trade activities declares no required or "
             "distinguishing field, so a real fill (Alpaca's own example too) matches both")
ERRATA: dict[tuple[str, str], tuple[str, str]] = {
    ("trading", "GET /v2/account/activities/{activity_type}"): (_ONE_OF, _ACTIVITY),
    ("broker", "GET /v1/accounts/activities"): (_ONE_OF, _ACTIVITY),
    ("broker", "GET /v1/accounts/activities/{activity_type}"): (_ONE_OF, _ACTIVITY),
    ("broker", "GET /v2/events/funding/status"): (
        "entity_type: 'transfer' is not a 'uuid'",
        "StatusFundingEvent.entity_type has format uuid; its values name entity types"),
}


def _routes() -> list[tuple[str, Route]]:
    return [(kind, r) for kind in KINDS for r in table(ROLE[kind])]


EMULATED = [(kind, r) for kind, r in _routes() if (kind, r.key) not in EXTRAS]
OPERATIONS = [op for kind in KINDS for op in spec.operations(kind)]


@pytest.fixture
def world() -> Iterator[World]:
    with Emulator(clock=FakeClock(MARKET_OPEN)) as emu, http_client(timeout=10) as http:
        yield World(emu, http)


def _events(text: str) -> list[Any]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def _body_errors(op: spec.Operation, r: httpx.Response) -> list[str]:
    ctype = r.headers.get("content-type", "").split(";")[0]
    pointer = spec.response_pointer(op, r.status_code, ctype or "application/json")
    if pointer is None:
        documented = op.raw()["responses"].get(str(r.status_code))
        if documented is not None and not documented.get("content"):
            return []   # the status is documented without a body schema: nothing to check
        return [f"the spec documents no {ctype} answer {r.status_code} for {op.key}"]
    if ctype == "text/event-stream":
        events = _events(r.text)
        item_schema = spec._resolve(op.kind, pointer)
        if item_schema.get("type") == "array":
            return spec.schema_errors(op, r.status_code, events, ctype)
        return [e for ev in events for e in spec.schema_errors(op, r.status_code, ev, ctype)]
    return spec.schema_errors(op, r.status_code, r.json() if r.content else None, ctype)


@pytest.mark.parametrize(("kind", "route"), EMULATED, ids=[f"{k} {r.key}" for k, r in EMULATED])
def test_emulated_answer_validates_against_the_spec(world: World, kind: str, route: Route) -> None:
    op = spec.find(kind, route.method, route.path)
    assert op is not None, f"{route.key} is in no {kind} spec: add it to EXTRAS with a reason, or fix it"
    r = world.request(ROLE[kind], route)
    assert 200 <= r.status_code < 300, f"{route.key}: {r.status_code} {r.text[:300]}"
    errors = _body_errors(op, r)
    tolerated = ERRATA.get((kind, route.key))
    if tolerated is not None:
        assert any(tolerated[0] in e for e in errors), f"stale erratum for {route.key}: {errors}"
        errors = [e for e in errors if tolerated[0] not in e]
    assert errors == [], f"{route.key} ({op.operation_id}):\n" + "\n".join(errors[:20])


def _sample(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", template)


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """One emulator for the operations that are not emulated (their answers change no state)."""
    with Emulator(clock=FakeClock(MARKET_OPEN)) as emu, http_client(timeout=10) as http:
        yield World(emu, http)


@pytest.mark.parametrize("op", OPERATIONS, ids=[f"{op.kind} {op.key}" for op in OPERATIONS])
def test_every_spec_operation_is_emulated_or_501(shared_world: World, op: spec.Operation) -> None:
    """Emulated operations are answered 2xx with a valid body by the test above (over HTTP, with
    their samples); every other one is a 501 that says so."""
    world, role = shared_world, ROLE[op.kind]
    want = (op.method, spec.shape(op.path))
    route = next((r for r in table(role) if (r.method, spec.shape(r.path)) == want), None)
    if route is not None:
        assert (op.kind, route) in EMULATED
        return
    r = world.call(role, op.method, _sample(op.path), {} if op.method in ("POST", "PUT", "PATCH") else None)
    assert r.status_code == 501, f"{op.key}: {r.status_code} {r.text[:200]}"
    body = r.json()
    assert set(body) == {"code", "message"} and body["code"] == 50110000
    assert body["message"] == f"{op.method} {op.path} ({catalog.TITLES[op.kind]}) is not emulated"
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-request-id"):
        assert r.headers.get(name), name


def test_paths_in_no_spec_stay_404_and_wrong_methods_405(world: World) -> None:
    for role, path in (("trading-paper", "/v2/nothing"), ("broker-sandbox", "/v1/nothing/here"),
                       ("data", "/v2/stocks/AAPL/nothing"), ("broker-sandbox", "/v2/account")):
        r = world.call(role, "GET", path)
        assert (r.status_code, r.json()) == (404, {"code": 40410000, "message": "endpoint not found"}), path
    r = world.call("trading-paper", "PUT", "/v2/account")
    assert r.status_code == 405 and r.json()["code"] == 40510000
    # a documented method of a served path that the emulator does not serve: 501, not 405
    r = world.call("trading-paper", "POST", "/v2/positions/AAPL/exercise", {})
    assert r.status_code == 501


def test_every_route_is_a_documented_operation_or_a_named_extra() -> None:
    for kind, route in _routes():
        if (kind, route.key) in EXTRAS:
            assert spec.find(kind, route.method, route.path) is None, f"{route.key} is documented now"
        else:
            assert spec.find(kind, route.method, route.path) is not None, f"{kind} {route.key}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_catalogue_equals_the_published_documents(kind: str) -> None:
    documented = sorted((op.method, op.path) for op in spec.operations(kind))
    assert sorted(catalog.operations(kind)) == documented, (
        "regenerate: python scripts/emulator_catalog.py > alpaca_tui/emulator/catalog_data.py")
    assert len(documented) == {"trading": 58, "data": 44, "broker": 141, "authx": 1}[kind]
