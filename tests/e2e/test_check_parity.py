"""The one-shot ``check`` of key pairs (``core/quickcheck.py``, threads) says what the engine says.

Each scenario stores one key-pair profile, then checks it through ``Engine.check`` and through
``QuickCheck`` (both built as ``alpaca-tui check`` builds them, ``cli/enginecli.py``), over real
HTTP on 127.0.0.1 to the emulator or the hostile server (``tests/hostile.py``), re-arming the
scenario's faults before each. Their lines (``CheckResult.to_dict()``, a latency only as
"there is one") and what each recorded in the index must be the same. Also: the GETs of one
profile and of many profiles run concurrently, a due previous secret is retired as the engine
retires it, and a name that never resolves is cut off at the deadline.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alpaca_tui.cli.enginecli import make_engine, send_policy
from alpaca_tui.core.checks import CheckResult
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.quickcheck import QuickCheck
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope
from alpaca_tui.core.store import Store
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, issue_credential
from tests.hostile import HostileServer

__all__ = ["emu"]

KEY_ID = "PKHOSTILE00000000001"
SECRET = "Hostile-Secret-0123456789abcdefghijklmn"
NO_ACCOUNTS = AccessMatrix.read_only().with_level(Scope.ACCOUNTS, Level.NONE)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as h:
        yield h


@dataclass
class Case:
    """A stored profile ``name`` and how to check it: ``--timeout``, ``--max-body``, faults."""

    name: str = "p"
    timeout: float = 5.0
    max_body: int | None = None
    arm: Callable[[], Any] = field(default=lambda: None)


def legacy_at(name: str, trading: str, data: str) -> None:
    endpoints = {Api.TRADING: trading, Api.DATA: data}
    profile = Profile(name, Env.PAPER, Flow.LEGACY, "PKHO…0001", endpoints=endpoints)
    Store.open().add_profile(profile, SecretBundle(Secret(KEY_ID, SECRET)))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scenario(which: str, emu: Emulator, h: HostileServer) -> Case:
    now = datetime.now(UTC)
    if which in ("ok", "429-then-ok", "429-exhausted", "5xx", "dropped"):
        add_profile(emu, "p", Env.PAPER)
        arm = {"ok": lambda: None,
               "429-then-ok": lambda: emu.fail_next("trading-paper", 1, status=429),   # 1 s backoff
               "429-exhausted": lambda: emu.fail_next("trading-paper", 5, status=429),  # 1 s, then 2 > left
               "5xx": lambda: emu.fail_next("data", 1, status=503),
               "dropped": lambda: emu.drop_next("data", 1)}[which]
        return Case(timeout=2.5 if which == "429-exhausted" else 5.0, arm=arm)
    if which == "wrong-environment":
        add_profile(emu, "p", Env.PAPER, profile_env=Env.LIVE)
    elif which == "revoked":
        emu.revoke(add_profile(emu, "p", Env.PAPER).key_id)
    elif which == "expired":
        add_profile(emu, "p", Env.PAPER, expires_at=now - timedelta(hours=2))
    elif which == "expiring":
        add_profile(emu, "p", Env.PAPER, expires_at=now + timedelta(days=3))
    elif which == "broker-skipped":
        add_profile(emu, "p", Env.BROKER_SANDBOX, access=NO_ACCOUNTS)
    elif which == "broker-forbidden":   # recorded with every scope, issued without accounts: a real 403
        Store.open().add_profile(*issue_credential(emu, "p", Env.BROKER_SANDBOX, access=NO_ACCOUNTS,
                                                   profile_access=AccessMatrix.full()))
    elif which == "refused":
        port = closed_port()
        legacy_at("p", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    elif which == "unresolvable":   # RFC 2606: never resolves
        legacy_at("p", "https://trading.nonexistent.invalid", "https://data.nonexistent.invalid")
    else:  # a hostile mode on both APIs
        mode, _, cap = which.partition("@")
        legacy_at("p", h.url(mode), h.url(mode))
        return Case(timeout=2.0 if mode in ("drip", "silent", "retry") else 5.0,
                    max_body=int(cap) if cap else None)
    return Case()


def shown(results: list[CheckResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        d = r.to_dict()
        d["latency_ms"] = d["latency_ms"] is not None
        if r.request_id:   # the emulator's are per request
            d["message"] = d["message"].replace(r.request_id, "<id>")
            d["request_id"] = "<id>"
        out.append(d)
    return out


def recorded(name: str, results: list[CheckResult]) -> tuple[bool | None, str | None, datetime | None]:
    p = Store.open().get_profile(name)
    error = p.last_check_error
    for r in results:
        if error and r.request_id:
            error = error.replace(r.request_id, "<id>")
    return p.last_check_ok, error, p.last_verified_at


def via_engine(case: Case) -> list[CheckResult]:
    engine = make_engine(Store.open(), timeout=case.timeout, body_cap=case.max_body)

    async def go() -> list[CheckResult]:
        async with engine:
            return await engine.check(case.name)

    return asyncio.run(go())


def via_quickcheck(case: Case) -> list[CheckResult]:
    return QuickCheck(Store.open(), send_policy(case.timeout, case.max_body)).check([case.name])[0]


def timed(run: Callable[[Case], list[CheckResult]], case: Case) -> tuple[list[CheckResult], float]:
    case.arm()
    t0 = time.monotonic()
    results = run(case)
    return results, time.monotonic() - t0


SCENARIOS = ["ok", "wrong-environment", "revoked", "429-then-ok", "429-exhausted", "5xx", "dropped",
             "expired", "expiring", "broker-skipped", "broker-forbidden", "refused", "unresolvable",
             "endless@65536", "gzip", "drip", "silent", "retry", "escape", "echo", "deep"]


@pytest.mark.parametrize("which", SCENARIOS)
def test_quickcheck_says_what_the_engine_says(alpaca_home: Path, emu: Emulator, hostile: HostileServer,
                                              which: str) -> None:
    case = scenario(which, emu, hostile)
    engine, engine_s = timed(via_engine, case)
    engine_rec = recorded(case.name, engine)
    quick, quick_s = timed(via_quickcheck, case)
    quick_rec = recorded(case.name, quick)
    assert shown(quick) == shown(engine)
    assert quick_rec[:2] == engine_rec[:2]
    assert quick_rec[2] is not None and engine_rec[2] is not None and quick_rec[2] >= engine_rec[2]
    assert quick_s <= case.timeout + 1.0, quick_s   # one deadline per profile, held
    if which in ("drip", "silent"):
        assert all(r.category is not None and r.category.value == "timeout" for r in quick), quick
        assert quick_s >= case.timeout - 0.3, quick_s


def test_the_gets_of_one_and_of_many_profiles_overlap(alpaca_home: Path, emu: Emulator) -> None:
    names = [f"p{i}" for i in range(6)]
    for n in names:
        add_profile(emu, n, Env.PAPER)
    emu.set_latency("trading-paper", 0.6)
    emu.set_latency("data", 0.6)
    t0 = time.monotonic()
    one = QuickCheck(Store.open(), send_policy(5.0, None)).check(names[:1])
    alone = time.monotonic() - t0
    t0 = time.monotonic()
    many = QuickCheck(Store.open(), send_policy(5.0, None)).check(names)
    together = time.monotonic() - t0
    assert all(r.ok for rs in one + many for r in rs)
    assert [rs[0].profile for rs in many] == names
    assert alone < 1.1, alone         # trading and data at once, not 1.2 s one after the other
    assert together < 2.0, together   # six profiles at once, not 7.2 s
    # A check that ran to its end leaves no worker behind: one still dropping its last response
    # while the interpreter finalizes can crash the process at exit (glibc "double free").
    assert not [t.name for t in threading.enumerate() if t.name.startswith("alpaca-tui-check-")]


def test_a_due_previous_secret_is_retired_as_the_engine_retires_it(alpaca_home: Path, emu: Emulator) -> None:
    past = time.time() - 60
    for name in ("by-engine", "by-quickcheck"):
        profile, bundle = issue_credential(emu, name, Env.PAPER)
        old = Secret("PKOLD000000000000001", secret="old-secret-0123456789abcdefghijklmnopqrs")
        Store.open().add_profile(profile, SecretBundle(bundle.active, previous=old, previous_retire_at=past))
        Store.open().update_profile(name, rotation_state="overlap",
                                    previous_retire_at=datetime.fromtimestamp(past, UTC))
    via_engine(Case(name="by-engine"))
    via_quickcheck(Case(name="by-quickcheck"))
    store = Store.open()
    for name in ("by-engine", "by-quickcheck"):
        profile, bundle = store.load(name)
        assert bundle.previous is None and bundle.previous_retire_at is None
        assert profile.rotation_state is None and profile.last_check_ok is True


def test_a_name_that_never_resolves_is_cut_off_at_the_deadline(alpaca_home: Path, emu: Emulator,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution is no socket wait: a resolver that hangs still ends the check on time."""
    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("localhost", b"localhost"):   # (asyncio passes it encoded)
            release.wait(3.0)
        return real(host, *args, **kwargs)

    port = int(emu.urls["trading-paper"].rsplit(":", 1)[1])
    legacy_at("p", f"http://localhost:{port}", f"http://localhost:{port}")
    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        quick, quick_s = timed(via_quickcheck, Case(timeout=1.0))
        assert quick_s < 1.6, quick_s
        assert [r.category.value if r.category else None for r in quick] == ["timeout", "timeout"]
        release.clear()
        engine, _ = timed(via_engine, Case(timeout=1.0))   # (asyncio.run waits for its resolver thread)
        assert shown(quick) == shown(engine)
    finally:
        release.set()
