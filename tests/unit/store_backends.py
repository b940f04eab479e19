"""Every IndexBackend and SecretBackend implementation, opened by name, for the conformance
suite (tests/unit/test_store_protocols.py) and its worker processes.

A new backend joins the suite with one entry in INDEX_BACKENDS or SECRET_BACKENDS (and one
``pytest.param`` in the suite's fixture params). Worker (a separate process, cwd = repo):

    python -m tests.unit.store_backends index KIND HOME WORKER COUNT
    python -m tests.unit.store_backends secrets KIND HOME WORKER COUNT
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.store import (
    Edit,
    FileIndex,
    IndexBackend,
    IndexDoc,
    OpenContext,
    Reason,
    SecretBackend,
    backend_spec,
)
from alpaca_tui.core.store.fsutil import HomeLock
from tests.conftest import TEST_PASSPHRASE

COUNTER = "counter"


def _registered_secrets(kind: str) -> Callable[[Path], SecretBackend]:
    """The secret half of the registered backend ``kind``, opened as Store.open would."""
    def open_(home: Path) -> SecretBackend:
        ctx = OpenContext(home, HomeLock(home), passphrase=TEST_PASSPHRASE)
        return backend_spec(kind).open(ctx, Reason("the conformance suite", 0, pinned=False)).secrets
    return open_


INDEX_BACKENDS: dict[str, Callable[[Path], IndexBackend]] = {
    "file": lambda home: FileIndex(home, HomeLock(home)),
}
SECRET_BACKENDS: dict[str, Callable[[Path], SecretBackend]] = {
    "file": _registered_secrets("file"),
    "system": _registered_secrets("system"),
}


def profile(name: str, note: str | None = None) -> Profile:
    return Profile(name, Env.PAPER, Flow.LEGACY, "PKCO…0001", note=note)


def bump(worker: int, k: int) -> Callable[[IndexDoc], Edit[int]]:
    """One read-modify-write: add this step's own profile and increment the shared counter."""
    def step(doc: IndexDoc) -> Edit[int]:
        counter = doc.profiles.get(COUNTER)
        value = int(counter.note or "0") + 1 if counter is not None else 1
        doc.profiles[COUNTER] = profile(COUNTER, note=str(value))
        doc.profiles[f"w{worker:02d}-{k:03d}"] = profile(f"w{worker:02d}-{k:03d}")
        return Edit(value)
    return step


def run_index_worker(kind: str, home: Path, worker: int, count: int) -> None:
    index = INDEX_BACKENDS[kind](home)
    for k in range(count):
        index.update(bump(worker, k))


def run_secrets_worker(kind: str, home: Path, worker: int, count: int) -> None:
    secrets = SECRET_BACKENDS[kind](home)
    for k in range(count):
        name = f"w{worker:02d}-{k:03d}"
        secrets.prepare()
        secrets.put_bundle(name, f"bundle {name}", new=True)
        secrets.put_token(name, f"token {name}")


def main(argv: list[str]) -> int:
    what, kind, home, worker, count = argv
    run = run_index_worker if what == "index" else run_secrets_worker
    run(kind, Path(home), int(worker), int(count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
