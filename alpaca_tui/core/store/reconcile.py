"""Repairing a profile's index entry from its secret bundle after an interrupted write.

A rotation (and rollback, retirement, staging) changes two things: the secret bundle
(active / pending / previous secret, in the OS keyring or the encrypted file) and the
profile's non-secret index entry (masked key ID, rotation state, pending key, retirement
time, key fingerprint). They live in different places, so no single write can change
both: a process killed between the two leaves them disagreeing. The bundle is the truth
— it is what authenticates — so the index entry is rewritten to match it, never the other
way round, and no secret is ever dropped by a repair.

:func:`index_repairs` is the pure comparison; :class:`alpaca_tui.core.store.Store` applies
it under the home lock (``Store.load`` / ``load_bundle`` / ``reconcile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alpaca_tui.core.clock import utc_from_ts
from alpaca_tui.core.credentials import Flow, Profile, SecretBundle
from alpaca_tui.core.redact import mask

# A retirement time read back from the index may differ from the bundle's epoch float by
# rounding (ISO text keeps microseconds); anything closer than this is the same time.
_TIME_SLACK = 1.0


@dataclass(frozen=True)
class Repair:
    """What an index entry must change to agree with its bundle (empty ``changes``: agrees)."""

    name: str
    changes: dict[str, Any] = field(default_factory=dict)
    details: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def message(self) -> str:
        """One line, no secret (key IDs masked): what was repaired and why."""
        return (f"profile {self.name!r}: its index entry disagreed with the secret store (an interrupted "
                f"rotation or save?); repaired from the secret store: {'; '.join(self.details)}")


def _fingerprint(private_pem: str) -> str | None:
    try:
        from alpaca_tui.core.keys import public_key_fingerprint

        return public_key_fingerprint(private_pem)
    except Exception:  # a malformed key is reported when it is used, not here
        return None


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < _TIME_SLACK


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt is not None else "none"


def index_repairs(profile: Profile, bundle: SecretBundle) -> Repair:
    """The index changes that make ``profile`` describe ``bundle`` (see the module doc)."""
    changes: dict[str, Any] = {}
    details: list[str] = []

    active = mask(bundle.active.key_id)
    identity_changed = False
    if profile.key_id_masked != active:
        changes["key_id_masked"] = active
        details.append(f"active key {active} (index said {profile.key_id_masked or 'none'})")
        identity_changed = True

    # private_key_jwt: the client ID can stay the same while the key pair changes; the
    # fingerprint is what tells the two keys apart.
    jwt_pem = bundle.active.private_key_pem if profile.flow is Flow.PRIVATE_KEY_JWT else None
    if jwt_pem and profile.public_key_fingerprint is not None:
        fp = _fingerprint(jwt_pem)
        if fp is not None and fp != profile.public_key_fingerprint:
            changes["public_key_fingerprint"] = fp
            details.append(f"active key pair sha256 {fp} (index said {profile.public_key_fingerprint})")
            identity_changed = True
    if identity_changed:
        if jwt_pem and bundle.active.alg and bundle.active.alg != profile.alg:
            changes["alg"] = bundle.active.alg
        # the recorded check result belongs to the other key
        if profile.last_check_ok is not None:
            changes["last_check_ok"] = None
        if profile.last_check_error is not None:
            changes["last_check_error"] = None

    state = "pending" if bundle.pending is not None else ("overlap" if bundle.previous is not None else None)
    if profile.rotation_state != state:
        changes["rotation_state"] = state
        details.append(f"rotation state {state or 'none'} (index said {profile.rotation_state or 'none'})")

    pending = mask(bundle.pending.key_id) if bundle.pending is not None else None
    if profile.pending_key_id_masked != pending:
        changes["pending_key_id_masked"] = pending
        was = profile.pending_key_id_masked or "none"
        details.append(f"pending key {pending or 'none'} (index said {was})")

    retire = None
    if bundle.previous is not None and bundle.previous_retire_at is not None:
        retire = utc_from_ts(bundle.previous_retire_at)
    if not _same_time(profile.previous_retire_at, retire):
        changes["previous_retire_at"] = retire
        details.append(f"old key kept until {_when(retire)} (index said {_when(profile.previous_retire_at)})")

    if changes and jwt_pem and profile.public_key_fingerprint is None:
        # a profile that never recorded its key's fingerprint gets one while it is repaired anyway
        fp = _fingerprint(jwt_pem)
        if fp is not None:
            changes["public_key_fingerprint"] = fp
    return Repair(profile.name, changes, tuple(details))
