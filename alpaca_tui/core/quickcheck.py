"""``check`` of key-pair profiles without the engine: blocking, in threads, no asyncio.

A one-shot ``alpaca-tui check`` of key pairs (``Flow.LEGACY``: APCA headers or HTTP Basic,
no token) needs none of the engine's token machinery; importing asyncio, anyio's event-loop
backend and the engine's modules cost a script more than the two GETs. :class:`QuickCheck`
does what ``Engine.check`` does for such profiles, with the same parts
(:mod:`~alpaca_tui.core.apicall`, :mod:`~alpaca_tui.core.checks`,
:mod:`~alpaca_tui.core.exchange`, :mod:`~alpaca_tui.core.retirement`), so lines, messages,
exit codes and what the index records are the same:

* the credential is loaded as the engine's registry loads it (``Store.load``, a previous
  secret past its retirement dropped and persisted), outside the deadline;
* an expired credential is refused locally on every line; an API the broker access matrix
  does not let it read is ``skipped``;
* the GETs of a profile run concurrently, as do those of every profile (a bounded thread
  pool), each over :class:`~alpaca_tui.core.syncwire.SyncWire`; one deadline per profile
  (``SendPolicy.timeout``: connects, bodies and 429 waits of all its GETs), started when its
  first GET does (a queued profile does not spend it waiting for a thread);
* each profile's outcome is recorded in the index (``checks.record_check``).

OAuth profiles need the engine (the token broker): callers check
:func:`key_pairs_only` first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeAlias

from alpaca_tui.core.apicall import key_headers, read_answer, request_parts, resolve_call
from alpaca_tui.core.checks import (
    CHECK_PATHS,
    CheckResult,
    answer_line,
    expired_lines,
    record_check,
    skipped_line,
)
from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import HeldCredential, Profile
from alpaca_tui.core.environments import Api, apis_for
from alpaca_tui.core.exchange import SendPolicy
from alpaca_tui.core.http import ApiError, ApiResponse
from alpaca_tui.core.pathscopes import normalize_path
from alpaca_tui.core.retirement import commit_retirement, retire_due
from alpaca_tui.core.syncwire import Deadline, SyncWire

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store

__all__ = ["MAX_THREADS", "QuickCheck", "key_pairs_only"]

MAX_THREADS = 32   # GETs in flight at once (threads made as needed; the rest wait, deadline not started)


def key_pairs_only(profiles: Iterable[Profile]) -> bool:
    """Whether :class:`QuickCheck` can check all of these (no OAuth credential among them)."""
    return not any(p.flow.is_oauth for p in profiles)


class _Budget:
    """One profile's deadline, started by the first of its GETs to run."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._deadline: Deadline | None = None

    def deadline(self) -> Deadline:
        with self._lock:
            if self._deadline is None:
                self._deadline = Deadline.after(self._seconds)
            return self._deadline


Line: TypeAlias = "CheckResult | Future[CheckResult]"   # a line known now, or one a GET will give


class QuickCheck:
    """``check`` of stored key-pair profiles (module doc)."""

    def __init__(self, store: Store, policy: SendPolicy, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock

    def check(self, names: list[str]) -> list[list[CheckResult]]:
        """Each profile's lines (one per API it reaches), in the order of ``names``; each
        profile's outcome recorded in the index."""
        with SyncWire(self.policy, clock=self._clock) as wire, \
                ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="alpaca-tui-check") as pool:
            try:
                started = [self._start(pool, wire, name) for name in names]
                return [self._finish(cred, lines) for cred, lines in started]
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)   # a failed load, ctrl+c: start no more
                raise

    def load(self, name: str) -> HeldCredential:
        """The credential as the engine's registry loads it (repaired, retired when due)."""
        profile, bundle = self.store.load(name)
        if retire_due(bundle, self._clock.time()):
            profile, bundle = commit_retirement(self.store, profile, bundle)
        return HeldCredential(profile, bundle)

    def _start(self, pool: ThreadPoolExecutor, wire: SyncWire,
               name: str) -> tuple[HeldCredential, list[Line]]:
        cred = self.load(name)
        targets = apis_for(cred.profile.env)
        refused = expired_lines(cred, targets, self._clock.now())
        if refused is not None:
            return cred, list(refused)
        budget = _Budget(self.policy.timeout)
        lines: list[Line] = []
        for api in targets:
            skipped = skipped_line(cred, api)
            lines.append(skipped or pool.submit(self._line, wire, cred, api, budget))
        return cred, lines

    def _finish(self, cred: HeldCredential, lines: list[Line]) -> list[CheckResult]:
        results = [line.result() if isinstance(line, Future) else line for line in lines]
        record_check(self.store, cred.name, results, cred.secrets(), self._clock.now())
        return results

    def _line(self, wire: SyncWire, cred: HeldCredential, api: Api, budget: _Budget) -> CheckResult:
        path, params = CHECK_PATHS[api]
        try:
            resp = self._get(wire, cred, api, path, params, budget.deadline())
        except ApiError as exc:
            return CheckResult.failed(cred, api, exc)
        return answer_line(cred, api, resp)

    def _get(self, wire: SyncWire, cred: HeldCredential, api: Api, path: str, params: Mapping[str, str],
             deadline: Deadline) -> ApiResponse:
        """``ApiClient.call`` for a key pair: resolve, sign, send, read the answer."""
        now = self._clock.now
        m, p, target, url = resolve_call(cred.profile, "GET", path, api, None, params, now=now())
        secrets = cred.secrets()
        sent = wire.send(m, url, build=request_parts(key_headers(cred.profile, cred.secret), params, None),
                         secrets=secrets, what=f"{m} {normalize_path(p)}", profile=cred.name,
                         deadline=deadline)
        return read_answer(cred.profile, cred.secret, target, m, p, url, sent, secrets,
                           attempts=sent.attempts, refreshed=False, now=now())
