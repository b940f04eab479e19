"""``alpaca-tui doctor [--json]``: which secret backend is in use, why, and how to fix problems.

Reports the home directory and index, the backend in use and why it was chosen, every
backend considered (the OS keyring: which ``keyring`` backend class, viable or the
exact rejection reason of each candidate; the encrypted file: path, whether it exists,
where its passphrase would come from), file permissions, and copy-paste fixes.
Doctor never prompts and never needs the passphrase; if ``ALPACA_TUI_PASSPHRASE_FILE``
is set and the encrypted file exists it checks that the file unlocks it. The OS keyring
probe is bounded by a 3 s timeout.

Consistency: when the secrets can be read without a prompt (the OS keyring, or the
encrypted file with ``ALPACA_TUI_PASSPHRASE_FILE``), every profile's
index entry is compared with its secret bundle. An entry left behind by a process killed
in the middle of a rotation (bundle written, index not yet) is repaired from the bundle —
the bundle is what authenticates — and reported; no secret is ever dropped. A profile
whose secret is missing or unreadable is reported with a fix. Secrets kept in the
encrypted file for a name that has no profile (an add that was interrupted) are listed.

Exit codes: 0 a usable secret backend exists for this home; 1 otherwise (forced backend
unavailable, the home's recorded backend unavailable, corrupted index, unreadable or
wrong passphrase file, corrupted secrets file, a profile whose secret is missing or
malformed); 2 usage error.

JSON (``--json``; stable, keys only ever added)::

    {"ok": bool,
     "home": str, "home_exists": bool,
     "index": {"path": str, "exists": bool, "profiles": int | null,
               "recorded_backend": "system" | "file" | null, "error": str | null},
     "backend": {"kind": "system" | "file", "label": str} | null,    # the one in use
     "error": str | null,                                            # why none could be used
     "selection_notes": [str],
     "backends": [
       {"kind": "system", "viable": bool, "reason": str, "keyring_backend": str | null,
        "service": str,
        "candidates": [{"name": str, "viable": bool, "priority": float | null, "reason": str}]},
       {"kind": "file", "path": str, "exists": bool, "usable": bool, "reason": str,
        "passphrase_source": "ALPACA_TUI_PASSPHRASE_FILE" | "prompt" | null,
        "passphrase_file": str | null, "passphrase_ok": bool | null,
        "session_agent": {"running": bool, "pid": int | null, "expires_at": ISO-8601 | null}}],
     "consistency": {"checked": bool, "reason": str,             # why not checked, or what was
                     "profiles": int, "repaired": [str],         # one note per repaired profile
                     "errors": [str], "orphans": [str]},         # names with a secret, no profile
     "permissions": [{"path": str, "exists": bool, "mode": "0600" | null, "expected": "0600",
                      "ok": bool}],
     "environment": {"ALPACA_TUI_HOME": str | null, "ALPACA_TUI_KEYRING": str | null,
                     "ALPACA_TUI_PASSPHRASE_FILE": str | null, "PYTHON_KEYRING_BACKEND": str | null,
                     "DBUS_SESSION_BUS_ADDRESS": str | null},
     "fixes": [str]}
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK

ENV_VARS = ("ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "ALPACA_TUI_PASSPHRASE_FILE", "PYTHON_KEYRING_BACKEND",
            "DBUS_SESSION_BUS_ADDRESS")
DBUS_FIX = ("dbus-run-session -- sh -c 'printf \"\\n\" | gnome-keyring-daemon --unlock --components=secrets; "
            "alpaca-tui ...'")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("doctor", help="diagnose the secret store (backend, permissions, fixes)",
                              description="Explain which secret backend is used and why; suggest fixes.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _perm(path: Path, expected: int) -> dict[str, Any]:
    from alpaca_tui.core.store.fsutil import file_mode

    mode = file_mode(path)
    return {"path": str(path), "exists": mode is not None,
            "mode": f"{mode:04o}" if mode is not None else None, "expected": f"{expected:04o}",
            "ok": mode is None or not (mode & 0o077)}


def collect() -> tuple[dict[str, Any], int]:
    from alpaca_tui.cli.common import have_tty
    from alpaca_tui.core.errors import AlpacaTuiError, WrongPassphraseError
    from alpaca_tui.core.store import (
        INDEX_NAME,
        PASSPHRASE_FILE_ENV,
        SECRETS_NAME,
        FileBackend,
        Store,
        default_home,
        probe_keyring_detail,
        service_name,
    )
    from alpaca_tui.core.store.fsutil import HomeLock
    from alpaca_tui.core.store.index import read_index

    fixes: list[str] = []
    ok = True
    home = default_home().expanduser().absolute()
    index_path = home / INDEX_NAME
    secrets_path = home / SECRETS_NAME

    # Index
    index: dict[str, Any] = {"path": str(index_path), "exists": index_path.exists(), "profiles": None,
                             "recorded_backend": None, "error": None}
    try:
        doc = read_index(index_path)
        index["profiles"] = len(doc.profiles)
        index["recorded_backend"] = doc.backend if doc.profiles else None
    except AlpacaTuiError as exc:
        index["error"] = exc.message
        ok = False
        fixes.append(f"repair or move aside the corrupted index: mv {shlex.quote(str(index_path))} "
                     f"{shlex.quote(str(index_path))}.bad (the profiles' secrets stay in the secret store)")

    # OS keyring
    probe = probe_keyring_detail()
    system: dict[str, Any] = {"kind": "system", **probe.as_dict(), "service": service_name(home)}

    # Encrypted file
    pass_env = os.environ.get(PASSPHRASE_FILE_ENV) or None
    file_info: dict[str, Any] = {"kind": "file", "path": str(secrets_path), "exists": secrets_path.exists(),
                                 "usable": True, "reason": "", "passphrase_source": None,
                                 "passphrase_file": pass_env, "passphrase_ok": None}
    if pass_env:
        file_info["passphrase_source"] = PASSPHRASE_FILE_ENV
    elif have_tty():
        file_info["passphrase_source"] = "prompt"
    from alpaca_tui.core.clock import utc_from_ts
    from alpaca_tui.core.store import agent

    agent_st = agent.status(home)
    file_info["session_agent"] = {
        "running": agent_st is not None, "pid": agent_st.pid if agent_st else None,
        "expires_at": utc_from_ts(agent_st.expires_at).isoformat() if agent_st else None}
    fb = FileBackend(secrets_path, HomeLock(home))
    if pass_env:
        try:
            if file_info["exists"]:
                fb.read_all()  # decrypts with the passphrase file: never prompts
                file_info["passphrase_ok"] = True
                file_info["reason"] = f"{PASSPHRASE_FILE_ENV} unlocks the file"
            else:
                from alpaca_tui.core.store.filecrypt import read_passphrase_file

                read_passphrase_file(pass_env)
                file_info["reason"] = f"will be created on first add; passphrase from {PASSPHRASE_FILE_ENV}"
        except WrongPassphraseError as exc:
            file_info.update(usable=False, passphrase_ok=False, reason=exc.message)
        except AlpacaTuiError as exc:
            file_info.update(usable=False, reason=exc.message)
    elif file_info["passphrase_source"] == "prompt":
        file_info["reason"] = ("exists; the passphrase is asked on the terminal once per process"
                               if file_info["exists"] else
                               "will be created on first add; the passphrase is asked on the terminal")
    elif agent_st is not None:
        file_info["reason"] = "unlocked for this session by `alpaca-tui unlock`"
    else:
        file_info["reason"] = (f"locked: no terminal and {PASSPHRASE_FILE_ENV} is unset, so scripts cannot "
                               "unlock it (or run `alpaca-tui unlock` once per session)")

    # Selection, exactly as the commands would do it (no passphrase needed)
    backend: dict[str, str] | None = None
    error: str | None = None
    notes: list[str] = []
    store: Store | None = None
    try:
        store = Store.open(home, keyring_probe=probe)
        backend = {"kind": store.backend_kind, "label": store.backend_label}
        notes = list(store.selection_notes)
    except AlpacaTuiError as exc:
        error = exc.message
        ok = False

    if backend is not None and backend["kind"] == "file" and not file_info["usable"]:
        ok = False

    consistency = _consistency(store, index, usable=ok)
    if consistency["errors"]:
        ok = False
    for name in consistency["broken"]:
        fixes.append(f"the secret of profile {name!r} is lost: alpaca-tui profiles remove "
                     f"{shlex.quote(name)} and add it again with a new secret")
    for name in consistency["orphans"]:
        fixes.append(f"a secret is stored for {name!r} but there is no such profile (an interrupted add): "
                     f"add the profile again (alpaca-tui profiles add {shlex.quote(name)} ...) to replace it")
    del consistency["broken"]

    # Permissions
    perms = [_perm(home, 0o700), _perm(index_path, 0o600), _perm(secrets_path, 0o600),
             _perm(home / ".lock", 0o600)]
    if pass_env:
        perms.append(_perm(Path(pass_env).expanduser(), 0o600))
    for p in perms:
        if not p["ok"]:
            want = "700" if p["expected"] == "0700" else "600"
            fixes.append(f"chmod {want} {shlex.quote(p['path'])}")

    # Fixes for the backends
    if not probe.viable:
        if sys.platform.startswith("linux"):
            fixes.append("to use the OS keyring, run inside a D-Bus session with an unlocked keyring: "
                         + DBUS_FIX)
        if not (backend and backend["kind"] == "file"):
            fixes.append("or use the encrypted file: export ALPACA_TUI_KEYRING=file")
    wants_file = (backend is not None and backend["kind"] == "file") or not probe.viable
    if wants_file and not pass_env:
        fixes.append("for scripts, keep the passphrase in a private file: "
                     "install -m 600 /dev/null ~/.alpaca-tui-passphrase && "
                     "$EDITOR ~/.alpaca-tui-passphrase && "
                     "export ALPACA_TUI_PASSPHRASE_FILE=~/.alpaca-tui-passphrase")
    if file_info["passphrase_ok"] is False:
        fixes.append(f"{PASSPHRASE_FILE_ENV} does not unlock {secrets_path}: put the right passphrase on its "
                     "first line")
    if error and "ALPACA_TUI_KEYRING" in error:
        fixes.append("unset ALPACA_TUI_KEYRING to use the backend this home already uses")

    report: dict[str, Any] = {
        "ok": ok and backend is not None,
        "home": str(home),
        "home_exists": home.exists(),
        "index": index,
        "backend": backend,
        "error": error,
        "selection_notes": notes,
        "backends": [system, file_info],
        "permissions": perms,
        "consistency": consistency,
        "environment": {k: (os.environ.get(k) or None) for k in ENV_VARS},
        "fixes": fixes,
    }
    return report, (EXIT_OK if report["ok"] else EXIT_FAILURE)


def _consistency(store: Any, index: dict[str, Any], *, usable: bool) -> dict[str, Any]:
    """Compare every profile's index entry with its secret bundle; repair what a killed
    rotation left behind (see :meth:`Store.load`). Only when that needs no prompt."""
    from alpaca_tui.core.errors import AlpacaTuiError, NotFoundError
    from alpaca_tui.core.store.store import SecretLostError

    out: dict[str, Any] = {"checked": False, "reason": "", "profiles": 0, "repaired": [], "errors": [],
                           "orphans": [], "broken": []}
    if store is None or not usable or index["error"]:
        out["reason"] = "not checked: the secret store cannot be opened"
        return out
    if not index["profiles"] and (store.backend_kind == "system" or not store.secrets_path.exists()):
        out.update(checked=True, reason="no profiles yet")
        return out
    try:
        locked = store.needs_unlock()
    except AlpacaTuiError:
        locked = True
    if locked:
        out["reason"] = ("not checked: the encrypted file is locked (doctor never prompts; set "
                         "ALPACA_TUI_PASSPHRASE_FILE to let it read the secrets)")
        return out
    names = [p.name for p in store.list_profiles()]
    for name in names:
        try:
            store.load(name)
        except NotFoundError:
            continue  # removed meanwhile
        except SecretLostError as exc:
            out["errors"].append(exc.message)
            out["broken"].append(name)
        except AlpacaTuiError as exc:
            out["errors"].append(exc.message)
    try:
        stored = store.secret_names()
    except AlpacaTuiError as exc:
        out["errors"].append(exc.message)
    else:
        known = {p.name for p in store.list_profiles()}
        out["orphans"] = [n for n in stored or [] if n not in known]
    out.update(checked=True, profiles=len(names), repaired=list(store.repair_notes))
    n = len(out["repaired"])
    out["reason"] = (f"repaired {n} profile(s) from their secrets" if n else
                     f"{len(names)} profile(s) agree with their secrets")
    if out["errors"]:
        out["reason"] += f"; {len(out['errors'])} problem(s)"
    return out


def _print_human(r: dict[str, Any]) -> None:
    def mark(good: bool) -> str:
        return "✓" if good else "✗"

    system, file_info = r["backends"]
    idx = r["index"]
    print(f"home            {r['home']}{'' if r['home_exists'] else ' (not created yet)'}")
    if idx["error"]:
        print(f"index           ✗ {idx['error']}")
    else:
        state = f"{idx['profiles']} profile(s)" if idx["exists"] else "not created yet"
        print(f"index           {idx['path']}: {state}")
    if r["backend"]:
        print(f"secret backend  ✓ {r['backend']['label']}")
    else:
        print(f"secret backend  ✗ none usable: {r['error']}")
    for note in r["selection_notes"]:
        print(f"                {note}")
    print(f"OS keyring      {mark(system['viable'])} {system['reason']}")
    if system["keyring_backend"]:
        print(f"                keyring backend: {system['keyring_backend']}; service {system['service']}")
    for c in system["candidates"]:
        print(f"                - {c['name']}: {c['reason']}")
    exists = "exists" if file_info["exists"] else "not created yet"
    print(f"encrypted file  {mark(file_info['usable'])} {file_info['path']} ({exists})")
    if file_info["reason"]:
        print(f"                {file_info['reason']}")
    ag = file_info["session_agent"]
    if ag["running"]:
        until = ag["expires_at"][:16].replace("T", " ")
        print(f"session agent   ✓ running (pid {ag['pid']}) until {until} UTC; `alpaca-tui lock` ends it")
    elif file_info["exists"]:
        print("session agent   – not running (`alpaca-tui unlock` asks for the passphrase once per session)")
    bad = [p for p in r["permissions"] if not p["ok"]]
    if bad:
        for p in bad:
            print(f"permissions     ✗ {p['path']} is {p['mode']}, expected {p['expected']}")
    else:
        print("permissions     ✓ home 0700, files 0600 (or not created yet)")
    c = r["consistency"]
    good = c["checked"] and not c["errors"] and not c["orphans"]
    print(f"consistency     {mark(good) if c['checked'] else '–'} {c['reason']}")
    for note in c["repaired"]:
        print(f"                repaired: {note}")
    for err in c["errors"]:
        print(f"                ✗ {err}")
    if c["orphans"]:
        print(f"                secrets without a profile: {', '.join(c['orphans'])}")
    if r["fixes"]:
        print("fixes:")
        for f in r["fixes"]:
            print(f"  {f}")
    print("status: ok" if r["ok"] else "status: no usable secret backend for this home")


def run(args: argparse.Namespace) -> int:
    report, code = collect()
    if args.json:
        from alpaca_tui.cli.common import print_json

        print_json(report)
    else:
        _print_human(report)
    return code
