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
* the GETs of a profile run concurrently, as do those of every profile (at most
  :data:`MAX_THREADS` daemon threads: a ctrl+c leaves at once, as the engine's cancellation
  did), each over :class:`~alpaca_tui.core.syncwire.SyncWire`; one deadline per profile
  (``SendPolicy.timeout``: connects, bodies and 429 waits of all its GETs), started when its
  first GET does (a queued profile does not spend it waiting for a thread);
* each profile's outcome is recorded in the index (``checks.record_check``).

OAuth profiles need the engine (the token broker): callers check
:func:`key_pairs_only` first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from queue import SimpleQueue
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar

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
from alpaca_tui.core.deadline import Deadline
from alpaca_tui.core.environments import Api, apis_for, normalize_path
from alpaca_tui.core.exchange import SendPolicy
from alpaca_tui.core.http import ApiError, ApiResponse
from alpaca_tui.core.retirement import commit_retirement, retire_due
from alpaca_tui.core.syncwire import SyncWire
from alpaca_tui.core.threads import helper_thread

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store

__all__ = ["MAX_THREADS", "QuickCheck", "key_pairs_only"]

MAX_THREADS = 32   # GETs in flight at once (threads made as needed; the rest wait, deadline not started)

T = TypeVar("T")


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


class _Pending(Generic[T]):
    """What a task will give (its value or its exception), once a worker has run it."""

    def __init__(self, task: Callable[[], T]) -> None:
        self._task = task
        self._done = threading.Event()
        self._value: list[T] = []   # [value] once run without an error
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value.append(self._task())
        except BaseException as exc:  # handed to the waiting thread by result()
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value[0]


class _Workers:
    """At most ``size`` daemon threads running tasks in order, made as tasks come. Daemons: after
    a failed load or a ctrl+c the process leaves at once, nothing waits for a GET in flight
    (``concurrent.futures`` joins its threads at exit). After a check that ran to its end they
    are joined (:meth:`close` with ``wait``): a worker still dropping its last response, TLS
    socket or client frame while the interpreter finalizes can crash the process at exit (a
    bench run once saw ``check`` abort with glibc's "double free or corruption")."""

    JOIN_TIMEOUT = 2.0  # each; a worker past the last result only has to take its None and return

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: SimpleQueue[_Pending[CheckResult] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, task: Callable[[], CheckResult]) -> _Pending[CheckResult]:
        pending = _Pending(task)
        self._queue.put(pending)
        if len(self._threads) < self._size:
            thread = helper_thread(self._work, f"alpaca-tui-check-{len(self._threads) + 1}")
            self._threads.append(thread)
            thread.start()
        return pending

    def _work(self) -> None:
        while (pending := self._queue.get()) is not None:
            pending.run()
            del pending  # the task's frame and result go now, not when the next task comes

    def close(self, wait: bool = False) -> None:
        """Let the workers end once the tasks before this are done; ``wait``: until they have."""
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join(self.JOIN_TIMEOUT)


Line: TypeAlias = "CheckResult | _Pending[CheckResult]"   # a line known now, or one a GET will give


class QuickCheck:
    """``check`` of stored key-pair profiles (module doc)."""

    def __init__(self, store: Store, policy: SendPolicy, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock

    def check(self, names: list[str]) -> list[list[CheckResult]]:
        """Each profile's lines (one per API it reaches), in the order of ``names``; each
        profile's outcome recorded in the index."""
        workers = _Workers(MAX_THREADS)
        finished = False
        try:
            with SyncWire(self.policy, clock=self._clock) as wire:
                started = [self._start(workers, wire, name) for name in names]
                results = [self._finish(cred, lines) for cred, lines in started]
            finished = True
            return results
        finally:
            workers.close(wait=finished)  # a failure or ctrl+c leaves at once (daemon threads)

    def load(self, name: str) -> HeldCredential:
        """The credential as the engine's registry loads it (repaired, retired when due)."""
        profile, bundle = self.store.load(name)
        if retire_due(bundle, self._clock.time()):
            profile, bundle = commit_retirement(self.store, profile, bundle)
        return HeldCredential(profile, bundle)

    def _start(self, workers: _Workers, wire: SyncWire, name: str) -> tuple[HeldCredential, list[Line]]:
        cred = self.load(name)
        targets = apis_for(cred.profile.env)
        refused = expired_lines(cred, targets, self._clock.now())
        if refused is not None:
            return cred, list(refused)
        budget = _Budget(self.policy.timeout)
        lines: list[Line] = []
        for api in targets:
            skipped = skipped_line(cred, api)
            lines.append(skipped or workers.submit(partial(self._line, wire, cred, api, budget)))
        return cred, lines

    def _finish(self, cred: HeldCredential, lines: list[Line]) -> list[CheckResult]:
        results = [line.result() if isinstance(line, _Pending) else line for line in lines]
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
