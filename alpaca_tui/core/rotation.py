"""Rotation: a small state machine over :class:`~alpaca_tui.core.credentials.SecretBundle`.

A bundle holds the ``active`` secret, at most one ``pending`` (staged, not yet verified) and
at most one ``previous`` (kept for rollback until ``previous_retire_at``). The profile's
``rotation_state`` names where it is: ``"pending"``, ``"overlap"`` (a previous secret is
kept) or None.

==========  =========================  ======================================  ================
from        step                       bundle after                            rotation_state
==========  =========================  ======================================  ================
any         :meth:`Rotation.stage`     ``pending`` = new                       ``"pending"``
pending     verification fails         ``pending`` dropped                     ``"overlap"`` if
                                                                               a previous is
                                                                               kept, else None
pending     verified: promote          ``active`` = new, ``previous`` = old    ``"overlap"``
            (:meth:`Rotation.rotate`)  until now + keep_old_for (0: none)      (0: None)
overlap     :meth:`Rotation.rollback`  ``active`` <-> ``previous``             ``"overlap"``
overlap     :meth:`Rotation.retire`,   ``previous`` dropped                    None
            :func:`retire_if_due`
==========  =========================  ======================================  ================

(:func:`retire_if_due` runs whenever the engine uses a credential; a ``"pending"`` state
survives it.) Every store write goes through ``Store.commit(name, bundle, **index_changes)``: the bundle
and then the index under one lock hold; a kill between the two is repaired from the bundle
by ``Store.load``. Verification (:meth:`Rotation.rotate`) checks the new secret live, with
retries for propagation (``verify_attempts``, ``verify_backoff * 2**n`` s between them),
before anything is promoted; on failure the old secret stays active and untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from alpaca_tui.core.auth.cache import TokenCache
from alpaca_tui.core.clock import Clock, utc_from_ts
from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Api
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.http import ErrorCategory
from alpaca_tui.core.redact import mask
from alpaca_tui.core.retirement import commit_retirement, retire_due, retired
from alpaca_tui.core.wire import Sleep

if TYPE_CHECKING:
    from alpaca_tui.core.checks import CheckResult, Checks
    from alpaca_tui.core.registry import Credential, CredentialRegistry
    from alpaca_tui.core.store import Store

__all__ = ["Rotation", "RotationError", "RotationResult", "retire_due", "retire_if_due"]

# verification failures worth another attempt (a new key may take a moment to propagate)
_RETRYABLE = (ErrorCategory.BAD_CREDENTIALS, ErrorCategory.NETWORK_ERROR, ErrorCategory.TIMEOUT,
              ErrorCategory.SERVER_ERROR, ErrorCategory.RATE_LIMITED)


@dataclass(frozen=True)
class RotationResult:
    """The outcome of :meth:`Rotation.rotate` (``ok`` False only inside a RotationError)."""

    profile: str
    ok: bool
    message: str
    key_id_masked: str
    previous_key_id_masked: str | None = None
    rotated_at: datetime | None = None
    previous_retire_at: datetime | None = None
    attempts: int = 0
    verification: tuple[CheckResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "ok": self.ok, "message": self.message,
                "key_id_masked": self.key_id_masked, "previous_key_id_masked": self.previous_key_id_masked,
                "rotated_at": _iso(self.rotated_at),
                "previous_retire_at": _iso(self.previous_retire_at),
                "attempts": self.attempts, "verification": [c.to_dict() for c in self.verification]}


class RotationError(AlpacaTuiError):
    """Verification of the new secret failed; the old secret is still active and untouched."""

    def __init__(self, message: str, result: RotationResult, category: ErrorCategory | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.category = category


# -- the bundle transitions (pure) ---------------------------------------------------------------


def _overlap(bundle: SecretBundle) -> str | None:
    return "overlap" if bundle.previous is not None else None


def _promoted(bundle: SecretBundle, new: Secret, retire_at: float | None) -> SecretBundle:
    keep = retire_at is not None
    return SecretBundle(active=new, pending=None, previous=bundle.active if keep else None,
                        previous_retire_at=retire_at)


def _rolled_back(bundle: SecretBundle) -> SecretBundle:
    assert bundle.previous is not None
    return SecretBundle(active=bundle.previous, pending=None, previous=bundle.active,
                        previous_retire_at=bundle.previous_retire_at)


def _key_changes(profile: Profile, active: Secret) -> dict[str, Any]:
    """Index fields that follow a private key becoming active (its algorithm, fingerprint)."""
    if profile.flow is not Flow.PRIVATE_KEY_JWT or not active.private_key_pem:
        return {}
    from alpaca_tui.core.keys import public_key_fingerprint

    return {"alg": active.alg or profile.alg,
            "public_key_fingerprint": public_key_fingerprint(active.private_key_pem)}


async def retire_if_due(store: Store | None, clock: Clock, profile: Profile,
                        bundle: SecretBundle) -> tuple[Profile, SecretBundle]:
    """Drop the previous secret once its retirement time has passed (persisted)."""
    if not retire_due(bundle, clock.time()):
        return profile, bundle
    if store is None:
        return profile, retired(bundle)
    return await asyncio.to_thread(commit_retirement, store, profile, bundle)


# -- the steps -----------------------------------------------------------------------------------


class Rotation:
    """Stage, verify, promote, roll back and retire secrets of the credentials of one engine."""

    def __init__(self, store: Store | None, *, clock: Clock, registry: CredentialRegistry, checks: Checks,
                 cache: TokenCache | None, sleep: Sleep, verify_attempts: int, verify_backoff: float) -> None:
        self._store = store
        self._clock = clock
        self._registry = registry
        self._checks = checks
        self._cache = cache
        self._sleep = sleep
        self.verify_attempts = verify_attempts
        self.verify_backoff = verify_backoff

    async def _commit(self, cred: Credential, bundle: SecretBundle, **changes: Any) -> Profile:
        """Persist ``bundle`` and the index ``changes`` (or only apply them without a store)."""
        if self._store is None:
            return cred.profile.with_changes(**changes)
        return await asyncio.to_thread(self._store.commit, cred.name, bundle, **changes)

    async def stage(self, cred: Credential, new: Secret) -> Profile:
        """Keep ``new`` as the pending secret without verifying it (e.g. a generated key whose
        public half must be registered with Alpaca first); ``rotate`` with it finishes."""
        check_new_secret(cred.profile, new)
        bundle = replace(cred.bundle, pending=new)
        profile = await self._commit(cred, bundle, rotation_state="pending",
                                     pending_key_id_masked=mask(new.key_id))
        cred.bundle = bundle
        cred.profile = profile
        return profile

    async def rotate(self, cred: Credential, new: Secret, *, keep_old_for: timedelta,
                     expires_at: datetime | Literal["keep"] | None = "keep") -> RotationResult:
        """Pending -> verify (live, with retries for propagation) -> promote, old kept for rollback.

        On failed verification the pending secret is discarded, the old secret stays active
        and untouched, and :class:`RotationError` is raised. ``keep_old_for`` = 0 drops the
        old secret at once. ``expires_at`` sets the new credential's expiry ("keep": keep the
        profile's unless it has already passed).
        """
        check_new_secret(cred.profile, new)
        old_bundle = cred.bundle
        if self._store is not None:
            staged = replace(old_bundle, pending=new)
            cred.profile = await self._commit(cred, staged, rotation_state="pending",
                                              pending_key_id_masked=mask(new.key_id))
        profile = cred.profile
        now_dt = self._clock.now()
        if expires_at == "keep":
            old_exp = profile.expires_at
            new_exp = old_exp if old_exp is None or old_exp > now_dt else None
        else:
            new_exp = expires_at
        candidate = self._registry.candidate(replace(profile, expires_at=new_exp), SecretBundle(active=new))
        checks, attempts = await self._verify(candidate)
        if not (checks and all(c.ok for c in checks)):
            await self._discard(cred, old_bundle, checks, attempts)
        return await self._promote(cred, old_bundle, candidate, new_exp, keep_old_for,
                                   checks=checks, attempts=attempts, now_dt=now_dt)

    async def _verify(self, candidate: Credential) -> tuple[list[CheckResult], int]:
        """Check the candidate until it passes, a failure is not worth retrying, or the
        attempts are spent. Returns the last checks and the attempts made."""
        checks: list[CheckResult] = []
        attempts = 0
        for attempt in range(self.verify_attempts):
            attempts = attempt + 1
            checks = await self._verify_once(candidate)
            if checks and all(c.ok for c in checks):
                break
            cat = next((c.category for c in checks if not c.ok), None)
            if cat not in _RETRYABLE or attempt + 1 >= self.verify_attempts:
                break
            candidate.tokens.drop()
            await self._sleep(self.verify_backoff * (2 ** attempt))
        return checks, attempts

    async def _verify_once(self, candidate: Credential) -> list[CheckResult]:
        """Token exchange (OAuth) + the primary API's cheap GET."""
        primary = Api.BROKER if candidate.profile.env.is_broker else Api.TRADING
        results = await self._checks.run(candidate, use_cache=False, apis=(primary,))
        # a check skipped by the access matrix proves nothing for legacy keys; the token
        # exchange (OAuth) already proved the new secret
        if candidate.profile.flow is Flow.LEGACY and all(r.skipped for r in results):
            data = await self._checks.run(candidate, use_cache=False, apis=(Api.DATA,))
            results = [r for r in data if not r.skipped] or results
        return results

    async def _discard(self, cred: Credential, old_bundle: SecretBundle, checks: list[CheckResult],
                       attempts: int) -> None:
        """Verification failed: drop the pending secret and raise RotationError."""
        bundle = replace(old_bundle, pending=None)
        cred.profile = await self._commit(cred, bundle, pending_key_id_masked=None,
                                          rotation_state=_overlap(old_bundle))
        cred.bundle = bundle
        bad = next((c for c in checks if not c.ok), None)
        why = bad.message if bad else "no check could be made"
        result = RotationResult(profile=cred.name, ok=False, key_id_masked=cred.profile.key_id_masked,
                                attempts=attempts, verification=tuple(checks),
                                message=f"the new secret failed verification after {attempts} "
                                        f"attempt(s): {why}; the old secret is still active")
        raise RotationError(f"rotation of {cred.name!r} failed: {result.message}", result,
                            bad.category if bad else None)

    async def _promote(self, cred: Credential, old_bundle: SecretBundle, candidate: Credential,
                       new_exp: datetime | None, keep_old_for: timedelta, *, checks: list[CheckResult],
                       attempts: int, now_dt: datetime) -> RotationResult:
        """The verified secret becomes active; the old one is kept until its retirement time."""
        new, old = candidate.secret, old_bundle.active
        keep = keep_old_for > timedelta(0)
        retire_ts = self._clock.time() + keep_old_for.total_seconds() if keep else None
        retire_at = utc_from_ts(retire_ts) if retire_ts is not None else None
        changes: dict[str, Any] = {
            "key_id_masked": mask(new.key_id), "rotated_at": now_dt,
            "rotation_state": "overlap" if keep else None, "previous_retire_at": retire_at,
            "pending_key_id_masked": None, "expires_at": new_exp,
            "last_verified_at": now_dt, "last_check_ok": True, "last_check_error": None,
            **_key_changes(cred.profile, new),
        }
        bundle = _promoted(old_bundle, new, retire_ts)
        profile = await self._commit(cred, bundle, **changes)
        await self._clear_cache(cred)
        self._registry.install(cred.name, profile, bundle, candidate.tokens.current)
        return RotationResult(
            profile=cred.name, ok=True, key_id_masked=mask(new.key_id),
            previous_key_id_masked=mask(old.key_id) if keep else None, rotated_at=now_dt,
            previous_retire_at=retire_at, attempts=attempts, verification=tuple(checks),
            message=(f"promoted the new secret; the old one is kept for rollback until "
                     f"{retire_at:%Y-%m-%d %H:%M} UTC") if retire_at is not None
            else "promoted the new secret; the old one was dropped")

    async def _clear_cache(self, cred: Credential) -> None:
        if self._store is not None and self._cache is not None:
            await self._cache.clear(cred.name)

    async def rollback(self, cred: Credential) -> None:
        """Make the previous secret active again (the newer one becomes the previous)."""
        if cred.bundle.previous is None:
            raise UsageError(f"nothing to roll back: {cred.name!r} keeps no previous secret "
                             "(it was retired or never rotated)")
        bundle = _rolled_back(cred.bundle)
        changes: dict[str, Any] = {"key_id_masked": mask(bundle.active.key_id), "rotation_state": "overlap",
                                   "pending_key_id_masked": None, "rotated_at": self._clock.now(),
                                   "last_check_ok": None, "last_check_error": None,
                                   **_key_changes(cred.profile, bundle.active)}
        profile = await self._commit(cred, bundle, **changes)
        await self._clear_cache(cred)
        self._registry.install(cred.name, profile, bundle, None)

    async def retire(self, cred: Credential) -> bool:
        """Drop the previous secret now (no rollback after this). False when there was none."""
        if cred.bundle.previous is None:
            return False
        bundle = retired(cred.bundle)
        cred.profile = await self._commit(cred, bundle, previous_retire_at=None, rotation_state=None)
        cred.bundle = bundle
        return True


def check_new_secret(profile: Profile, new: Secret) -> None:
    """UsageError unless ``new`` has what the profile's flow needs (a loadable key, a secret)."""
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        if not new.private_key_pem:
            raise UsageError(f"{profile.name!r} uses private_key_jwt: the new credential needs a private key")
        from alpaca_tui.core.keys import load_private_key

        load_private_key(new.private_key_pem, new.alg)
    elif not new.secret:
        raise UsageError(f"the new credential for {profile.name!r} needs a secret")


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
