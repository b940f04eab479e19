"""The access-token entry of a profile: the cached token, and the claim to refresh it.

One entry per profile in the secret backend (``SecretBackend.get_token`` / ``put_token``),
a JSON object: the token record of :mod:`alpaca_tui.core.auth.cache` and, while some process
is fetching a new token, its claim::

    {"v": 1, "access_token": ..., "expires_at": ..., ...,
     "claim": {"owner": "<host>:<pid>:<nonce>", "host": str, "pid": int, "until": epoch}}

A claim is taken with compare-and-swap (``SecretBackend.swap_token``), so of N processes —
on one machine or, with a shared store, on N machines — exactly one wins; the others wait
for its token (or keep using a token that is still valid). Saving the new token drops the
claim (the record is replaced); a failed refresh releases it. A claim expires by itself at
``until``; one held by a dead process on this machine is taken over at once.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store.protocols import SecretBackend
from alpaca_tui.core.store.safefile import TOKEN_ENTRY_MAX

CLAIM_KEY = "claim"


def _parse(raw: str | None) -> dict[str, Any] | None:
    if raw is None or len(raw) > TOKEN_ENTRY_MAX:  # an oversized entry is no cache
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _alive_here(claim: dict[str, Any]) -> bool:
    """False when the claim's owner is a process of this machine that no longer runs."""
    if claim.get("host") != socket.gethostname():
        return True
    pid = claim.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def live_claim(data: dict[str, Any] | None, owner: str, now: float) -> float | None:
    """The time until which someone other than ``owner`` holds the refresh claim, or None."""
    claim = (data or {}).get(CLAIM_KEY)
    if not isinstance(claim, dict) or claim.get("owner") == owner:
        return None
    try:
        until = float(claim["until"])
    except (KeyError, TypeError, ValueError):
        return None
    if until <= now or not _alive_here(claim):
        return None
    return until


class TokenEntries:
    """The token-cache methods of :class:`~.store.Store` (JSON over ``SecretBackend`` text)."""

    secret_backend: SecretBackend

    def _prepare(self) -> None:
        raise NotImplementedError

    def load_token(self, name: str) -> dict[str, Any] | None:
        return _parse(self.secret_backend.get_token(name))

    def save_token(self, name: str, data: dict[str, Any]) -> None:
        self._prepare()
        self.secret_backend.put_token(name, _dumps(data))  # replaces the record: drops a claim

    def clear_token(self, name: str) -> None:
        self._prepare()
        self.secret_backend.delete_token(name)

    def claim_token(self, name: str, owner: str, until: float, now: float) -> float | None:
        """Claim the refresh of ``name``'s token for ``owner`` until ``until`` (epoch seconds).

        None: the claim is ``owner``'s (make the token request, then save or release). Else the
        time until which another process holds it (wait for its token until then); after a
        lost race with a process that has already saved its token, that is ``now``.
        """
        self._prepare()
        backend = self.secret_backend
        raw = backend.get_token(name)
        data = _parse(raw)
        held = live_claim(data, owner, now)
        if held is not None:
            return held
        record = dict(data or {"v": 1})
        record[CLAIM_KEY] = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(),
                             "until": until}
        if backend.swap_token(name, raw, _dumps(record)):
            return None
        return live_claim(self.load_token(name), owner, now) or now

    def release_token_claim(self, name: str, owner: str) -> None:
        """Drop ``owner``'s claim (a failed refresh), leaving the cached token as it was."""
        backend = self.secret_backend
        for _ in range(3):
            raw = backend.get_token(name)
            data = _parse(raw)
            claim = (data or {}).get(CLAIM_KEY)
            if data is None or not isinstance(claim, dict) or claim.get("owner") != owner:
                return
            rest = {k: v for k, v in data.items() if k != CLAIM_KEY}
            try:
                if backend.swap_token(name, raw, _dumps(rest)):
                    return
            except StoreError:
                return  # it expires by itself


__all__ = ["CLAIM_KEY", "TokenEntries", "live_claim"]
