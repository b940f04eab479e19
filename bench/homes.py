"""Stores for the benchmarks: a real alpaca-tui home with N profiles in either built-in backend.

Filled through the store's own seams in two writes (all bundles, then the index, in one
transaction each), so a 500-profile home takes a second instead of 500 transactions. The
result is an ordinary home: ``alpaca-tui`` and every command open it as they would any other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alpaca_tui.core.clock import SYSTEM_CLOCK  # noqa: E402
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle  # noqa: E402
from alpaca_tui.core.environments import Env  # noqa: E402
from alpaca_tui.core.redact import mask  # noqa: E402
from alpaca_tui.core.scopes import AccessMatrix  # noqa: E402
from alpaca_tui.core.store import Edit, FileBackend, Store  # noqa: E402
from alpaca_tui.core.store.store import bundle_payload  # noqa: E402

PASSPHRASE = "bench passphrase"


def keyring_available() -> tuple[bool, str]:
    from alpaca_tui.core.store import probe_system_keyring

    return probe_system_keyring()


def fill(home: Path, n: int, backend: str) -> Store:
    """A home with profiles p000.. (legacy keys, the four environments in turn)."""
    store = Store.open(home, backend=backend, passphrase=PASSPHRASE)
    envs = list(Env)
    items = []
    for i in range(n):
        key_id = f"PK{i:018d}"
        items.append((Profile(name=f"p{i:03d}", env=envs[i % len(envs)], flow=Flow.LEGACY,
                              key_id_masked=mask(key_id), access=AccessMatrix.read_only(),
                              created_at=SYSTEM_CLOCK.now()),
                      SecretBundle(active=Secret(key_id=key_id, secret=f"s{i:039d}"))))
    secrets = store.secret_backend
    secrets.prepare()
    if isinstance(secrets, FileBackend):
        secrets.update({p.name: bundle_payload(b) for p, b in items})  # one encrypted write
    else:
        for p, b in items:
            secrets.put_bundle(p.name, bundle_payload(b), new=True)

    def step(doc):  # type: ignore[no-untyped-def]
        doc.profiles.update({p.name: p for p, _ in items})
        doc.backend = store.backend_kind
        return Edit(None)

    store.index_backend.update(step)
    return store


def forget(store: Store) -> None:
    """Take every profile's secrets out of the store's backend again (the OS keyring)."""
    for name in [p.name for p in store.list_profiles()]:
        store.secret_backend.purge(name)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without test or bench leftovers, bytecode cached (like an installed package)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALPACA_TUI_", "PYTEST_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


@contextmanager
def unlocked(home: Path, env: dict[str, str], passfile: Path) -> Iterator[None]:
    """``alpaca-tui unlock`` for the duration (the session agent holds the file store's key)."""
    run = [sys.executable, "-m", "alpaca_tui"]
    cmd_env = env | {"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_PASSPHRASE_FILE": str(passfile)}
    subprocess.run([*run, "unlock", "--for", "30m"], env=cmd_env, check=True, capture_output=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run([*run, "lock"], env=cmd_env, capture_output=True, timeout=60)
