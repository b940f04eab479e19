"""Helpers shared by the headless commands: opening the store, reading secrets, printing.

Secrets never come from argv. They come from stdin (``--secret-stdin``), from a hidden
prompt on the controlling terminal (/dev/tty), or from a file (PEM keys,
``ALPACA_TUI_PASSPHRASE_FILE``). When there is no terminal and no other source, the
command fails with a one-line error instead of hanging on a prompt.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Profile, validate_secret
from alpaca_tui.core.errors import StoreError, UsageError
from alpaca_tui.core.expiry import expiry_state
from alpaca_tui.core.store import LOCKED_MESSAGE, Store

MAX_STDIN_SECRET = 64 * 1024


def have_tty() -> bool:
    """Whether a controlling terminal is available for prompts."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def prompt_hidden(prompt: str) -> str:
    """Read a line without echo from /dev/tty (never from stdin). UsageError without a TTY."""
    if not have_tty():
        raise UsageError("no terminal to prompt on")
    import getpass

    return getpass.getpass(prompt)


def prompt_line(prompt: str) -> str:
    """Read a visible line from /dev/tty (confirmations)."""
    with open("/dev/tty", "r+", encoding="utf-8") as tty:
        tty.write(prompt)
        tty.flush()
        return tty.readline().strip()


def confirm(prompt: str) -> bool:
    return prompt_line(f"{prompt} [y/N] ").lower() in ("y", "yes")


def tty_passphrase_provider(creating: bool) -> str:
    """The CLI's passphrase provider for the encrypted file: /dev/tty, twice when creating."""
    if not have_tty():
        raise StoreError(LOCKED_MESSAGE)
    if creating:
        print("alpaca-tui: creating the encrypted secret store (the OS keyring is not in use); "
              "choose a passphrase", file=sys.stderr)
        first = prompt_hidden("New passphrase for the encrypted secret store: ")
        if not first:
            raise StoreError("the passphrase cannot be empty")
        if prompt_hidden("Repeat the passphrase: ") != first:
            raise StoreError("the two passphrases differ; nothing was stored")
        return first
    value = prompt_hidden("Passphrase for the encrypted secret store: ")
    if not value:
        raise StoreError("the passphrase cannot be empty")
    return value


def open_store(*, backend: str | None = None, interactive: bool = True, clock: Clock = SYSTEM_CLOCK) -> Store:
    """``Store.open`` for the CLI: home/backend from the environment, passphrase from a file or /dev/tty.
    An index entry repaired from its secret bundle (after a killed rotation) is reported on stderr."""
    store = Store.open(backend=backend, passphrase_provider=tty_passphrase_provider if interactive else None,
                       clock=clock)
    store.on_repair = warn
    return store


def read_secret(from_stdin: bool, prompt: str = "Secret: ") -> str:
    """A secret from stdin (``--secret-stdin``) or a hidden /dev/tty prompt when stdin is a terminal."""
    isatty = getattr(sys.stdin, "isatty", None)
    stdin_is_tty = bool(isatty is not None and isatty())
    if from_stdin and not stdin_is_tty:
        data = sys.stdin.read(MAX_STDIN_SECRET + 1)
        if len(data) > MAX_STDIN_SECRET:
            raise UsageError("secret on stdin is too large")
        value = data.rstrip("\r\n")
        if "\n" in value or "\r" in value:
            raise UsageError("expected the secret as a single line on stdin")
        return validate_secret(value)
    if stdin_is_tty and have_tty():
        # --secret-stdin on a terminal would echo the secret: use the hidden prompt instead.
        return validate_secret(prompt_hidden(prompt))
    raise UsageError("no secret given: pipe it in with --secret-stdin "
                     "(secrets are never accepted as command-line arguments)")


def store_role(store: Store) -> str | None:
    """"viewer" / "superuser" for a store with roles (a Vault token's policies), None for local ones."""
    if store.backend_kind in ("system", "file"):
        return None
    return "viewer" if store.is_viewer() else "superuser"


def secret_version(store: Store, name: str) -> tuple[dict[str, Any] | None, str]:
    """The secret bundle's version in a versioned store (JSON, text); (None, "") for local stores.
    A token that may not see it (a viewer) gets (None, why)."""
    from alpaca_tui.core.redact import scrub
    from alpaca_tui.core.store.access import Action

    if store.backend_kind in ("system", "file"):
        return None, ""
    if store.refusal(Action.REVEAL, name) is not None:
        return None, "not visible to this token (viewer)"
    try:
        v = store.bundle_version(name)
    except StoreError as exc:
        return None, f"unknown ({exc.message})"
    if v is None:
        return None, "none stored"
    when = v.written_at.strftime("%Y-%m-%d %H:%M:%S UTC") if v.written_at else "at an unknown time"
    by = " ".join(scrub(v.written_by).split())[:80] if v.written_by else None
    data = {"version": v.version, "written_at": v.written_at.isoformat() if v.written_at else None,
            "written_by": by}
    return data, f"{v.version}, written {when} by {by or 'an unrecorded writer'}"


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON; control characters, C1 and bidi controls JSON-escaped
    (``core.sanitize.json_text``: valid JSON, same value, nothing a terminal obeys)."""
    from alpaca_tui.core.sanitize import json_text

    sys.stdout.write(json_text(obj) + "\n")


def profile_json(profile: Profile, now: datetime) -> dict[str, Any]:
    """``Profile.to_dict()`` plus ``expiry_state`` (ok | expiring | expired)."""
    d = profile.to_dict()
    d["expiry_state"] = expiry_state(profile.expires_at, now).value
    return d
