"""The checks ``alpaca-tui doctor`` runs (:data:`CHECKS`), each returning a :class:`Row`.

A check gets the shared :class:`Facts` (the home, the passphrase file, the rows before it) and
returns one row: the report keys it sets (or the backend it describes, for the report's
``backends`` list), whether the home is still usable (``ok``), its fixes, and its lines for the
human output. Checks never prompt and never write, except the consistency check's repair of an
index entry from its secret bundle (:meth:`Store.load`). A new secret backend adds its check to
:data:`CHECKS` (and, to place its human lines, its name to :data:`DISPLAY`).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_VARS = ("ALPACA_TUI_HOME", "ALPACA_TUI_KEYRING", "ALPACA_TUI_PASSPHRASE_FILE", "PYTHON_KEYRING_BACKEND",
            "DBUS_SESSION_BUS_ADDRESS")
DBUS_FIX = ("dbus-run-session -- sh -c 'printf \"\\n\" | gnome-keyring-daemon --unlock --components=secrets; "
            "alpaca-tui ...'")
PASSPHRASE_FILE_FIX = ("for scripts, keep the passphrase in a private file: "
                       "install -m 600 /dev/null ~/.alpaca-tui-passphrase && "
                       "$EDITOR ~/.alpaca-tui-passphrase && "
                       "export ALPACA_TUI_PASSPHRASE_FILE=~/.alpaca-tui-passphrase")


@dataclass
class Row:
    """One check's result."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)   # report keys this check sets
    backend: dict[str, Any] | None = None                  # a backend considered ("backends")
    ok: bool = True                   # False: no usable secret backend for this home (exit 1)
    fixes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)         # human output


@dataclass
class Facts:
    """What the checks share: the home, the passphrase file, and the rows so far."""

    home: Path
    pass_env: str | None
    rows: dict[str, Row] = field(default_factory=dict)
    probe: Any = None        # the OS keyring probe (core.store.probe_keyring_detail)
    store: Any = None        # the Store as the commands would open it, or None

    @property
    def index_path(self) -> Path:
        from alpaca_tui.core.store import INDEX_NAME

        return self.home / INDEX_NAME

    @property
    def secrets_path(self) -> Path:
        from alpaca_tui.core.store import SECRETS_NAME

        return self.home / SECRETS_NAME

    def value(self, row: str, key: str) -> Any:
        """``key`` of an earlier row's backend description, or of its report fields."""
        r = self.rows[row]
        return (r.backend if r.backend is not None else r.fields)[key]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows.values())


def _line(label: str, text: str) -> str:
    return f"{label:<16}{text}"


def _mark(good: bool) -> str:
    return "✓" if good else "✗"


# -- the checks --------------------------------------------------------------------------------
def check_home(f: Facts) -> Row:
    """The home, and whether alpaca-tui may use it (ours, nobody else can change it or a parent)."""
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.safefile import check_home as strict_modes

    exists = f.home.exists()
    row = Row("home", {"home": str(f.home), "home_exists": exists},
              lines=[_line("home", f"{f.home}{'' if exists else ' (not created yet)'}")])
    try:
        strict_modes(f.home)
    except AlpacaTuiError as exc:
        what, _, fix = exc.message.partition("; fix: ")
        row.ok = False
        row.lines.append(_line("", f"✗ {what}"))
        row.fixes.append(fix or what)
    return row


def check_index(f: Facts) -> Row:
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.index import read_index

    path = f.index_path
    index: dict[str, Any] = {"path": str(path), "exists": path.exists(), "profiles": None,
                             "recorded_backend": None, "error": None}
    row = Row("index", {"index": index})
    try:
        doc = read_index(path)
        index["profiles"] = len(doc.profiles)
        index["recorded_backend"] = doc.backend if doc.profiles else None
    except AlpacaTuiError as exc:
        index["error"] = exc.message
        row.ok = False
        row.fixes.append(f"repair or move aside the corrupted index: mv {shlex.quote(str(path))} "
                         f"{shlex.quote(str(path))}.bad (the profiles' secrets stay in the secret store)")
        row.lines.append(_line("index", f"✗ {exc.message}"))
        return row
    state = f"{index['profiles']} profile(s)" if index["exists"] else "not created yet"
    row.lines.append(_line("index", f"{path}: {state}"))
    return row


def _keyring_choice(f: Facts) -> dict[str, Any]:
    """keyring's choice as recorded for the short way (core/store/secretservice.py) vs its
    choice now; the record is rewritten to keyring's when the home already uses the keyring."""
    from alpaca_tui.core.store.secretservice import recorded_choice, remember

    recorded = recorded_choice(f.home)
    if f.probe.viable and (recorded is not None or (f.home / "index.json").exists()):
        remember(f.home, f.probe.backend)
    return {"recorded": recorded, "agrees": None if recorded is None else recorded == f.probe.backend}


def _default_collection() -> dict[str, Any]:
    from alpaca_tui.core.store.secretservice import default_collection
    from alpaca_tui.core.store.system import keyring_timeout

    try:
        return default_collection(keyring_timeout())
    except Exception as exc:  # reported in its line: doctor never fails on what it diagnoses
        return {"path": None, "locked": None, "error": " ".join(str(exc).split()) or type(exc).__name__}


def _collection_line(c: dict[str, Any]) -> str:
    if c.get("error"):
        return f"✗ default collection: {c['error']}"
    if c["path"] is None:
        return ("✗ no default collection (no login keyring, or none set as default): unlock or create "
                "one, e.g. printf '\\n' | gnome-keyring-daemon --unlock --components=secrets")
    state = "locked" if c["locked"] else "unlocked"
    return f"{_mark(not c['locked'])} default collection {c['path']} ({state})"


def check_keyring(f: Facts) -> Row:
    from alpaca_tui.core.store import probe_keyring_detail, service_name

    f.probe = probe_keyring_detail()
    system: dict[str, Any] = {"kind": "system", **f.probe.as_dict(), "service": service_name(f.home),
                              "keyring_choice": _keyring_choice(f)}
    lines = [_line("OS keyring", f"{_mark(system['viable'])} {system['reason']}")]
    choice = system["keyring_choice"]
    if choice["recorded"] is not None:
        lines.append(_line("", f"{_mark(choice['agrees'])} recorded choice {choice['recorded']} "
                               + ("agrees with keyring's" if choice["agrees"] else
                                  f"did not agree with keyring's {f.probe.backend} (record updated)")))
    if system["keyring_backend"]:
        lines.append(_line("", f"keyring backend: {system['keyring_backend']}; service {system['service']}"))
    from alpaca_tui.core.store.secretservice import SECRET_SERVICE

    here = system["keyring_backend"] == SECRET_SERVICE and os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if here and not f.probe.stuck:  # a probe that waited out the timeout: no second wait
        system["default_collection"] = collection = _default_collection()
        lines.append(_line("", _collection_line(collection)))
    lines += [_line("", f"- {c['name']}: {c['reason']}") for c in system["candidates"]]
    return Row("keyring", backend=system, lines=lines)


def check_file(f: Facts) -> Row:
    from alpaca_tui.cli.common import have_tty
    from alpaca_tui.core.clock import utc_from_ts
    from alpaca_tui.core.store import PASSPHRASE_FILE_ENV, agent

    path = f.secrets_path
    info: dict[str, Any] = {"kind": "file", "path": str(path), "exists": path.exists(), "usable": True,
                            "reason": "", "passphrase_source": None, "passphrase_file": f.pass_env,
                            "passphrase_ok": None}
    if f.pass_env:
        info["passphrase_source"] = PASSPHRASE_FILE_ENV
    elif have_tty():
        info["passphrase_source"] = "prompt"
    agent_st = agent.status(f.home)
    info["session_agent"] = {
        "running": agent_st is not None, "pid": agent_st.pid if agent_st else None,
        "expires_at": utc_from_ts(agent_st.expires_at).isoformat() if agent_st else None}
    _file_reason(f, info)
    return Row("file", backend=info, lines=_file_lines(info))


def _file_reason(f: Facts, info: dict[str, Any]) -> None:
    """Whether the encrypted file could be opened without a prompt, and why (never prompts)."""
    from alpaca_tui.core.errors import AlpacaTuiError, WrongPassphraseError
    from alpaca_tui.core.store import PASSPHRASE_FILE_ENV, FileBackend
    from alpaca_tui.core.store.fsutil import HomeLock

    if f.pass_env:
        try:
            if info["exists"]:
                FileBackend(f.secrets_path, HomeLock(f.home)).read_all()  # the passphrase file only
                info["passphrase_ok"] = True
                info["reason"] = f"{PASSPHRASE_FILE_ENV} unlocks the file"
            else:
                from alpaca_tui.core.store.filecrypt import read_passphrase_file

                read_passphrase_file(f.pass_env)
                info["reason"] = f"will be created on first add; passphrase from {PASSPHRASE_FILE_ENV}"
        except WrongPassphraseError as exc:
            info.update(usable=False, passphrase_ok=False, reason=exc.message)
        except AlpacaTuiError as exc:
            info.update(usable=False, reason=exc.message)
    elif info["passphrase_source"] == "prompt":
        info["reason"] = ("exists; the passphrase is asked on the terminal once per process"
                          if info["exists"] else
                          "will be created on first add; the passphrase is asked on the terminal")
    elif info["session_agent"]["running"]:
        info["reason"] = "unlocked for this session by `alpaca-tui unlock`"
    else:
        info["reason"] = (f"locked: no terminal and {PASSPHRASE_FILE_ENV} is unset, so scripts cannot "
                          "unlock it (or run `alpaca-tui unlock` once per session)")


def _file_lines(info: dict[str, Any]) -> list[str]:
    exists = "exists" if info["exists"] else "not created yet"
    lines = [_line("encrypted file", f"{_mark(info['usable'])} {info['path']} ({exists})")]
    if info["reason"]:
        lines.append(_line("", info["reason"]))
    ag = info["session_agent"]
    if ag["running"]:
        until = ag["expires_at"][:16].replace("T", " ")
        lines.append(_line("session agent",
                           f"✓ running (pid {ag['pid']}) until {until} UTC; `alpaca-tui lock` ends it"))
    elif info["exists"]:
        lines.append(_line("session agent",
                           "– not running (`alpaca-tui unlock` asks for the passphrase once per session)"))
    return lines


def check_selection(f: Facts) -> Row:
    """The backend the commands would use, chosen exactly as they do (no passphrase needed)."""
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store import Store

    backend: dict[str, str] | None = None
    row = Row("selection")
    try:
        f.store = Store.open(f.home, keyring_probe=f.probe)
        backend = {"kind": f.store.backend_kind, "label": f.store.backend_label}
        row.fields = {"backend": backend, "error": None, "selection_notes": list(f.store.selection_notes)}
    except AlpacaTuiError as exc:
        row.fields = {"backend": None, "error": exc.message, "selection_notes": []}
        row.ok = False
    if backend is not None and backend["kind"] == "file" and not f.value("file", "usable"):
        row.ok = False
    if backend:
        row.lines.append(_line("secret backend", f"✓ {backend['label']}"))
    else:
        row.lines.append(_line("secret backend", f"✗ none usable: {row.fields['error']}"))
    row.lines += [_line("", note) for note in row.fields["selection_notes"]]
    return row


def check_consistency(f: Facts) -> Row:
    c = _consistency(f.store, f.value("index", "index"), usable=f.ok)
    row = Row("consistency", {"consistency": c}, ok=not c["errors"])
    for name in c.pop("broken"):
        row.fixes.append(f"the secret of profile {name!r} is lost: alpaca-tui profiles remove "
                         f"{shlex.quote(name)} and add it again with a new secret")
    for name in c["orphans"]:
        row.fixes.append(f"a secret is stored for {name!r} but there is no such profile (an interrupted "
                         f"add): add the profile again (alpaca-tui profiles add {shlex.quote(name)} ...) "
                         "to replace it")
    good = c["checked"] and not c["errors"] and not c["orphans"]
    row.lines.append(_line("consistency", f"{_mark(good) if c['checked'] else '–'} {c['reason']}"))
    row.lines += [_line("", f"repaired: {note}") for note in c["repaired"]]
    row.lines += [_line("", f"✗ {err}") for err in c["errors"]]
    if c["orphans"]:
        row.lines.append(_line("", f"secrets without a profile: {', '.join(c['orphans'])}"))
    return row


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
    if store.backend_kind == "vault":
        try:
            viewer = store.is_viewer()
        except AlpacaTuiError as exc:
            out["reason"] = f"not checked: {exc.message}"
            return out
        if viewer:
            out["reason"] = "not checked: this token is a viewer (it may not read secrets)"
            return out
    elif not index["profiles"] and (store.backend_kind == "system" or not store.secrets_path.exists()):
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


def _perm(path: Path, expected: int) -> dict[str, Any]:
    from alpaca_tui.core.store.fsutil import file_mode

    mode = file_mode(path)
    return {"path": str(path), "exists": mode is not None,
            "mode": f"{mode:04o}" if mode is not None else None, "expected": f"{expected:04o}",
            "ok": mode is None or not (mode & 0o077)}


def check_permissions(f: Facts) -> Row:
    perms = [_perm(f.home, 0o700), _perm(f.index_path, 0o600), _perm(f.secrets_path, 0o600),
             _perm(f.home / ".lock", 0o600)]
    if (f.home / "store.json").exists():  # the pin of a home whose index is shared (OpenBao / Vault)
        perms.append(_perm(f.home / "store.json", 0o600))
    if f.pass_env:
        perms.append(_perm(Path(f.pass_env).expanduser(), 0o600))
    bad = [p for p in perms if not p["ok"]]
    fixes = [f"chmod {'700' if p['expected'] == '0700' else '600'} {shlex.quote(p['path'])}" for p in bad]
    lines = [_line("permissions", f"✗ {p['path']} is {p['mode']}, expected {p['expected']}") for p in bad]
    return Row("permissions", {"permissions": perms}, fixes=fixes,
               lines=lines or [_line("permissions", "✓ home 0700, files 0600 (or not created yet)")])


def check_environment(f: Facts) -> Row:
    return Row("environment", {"environment": {k: (os.environ.get(k) or None) for k in ENV_VARS}})


def check_backend_fixes(f: Facts) -> Row:
    """How to make the OS keyring or the encrypted file usable (after every other fix)."""
    from alpaca_tui.core.store import PASSPHRASE_FILE_ENV

    fixes: list[str] = []
    backend = f.value("selection", "backend")
    error = f.value("selection", "error")
    if backend is not None and backend["kind"] not in ("system", "file"):
        return Row("backend-fixes")  # a shared store's own check gives its fixes
    on_file = backend is not None and backend["kind"] == "file"
    if not f.probe.viable:
        if sys.platform.startswith("linux"):
            fixes.append("to use the OS keyring, run inside a D-Bus session with an unlocked keyring: "
                         + DBUS_FIX)
        if not on_file:
            fixes.append("or use the encrypted file: export ALPACA_TUI_KEYRING=file")
    if (on_file or not f.probe.viable) and not f.pass_env:
        fixes.append(PASSPHRASE_FILE_FIX)
    if f.value("file", "passphrase_ok") is False:
        fixes.append(f"{PASSPHRASE_FILE_ENV} does not unlock {f.secrets_path}: put the right passphrase "
                     "on its first line")
    if error and "ALPACA_TUI_KEYRING" in error:
        fixes.append("unset ALPACA_TUI_KEYRING to use the backend this home already uses")
    return Row("backend-fixes", fixes=fixes)


def check_protection(f: Facts) -> Row:
    """Core dumps, same-user memory reading, and whether key material can be locked in RAM."""
    from alpaca_tui.core import hardening
    from alpaca_tui.core.store import agent

    st = hardening.status()
    running = agent.status(f.home)
    st["agent_key_locked"] = running.mlocked if running is not None else None
    st["core_dumps"] = "off" if st["core_limit"] == 0 or st["dumpable"] is False else "on"
    dump = {False: "not dumpable (other processes of yours cannot read its memory)",
            True: "dumpable", None: "dumpable flag not available here"}[st["dumpable"]]
    lines = [_line("protection", f"{_mark(st['core_dumps'] == 'off')} core dumps {st['core_dumps']}; {dump}"),
             _line("", f"{_mark(st['memory_lock'])} memory locking: {st['memory_lock_reason']}")]
    fixes = []
    if running is not None:
        state = "locked in RAM" if running.mlocked else "not locked in RAM (it could be swapped to disk)"
        lines.append(_line("", f"the session agent's key is {state}"))
    if not st["memory_lock"]:
        fixes.append("to let the session agent lock its key in RAM, raise the locked-memory limit "
                     "(ulimit -l 64, or memlock in /etc/security/limits.conf / LimitMEMLOCK=)")
    return Row("protection", {"protection": st}, fixes=fixes, lines=lines)


Check = Callable[[Facts], Row]
# Run order: a check may read the rows before it (Facts.field).
CHECKS: tuple[Check, ...] = (check_home, check_index, check_keyring, check_file, check_selection,
                             check_consistency, check_permissions, check_environment, check_backend_fixes,
                             check_protection)
# Human output order (rows not listed follow, in run order).
DISPLAY = ("home", "index", "selection", "keyring", "file", "permissions", "consistency")
