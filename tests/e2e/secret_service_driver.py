"""Runs inside its own D-Bus session with its own gnome-keyring (tests/e2e/private_keyring.py) and
records how alpaca-tui's Secret Service client (core/store/secretservice.py) behaves there. Not a
test module itself: ``python -m tests.e2e.secret_service_driver alias|clients ... OUT.json``.

* ``alias``: the session's default alias is pointed at gnome-keyring's in-memory ``session``
  collection (Secret Service ``SetAlias``): the store's entries must follow it there.
* ``no-default``: a keyring with no collection at all (started without a password) and no
  display: ``profiles add`` into the OS keyring must fail at once, in one line; doctor says why.
* ``clients WAY WORKERS ROUNDS``: WORKERS processes at once, each ROUNDS times writing, reading
  and deleting its own entries, every call a new D-Bus client, WAY being ``ours``
  (DirectSecretService) or ``keyring`` (keyring's own SecretService backend, which addresses the
  default collection by its alias path). Counts every error and wrong answer, and whether the
  daemon survived (the PID owning org.freedesktop.secrets before and after).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SESSION = "/org/freedesktop/secrets/collection/session"
LOGIN = "/org/freedesktop/secrets/collection/login"
WORKER_DEADLINE = 60.0  # seconds for all workers together
CHURN = 2  # processes making new clients meanwhile (run_churn)


def _service(conn: Any) -> Any:
    from secretstorage.defines import SS_PATH, SS_PREFIX
    from secretstorage.util import DBusAddressWrapper

    return DBusAddressWrapper(SS_PATH, SS_PREFIX + "Service", conn)


def secrets_owner() -> int | None:
    """The PID owning org.freedesktop.secrets (None: nobody: the daemon is gone)."""
    from tests.e2e.keyring_fault_driver import secrets_pid

    try:
        return secrets_pid()
    except ValueError:  # the bus answered with an error (no owner), not a PID
        return None


def labels_in(path: str, service: str) -> list[str]:
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        return sorted(i.get_attributes()["username"]
                      for i in secretstorage.Collection(conn, path).search_items({"service": service}))
    finally:
        conn.close()


def run_alias(out: Path) -> None:
    import secretstorage

    from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.store import Store

    conn = secretstorage.dbus_init()
    try:
        _service(conn).call("SetAlias", "so", "default", SESSION)
        (alias,) = _service(conn).call("ReadAlias", "s", "default")
    finally:
        conn.close()
    result: dict[str, Any] = {"alias": alias}
    store = Store.open()
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKAB…WXYZ"),
                      SecretBundle(Secret("PKABCDEFGHIJKLMNWXYZ", secret="alias-following-secret-01234")))
    service = store.secret_backend.service
    result["kind"] = store.backend_kind
    result["session_after_add"] = labels_in(SESSION, service)
    result["login_after_add"] = labels_in(LOGIN, service)
    result["read_back"] = Store.open().load_bundle("p").active.secret == "alias-following-secret-01234"
    import keyring  # keyring's own backend finds it too (through the alias path, one client at a time)

    result["keyring_reads_it"] = keyring.get_keyring().get_password(service, "p") is not None
    Store.open().remove_profile("p")
    result["session_after_remove"] = labels_in(SESSION, service)
    out.write_text(json.dumps(result))


def run_no_default(out: Path) -> None:
    """A session whose keyring has no collection yet (no login keyring; with no display the
    prompt to create one cannot be shown): `profiles add` into the OS keyring, as a user would."""
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        (alias,) = _service(conn).call("ReadAlias", "s", "default")
    finally:
        conn.close()
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "alpaca_tui", "profiles", "add", "p", "--env", "paper",
                        "--flow", "legacy", "--key-id", "PKABCDEFGHIJKLMNOPQR", "--secret-stdin"],
                       input="no-default-collection-secret-0123456789\n", capture_output=True, text=True,
                       timeout=60)
    seconds = round(time.monotonic() - start, 2)
    doctor = subprocess.run([sys.executable, "-m", "alpaca_tui", "doctor"], capture_output=True, text=True,
                            timeout=60)
    out.write_text(json.dumps({"alias": alias, "code": r.returncode, "out": r.stdout, "err": r.stderr,
                               "seconds": seconds, "doctor": doctor.stdout}))


def client(way: str) -> Any:
    if way == "ours":
        from alpaca_tui.core.store.secretservice import DirectSecretService

        return DirectSecretService()
    from keyring.backends.SecretService import Keyring

    return Keyring()  # type: ignore[no-untyped-call]


def run_worker(way: str, worker: int, rounds: int, out: Path) -> None:
    """ROUNDS times: write a new entry, read it back, overwrite it, read, delete, read (None)."""
    kr = client(way)
    service = f"alpaca-tui-clients/{worker}"
    errors: dict[str, int] = {}
    wrong = calls = 0
    for i in range(rounds):
        user = f"u{i}"
        steps = (("set", lambda: kr.set_password(service, user, f"a{i}"), None),
                 ("get", lambda: kr.get_password(service, user), f"a{i}"),
                 ("set", lambda: kr.set_password(service, user, f"b{i}"), None),
                 ("get", lambda: kr.get_password(service, user), f"b{i}"),
                 ("delete", lambda: kr.delete_password(service, user), None),
                 ("get", lambda: kr.get_password(service, user), None))
        for name, call, expect in steps:
            calls += 1
            try:
                got = call()
            except Exception as exc:
                key = f"{name}: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
                errors[key] = errors.get(key, 0) + 1
                continue
            if name == "get" and got != expect:
                wrong += 1
    out.write_text(json.dumps({"calls": calls, "errors": errors, "wrong": wrong}))


def run_churn(stop: Path) -> None:
    """New clients, one after another, until ``stop`` exists: each one's first message makes the
    daemon set a client up (and replace its alias table: see secretservice.READY_PAUSES)."""
    import secretstorage

    while not stop.exists():
        conn = secretstorage.dbus_init()
        try:
            _service(conn).call("ReadAlias", "s", "default")
        except Exception:  # noqa: S110 - the churn only has to arrive; the workers count errors
            pass
        finally:
            conn.close()


def run_clients(way: str, workers: int, rounds: int, out: Path) -> None:
    before = secrets_owner()
    stop = out.with_name("churn-stop")
    outs = [out.with_name(f"worker-{w}.json") for w in range(workers)]
    for stale in (stop, *outs):
        stale.unlink(missing_ok=True)
    churn = [subprocess.Popen([sys.executable, "-m", "tests.e2e.secret_service_driver", "churn", str(stop)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(CHURN)]
    start = time.monotonic()
    errs = [o.with_suffix(".err") for o in outs]
    procs = []
    for w, (o, e) in enumerate(zip(outs, errs, strict=True)):
        with e.open("wb") as err:  # a file, not a pipe: a worker never waits on us to read it
            procs.append(subprocess.Popen([sys.executable, "-m", "tests.e2e.secret_service_driver", "worker",
                                           way, str(w), str(rounds), str(o)],
                                          stdout=subprocess.DEVNULL, stderr=err))
    crashed: list[str] = []
    hung = 0
    deadline = start + WORKER_DEADLINE
    for p, e in zip(procs, errs, strict=True):
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:  # e.g. waiting on a daemon that D-Bus re-activated locked
            p.kill()
            p.wait()
            hung += 1
            crashed.append("hung: " + e.read_text("utf-8", "replace")[-800:])
            continue
        if p.returncode != 0:
            crashed.append(e.read_text("utf-8", "replace")[-800:])
    stop.touch()
    for c in churn:
        try:
            c.wait(timeout=10)
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
    results = [json.loads(o.read_text()) for o in outs if o.exists()]
    errors: dict[str, int] = {}
    for r in results:
        for k, n in r["errors"].items():
            errors[k] = errors.get(k, 0) + n
    out.write_text(json.dumps({
        "way": way, "seconds": round(time.monotonic() - start, 2),
        "calls": sum(r["calls"] for r in results), "errors": errors,
        "wrong": sum(r["wrong"] for r in results), "workers_failed": crashed, "workers_hung": hung,
        "daemon_before": before, "daemon_after": secrets_owner(),
    }))


def main() -> int:
    what = sys.argv[1]
    if what == "alias":
        run_alias(Path(sys.argv[2]))
    elif what == "no-default":
        run_no_default(Path(sys.argv[2]))
    elif what == "clients":
        run_clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
    elif what == "churn":
        run_churn(Path(sys.argv[2]))
    elif what == "worker":
        run_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
    else:
        raise SystemExit(f"unknown driver {what!r}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ALPACA_TUI_NO_DEMO_OFFER", "1")
    raise SystemExit(main())
