"""Runs inside its own D-Bus session with its own gnome-keyring (see test_keyring_faults.py),
breaks that keyring mid-session and records what alpaca-tui does. Not a test module itself:
``python -m tests.e2e.keyring_fault_driver cli|tui OUT.json``.

Faults, all on the REAL Secret Service of this private session (never the caller's):

* ``lock``: the login collection is locked (secretstorage ``Collection.lock``); with no
  prompter (no display) every read/write is refused at once.
* ``kill``: the keyring daemon is killed (SIGKILL, by the PID D-Bus reports for
  ``org.freedesktop.secrets``); D-Bus re-activates a fresh daemon whose keyring is locked.
* ``stop``: the daemon is frozen (SIGSTOP): calls hang, and only our timeouts end them.

After each fault the keyring is restored (``gnome-keyring-daemon --replace --unlock``) and
the stored data is read back. Results go to OUT.json for the test to assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

KEYRING_DAEMON = "gnome-keyring-daemon"


def secrets_pid() -> int:
    """PID of the process owning org.freedesktop.secrets on this session bus."""
    import secretstorage
    from jeepney import DBusAddress, new_method_call

    conn = secretstorage.dbus_init()
    try:
        bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                          interface="org.freedesktop.DBus")
        msg = new_method_call(bus, "GetConnectionUnixProcessID", "s", ("org.freedesktop.secrets",))
        return int(conn.send_and_get_reply(msg, timeout=5).body[0])
    finally:
        conn.close()


def lock_collection() -> None:
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        coll = secretstorage.get_default_collection(conn)
        coll.lock()
        assert coll.is_locked()
    finally:
        conn.close()


def _unlocked_daemon_up() -> bool:
    """Whether the Secret Service is on the bus with its collection unlocked. Never a call that
    can prompt (keyring's get_password unlocks a locked collection: with no display that prompt
    never ends); a new connection each time."""
    import secretstorage

    try:
        secrets_pid()
        conn = secretstorage.dbus_init()
        try:
            return not secretstorage.get_default_collection(conn).is_locked()
        finally:
            conn.close()
    except Exception:
        return False


def restore_keyring() -> None:
    """A fresh, unlocked daemon on the same on-disk keyring (empty login password). A locked
    daemon D-Bus re-activated after a kill is ended first: ``--replace`` finds the daemon to
    replace by its control socket, and the re-activated one's is the killed daemon's stale file,
    so it started a second daemon beside the locked one, which kept the bus name (a CI run under
    load failed all four attempts that way). Nothing else calls the service meanwhile, so nothing
    re-activates a locked one between the kill and the fresh daemon."""
    for _attempt in range(4):
        if _unlocked_daemon_up():
            return
        with contextlib.suppress(Exception):  # no daemon on the bus: nothing to end
            os.kill(secrets_pid(), signal.SIGKILL)
            time.sleep(0.2)  # the bus sees it gone
        subprocess.run([KEYRING_DAEMON, "--replace", "--unlock", "--components=secrets"], input=b"\n",
                       capture_output=True, timeout=20, check=True)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            if _unlocked_daemon_up():
                return
            time.sleep(0.1)
    raise RuntimeError("the keyring did not come back")


def inject(mode: str) -> int | None:
    """Break the keyring; returns the PID of a frozen daemon (stop mode) to clean up."""
    if mode == "lock":
        lock_collection()
        return None
    pid = secrets_pid()
    if mode == "kill":
        os.kill(pid, signal.SIGKILL)
        return None
    if mode == "stop":
        os.kill(pid, signal.SIGSTOP)
        return pid
    raise ValueError(mode)


def undo(pid: int | None) -> None:
    if pid is not None:  # the frozen daemon we stopped: end it (by its id), then a fresh one
        os.kill(pid, signal.SIGKILL)  # SIGKILL also ends a stopped process
    restore_keyring()


def cli(*args: str, stdin: str = "") -> dict[str, Any]:
    """``alpaca-tui ARGS`` in this process: exit code, stdout, stderr, seconds."""
    from alpaca_tui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    t0 = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
    return {"args": list(args), "code": code, "out": out.getvalue(), "err": err.getvalue(),
            "seconds": round(time.monotonic() - t0, 3)}


def cli_process(*args: str) -> dict[str, Any]:
    """``alpaca-tui ARGS`` as a real child process (its own interpreter and exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "alpaca_tui", *args], capture_output=True, text=True,
                       env=env, stdin=subprocess.DEVNULL, timeout=60)
    return {"args": list(args), "code": r.returncode, "out": r.stdout, "err": r.stderr,
            "seconds": round(time.monotonic() - t0, 3)}


def seed(emu: Any) -> tuple[Any, dict[str, Any]]:
    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.store import Store
    from tests.emulator_fixtures import make_profile

    store = Store.open()
    assert store.backend_kind == "system", store.selection_notes
    bundles = {}
    for name, env, flow in (("bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET),
                            ("paper", Env.PAPER, Flow.LEGACY)):
        _profile, bundle = make_profile(emu, store, env, flow, name=name)
        bundles[name] = bundle.to_dict()
    return store, bundles


PAPER_KEY = "PKFAULT0000000000001"
PAPER_SECRET = "s" * 40


def run_cli_faults(out: Path) -> None:
    from alpaca_tui.core.store import Store
    from alpaca_tui.emulator import Emulator

    result: dict[str, Any] = {"modes": {}}
    with Emulator() as emu:
        store, bundles = seed(emu)
        index = store.index_path
        result["before"] = cli("check", "bx")
        for mode in ("lock", "kill", "stop"):
            snapshot = index.read_bytes()
            pid = inject(mode)
            # read (check, token), write (add) and delete (remove); a frozen daemon costs a
            # timeout per call, so that case skips the second read
            runs = [cli("check", "bx")]
            if mode != "stop":
                runs.append(cli("token", "bx", "--no-cache"))
            runs.append(cli("profiles", "add", "new", "--env", "paper", "--flow", "legacy", "--key-id",
                            PAPER_KEY, "--secret-stdin", stdin=PAPER_SECRET))
            if mode != "kill":
                runs.append(cli("profiles", "remove", "paper", "--yes"))
            if mode == "stop":
                runs.append(cli_process("check", "bx"))
            index_same = index.read_bytes() == snapshot
            undo(pid)
            fresh = Store.open()
            intact = {n: fresh.load_bundle(n).to_dict() == b for n, b in bundles.items()}
            result["modes"][mode] = {"runs": runs, "index_unchanged": index_same, "secrets_intact": intact,
                                     "profiles": [p.name for p in fresh.list_profiles()]}
        result["after"] = cli("check", "bx")
    out.write_text(json.dumps(result, indent=1))


def run_tui_faults(out: Path) -> None:
    """The TUI on the real keyring: lock it while the app runs, then use the keyring from
    workers (engine loading the secret for the token panel, reveal, check)."""
    from alpaca_tui.emulator import Emulator

    with Emulator() as emu:
        store, _bundles = seed(emu)
        result = asyncio.run(_tui(store))
    out.write_text(json.dumps(result, indent=1))


async def _tui(store: Any) -> dict[str, Any]:
    from alpaca_tui.tui.app import AlpacaTuiApp
    from alpaca_tui.tui.screens.details import DetailsScreen
    from alpaca_tui.tui.widgets.token_panel import TokenPanel
    from tests.tui.conftest import screen_text, wait_for

    result: dict[str, Any] = {}
    app = AlpacaTuiApp(store=store, offer_demo=False)
    notes: list[dict[str, str]] = []
    original = app.notify

    def notify(message: str, *args: Any, **kw: Any) -> None:
        notes.append({"title": str(kw.get("title", "")), "message": str(message),
                      "severity": str(kw.get("severity", ""))})
        original(message, *args, **kw)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
        lock_collection()  # mid-session: the store is open, the engine has loaded nothing yet
        app.open_details("bx")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        panel = app.screen.query_one(TokenPanel)
        await wait_for(pilot, lambda: "OS keyring" in screen_text(app), what="panel error")
        result["panel_text"] = screen_text(app)
        await pilot.press("v")
        await wait_for(pilot, lambda: any("reveal" in n["title"] for n in notes), what="reveal error")
        await pilot.press("c")
        await wait_for(pilot, lambda: any("check" in n["title"] for n in notes), what="check result")
        result["notes_locked"] = list(notes)
        result["still_running"] = app.is_running and isinstance(app.screen, DetailsScreen)
        result["secret_shown"] = app.screen.revealed is not None
        restore_keyring()
        await pilot.press("f")  # the same session recovers once the keyring is back
        await wait_for(pilot, lambda: panel.remaining() is not None, what="token after restore")
        await wait_for(pilot, lambda: "last error none" in screen_text(app), what="error cleared")
        result["panel_text_after"] = screen_text(app)
    return result


def main() -> int:
    what, out = sys.argv[1], Path(sys.argv[2])
    if what == "cli":
        run_cli_faults(out)
    elif what == "tui":
        run_tui_faults(out)
    else:
        raise SystemExit(f"unknown driver {what!r}")
    with contextlib.suppress(Exception):  # end this session's keyring daemon (ours) by its id
        os.kill(secrets_pid(), signal.SIGTERM)
    return 0


if __name__ == "__main__":
    import faulthandler

    faulthandler.dump_traceback_later(100, exit=True)  # a hang shows its stacks before the test gives up
    raise SystemExit(main())
