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

Shared store (OpenBao / Vault): when this home uses it, one more check (:mod:`.doctor_vault`)
adds a ``backends`` entry ``{"kind": "vault", ...}``: address, server version, sealed state,
token TTL and policies, capabilities on the layout's paths, the role, the mount type.

Exit codes: 0 a usable secret backend exists for this home; 1 otherwise (forced backend
unavailable, the home's recorded backend unavailable, corrupted index, unreadable or
wrong passphrase file, corrupted secrets file, a profile whose secret is missing or
malformed); 2 usage error.

JSON (``--json``; stable, keys only ever added)::

    {"ok": bool,
     "home": str, "home_exists": bool,
     "index": {"path": str, "exists": bool, "profiles": int | null,
               "recorded_backend": "system" | "file" | null, "error": str | null},
     "backend": {"kind": "system" | "file" | "vault", "label": str} | null,    # the one in use
     "error": str | null,                                            # why none could be used
     "selection_notes": [str],
     "backends": [
       {"kind": "system", "viable": bool, "reason": str, "keyring_backend": str | null,
        "service": str,
        "candidates": [{"name": str, "viable": bool, "priority": float | null, "reason": str}],
        "keyring_choice": {"recorded": str | null,      # keyring's choice as recorded for the
                           "agrees": bool | null}},     # short way; does keyring still choose it
       {"kind": "file", "path": str, "exists": bool, "usable": bool, "reason": str,
        "passphrase_source": "ALPACA_TUI_PASSPHRASE_FILE" | "prompt" | null,
        "passphrase_file": str | null, "passphrase_ok": bool | null,
        "session_agent": {"running": bool, "pid": int | null, "expires_at": ISO-8601 | null}},
       {"kind": "vault", ...}],                                  # only when this home uses it
     "consistency": {"checked": bool, "reason": str,             # why not checked, or what was
                     "profiles": int, "repaired": [str],         # one note per repaired profile
                     "errors": [str], "orphans": [str]},         # names with a secret, no profile
     "permissions": [{"path": str, "exists": bool, "mode": "0600" | null, "expected": "0600",
                      "ok": bool}],
     "environment": {"ALPACA_TUI_HOME": str | null, "ALPACA_TUI_KEYRING": str | null,
                     "ALPACA_TUI_PASSPHRASE_FILE": str | null, "PYTHON_KEYRING_BACKEND": str | null,
                     "DBUS_SESSION_BUS_ADDRESS": str | null},
     "protection": {"core_dumps": "off" | "on", "core_limit": int | null,   # this process (every
                    "dumpable": bool | null,                 # command is hardened the same way)
                    "memory_lock": bool, "memory_lock_reason": str,      # can key pages be mlock-ed
                    "memlock_limit": int | null,             # RLIMIT_MEMLOCK bytes, -1 unlimited
                    "agent_key_locked": bool | null},        # the running agent's key page; null:
                                                             # no agent
     "fixes": [str]}

A home that another user could change (not yours, or writable by others, or a parent that is)
makes ``ok`` false: the home row names the problem and its fix.

How it is built: :mod:`alpaca_tui.cli.doctor_checks` holds the checks, run in order over one
shared ``Facts``; each returns a ``Row`` (the report keys it sets, or the backend it describes
for ``backends``; whether the home stays usable; its fixes; its human lines). This module runs
them and renders the rows as JSON (:func:`report`) or text (:func:`human`). A new secret
backend adds a check there; the report gains its keys without an edit here.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from alpaca_tui.cli.doctor_checks import CHECKS, DISPLAY, Check, Facts, Row
from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK

# The JSON report's keys in order ("ok" first, "fixes" last; keys of new rows go after these).
REPORT_KEYS = ("home", "home_exists", "index", "backend", "error", "selection_notes", "backends",
               "permissions", "consistency", "environment", "protection")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("doctor", help="diagnose the secret store (backend, permissions, fixes)",
                              description="Explain which secret backend is used and why; suggest fixes.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


# -- running and reporting ---------------------------------------------------------------------
def diagnose(checks: tuple[Check, ...] | None = None) -> list[Row]:
    """Run ``checks`` (default: :data:`CHECKS`, and the shared store's check when this home uses
    it, :mod:`.doctor_vault`) in order over one :class:`Facts`."""
    from alpaca_tui.cli import doctor_vault
    from alpaca_tui.core.store import PASSPHRASE_FILE_ENV, default_home

    facts = Facts(default_home().expanduser().absolute(), os.environ.get(PASSPHRASE_FILE_ENV) or None)
    if checks is None:
        checks = (*CHECKS, doctor_vault.check_vault) if doctor_vault.applies(facts) else CHECKS
    for check in checks:
        row = check(facts)
        facts.rows[row.name] = row
    return list(facts.rows.values())


def report(rows: list[Row]) -> dict[str, Any]:
    """The JSON report (schema above) from the rows."""
    fields: dict[str, Any] = {"backends": []}
    for row in rows:
        fields.update(row.fields)
        if row.backend is not None:
            fields["backends"].append(row.backend)
    ordered = [k for k in REPORT_KEYS if k in fields] + [k for k in fields if k not in REPORT_KEYS]
    out: dict[str, Any] = {"ok": all(r.ok for r in rows)}
    out.update((k, fields[k]) for k in ordered)
    out["fixes"] = [fix for row in rows for fix in row.fixes]
    return out


def human(rows: list[Row]) -> list[str]:
    order = {name: i for i, name in enumerate(DISPLAY)}
    shown = sorted(rows, key=lambda r: order.get(r.name, len(order)))
    lines = [line for row in shown for line in row.lines]
    fixes = [fix for row in rows for fix in row.fixes]
    if fixes:
        lines += ["fixes:", *(f"  {fix}" for fix in fixes)]
    ok = all(r.ok for r in rows)
    lines.append("status: ok" if ok else "status: no usable secret backend for this home")
    return lines


def collect() -> tuple[dict[str, Any], int]:
    """The report and the exit code."""
    doc = report(diagnose())
    return doc, (EXIT_OK if doc["ok"] else EXIT_FAILURE)


def run(args: argparse.Namespace) -> int:
    rows = diagnose()
    if args.json:
        from alpaca_tui.cli.common import print_json

        print_json(report(rows))
    else:
        print("\n".join(human(rows)))
    return EXIT_OK if all(r.ok for r in rows) else EXIT_FAILURE
