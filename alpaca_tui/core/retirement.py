"""A previous secret's retirement: once its time has passed it is dropped, and that is persisted.

Run whenever a stored credential is used: by the engine's credential registry (through
``rotation.retire_if_due``, in a thread) and by the one-shot ``check`` of key pairs
(:mod:`alpaca_tui.core.quickcheck`), so both redact and keep the same secrets. No asyncio here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from alpaca_tui.core.credentials import Profile, SecretBundle

if TYPE_CHECKING:
    from alpaca_tui.core.store import Store

__all__ = ["commit_retirement", "retire_due", "retired"]


def retire_due(bundle: SecretBundle, now: float) -> bool:
    """Whether the previous secret's retirement time has passed."""
    return bundle.previous is not None and bundle.previous_retire_at is not None \
        and bundle.previous_retire_at <= now


def retired(bundle: SecretBundle) -> SecretBundle:
    """The bundle without its previous secret."""
    return replace(bundle, previous=None, previous_retire_at=None)


def commit_retirement(store: Store, profile: Profile, bundle: SecretBundle) -> tuple[Profile, SecretBundle]:
    """Drop the previous secret and persist that (bundle, then index; blocking)."""
    bundle = retired(bundle)
    state = None if profile.rotation_state == "overlap" else profile.rotation_state
    profile = store.commit(profile.name, bundle, previous_retire_at=None, rotation_state=state)
    return profile, bundle
