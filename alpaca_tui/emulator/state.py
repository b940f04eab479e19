"""The emulator's own database: credentials, issued tokens, seen ``jti`` values, counters and
fault switches. Everything is guarded by one lock (handlers run on many threads).

With a state directory the credentials and live tokens are persisted to
``DIR/emulator.json`` (0600 in a 0700 directory, written atomically). That file holds the
fake server's secrets in the clear: it is **test-only data** for the local emulator, the
same way a real server keeps its own credential database; never point it at real keys.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from collections import Counter, deque
from pathlib import Path
from typing import Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator.records import (
    TOKEN_LIFETIME,
    Credential,
    IssuedCredential,
    TokenRecord,
    load_public_key,
    new_key_id,
    new_secret,
    parse_when,
)

# Re-exported: callers import these records from here too.
__all__ = ["STATE_FILE", "TOKEN_LIFETIME", "Credential", "IssuedCredential", "State", "TokenRecord",
           "load_public_key", "parse_when"]

STATE_FILE = "emulator.json"
STATE_VERSION = 1


class State:
    """All mutable emulator state. Methods take the lock; callers pass ``now`` (emulator time)."""

    def __init__(self, state_dir: Path | None = None, *, token_lifetime: int = TOKEN_LIFETIME,
                 retry_after: bool = False, revoked_error: str = "invalid_client") -> None:
        self.lock = threading.RLock()
        self.revoked_error_default = revoked_error
        self.revoked_error = revoked_error       # AuthX's answer to a revoked client
        self.token_lifetime = token_lifetime     # seconds an issued access token lives
        self.retry_after_default = retry_after   # send Retry-After on 429s (reset_faults returns here)
        self.retry_after = retry_after
        self.state_dir = state_dir
        self.credentials: dict[str, Credential] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.jtis: dict[tuple[str, str], float] = {}
        self.token_counts: Counter[str | None] = Counter()
        self.token_total = 0
        self.request_counts: Counter[str] = Counter()
        self.rejections: deque[dict[str, Any]] = deque(maxlen=500)
        # faults
        self.latency: dict[str, float] = {}
        self.fail: dict[str, list[int]] = {}     # role -> [remaining, status]
        self.drop: dict[str, int] = {}
        self.skew = 0.0
        self.rate: dict[str, int] = {}
        self.buckets: dict[tuple[str, str], list[float]] = {}   # (role, ident) -> [window, count]
        if state_dir is not None:
            self._load()

    # -- credentials -------------------------------------------------------------------
    def add_credential(self, env: Env, flow: Flow, *, now: float, access: AccessMatrix | None,
                       expires_at: float | None, key_id: str | None, secret: str | None,
                       public_key: str | None) -> Credential:
        env = Env(env)
        flow = Flow(flow)
        if flow.is_oauth and not env.is_broker:
            raise UsageError(f"the {flow.value} flow exists only for broker environments, not {env.value}")
        if key_id is not None:
            key_id = key_id.strip()
            if not key_id or len(key_id) > 128 or any(c.isspace() for c in key_id):
                raise UsageError("invalid key_id")
        if flow is Flow.PRIVATE_KEY_JWT and secret:
            raise UsageError("a private-key-jwt credential has no secret; register its public key")
        if flow is not Flow.PRIVATE_KEY_JWT and public_key:
            raise UsageError(f"a {flow.value} credential takes no public key")
        key_obj, alg = load_public_key(public_key) if public_key else (None, None)
        with self.lock:
            if key_id is None:
                key_id = new_key_id(env)
                while key_id in self.credentials:
                    key_id = new_key_id(env)
            elif key_id in self.credentials:
                raise UsageError(f"credential {key_id} already exists")
            if flow is not Flow.PRIVATE_KEY_JWT and not secret:
                secret = new_secret(flow)
            # Trading keys have no scope matrix; broker credentials default to full access.
            matrix = access if (access is not None and env.is_broker) else AccessMatrix.full()
            cred = Credential(key_id=key_id, env=env, flow=flow, secret=secret or None, access=matrix,
                              created_at=now, expires_at=expires_at, public_key=public_key, alg=alg,
                              _key_obj=key_obj)
            self.credentials[key_id] = cred
            self._save()
            return cred

    def get(self, key_id: str) -> Credential:
        with self.lock:
            cred = self.credentials.get(key_id)
            if cred is None:
                raise NotFoundError(f"no credential {key_id!r} on the emulator")
            return cred

    def revoke(self, key_id: str) -> None:
        with self.lock:
            self.get(key_id).revoked = True
            self.tokens = {t: r for t, r in self.tokens.items() if r.client_id != key_id}
            self._save()

    def expire(self, key_id: str, now: float) -> None:
        with self.lock:
            self.get(key_id).expires_at = now - 1
            self._save()

    def set_expiry(self, key_id: str, expires_at: float | None) -> None:
        with self.lock:
            self.get(key_id).expires_at = expires_at
            self._save()

    def set_access(self, key_id: str, access: AccessMatrix) -> None:
        with self.lock:
            cred = self.get(key_id)
            if not cred.env.is_broker:
                raise UsageError("trading keys have no scope matrix")
            cred.access = access
            self._save()

    def register_public_key(self, key_id: str, text: str) -> None:
        key_obj, alg = load_public_key(text)
        with self.lock:
            cred = self.get(key_id)
            if cred.flow is not Flow.PRIVATE_KEY_JWT:
                raise UsageError(f"{key_id} is a {cred.flow.value} credential; only private-key-jwt "
                                 "credentials have a public key")
            cred.public_key, cred.alg, cred._key_obj = text, alg, key_obj
            self._save()

    def list_info(self, now: float) -> list[dict[str, Any]]:
        with self.lock:
            return [c.info(now) for c in self.credentials.values()]

    def note_rejection(self, **note: Any) -> None:
        with self.lock:
            self.rejections.append(note)

    # -- tokens ------------------------------------------------------------------------
    def issue_token(self, cred: Credential, now: float) -> tuple[str, int]:
        token = secrets.token_urlsafe(48)
        with self.lock:
            # forget expired tokens and jtis so memory stays bounded
            self.tokens = {t: r for t, r in self.tokens.items() if r.expires_at > now}
            self.jtis = {k: exp for k, exp in self.jtis.items() if exp > now - 3600}
            lifetime = self.token_lifetime
            self.tokens[token] = TokenRecord(cred.key_id, cred.env, now, now + lifetime)
            self._save()
        return token, lifetime

    def lookup_token(self, token: str) -> TokenRecord | None:
        with self.lock:
            return self.tokens.get(token)

    def use_jti(self, client_id: str, jti: str, exp: float) -> bool:
        """Remember a jti; False when this client already used it (a replay)."""
        with self.lock:
            if (client_id, jti) in self.jtis:
                return False
            self.jtis[(client_id, jti)] = exp
            return True

    # -- counters ----------------------------------------------------------------------
    def count_request(self, role: str) -> None:
        with self.lock:
            self.request_counts[role] += 1

    def count_token_request(self, client_id: str | None) -> None:
        with self.lock:
            self.token_total += 1
            if client_id:
                self.token_counts[client_id] += 1

    def reset_counters(self) -> None:
        with self.lock:
            self.token_counts.clear()
            self.token_total = 0
            self.request_counts.clear()
            self.rejections.clear()

    # -- faults ------------------------------------------------------------------------
    def take_drop(self, role: str) -> bool:
        with self.lock:
            n = self.drop.get(role, 0)
            if n <= 0:
                return False
            self.drop[role] = n - 1
            return True

    def take_fail(self, role: str) -> int | None:
        with self.lock:
            entry = self.fail.get(role)
            if not entry or entry[0] <= 0:
                return None
            entry[0] -= 1
            return entry[1]

    def reset_faults(self) -> None:
        with self.lock:
            self.latency.clear()
            self.fail.clear()
            self.drop.clear()
            self.skew = 0.0
            self.rate.clear()
            self.buckets.clear()
            self.retry_after = self.retry_after_default
            self.revoked_error = self.revoked_error_default

    def consume(self, role: str, ident: str, limit: int, now: float,
                *, spend: bool = True) -> tuple[bool, int, int, int]:
        """Fixed one-minute windows per (role, key). -> (allowed, limit, remaining, reset_epoch)."""
        window = float(int(now // 60) * 60)
        reset = int(window + 60)
        with self.lock:
            bucket = self.buckets.get((role, ident))
            if bucket is None or bucket[0] != window:
                bucket = [window, 0.0]
                self.buckets[(role, ident)] = bucket
            if bucket[1] >= limit:
                return False, limit, 0, reset
            if spend:
                bucket[1] += 1
            return True, limit, max(0, limit - int(bucket[1])), reset

    # -- persistence -------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self.state_dir / STATE_FILE if self.state_dir is not None else None

    def _save(self) -> None:
        path = self.path
        if path is None:
            return
        with self.lock:
            doc = {
                "version": STATE_VERSION,
                "note": "TEST-ONLY data of the local alpaca-tui emulator (fake credentials); "
                        "never store real Alpaca keys here",
                "credentials": [c.to_record() for c in self.credentials.values()],
                "tokens": [{"token": t, "client_id": r.client_id, "env": r.env.value,
                            "issued_at": r.issued_at, "expires_at": r.expires_at}
                           for t, r in self.tokens.items()],
            }
            data = json.dumps(doc, indent=1).encode("utf-8")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path.parent, 0o700)
            fd, tmp = tempfile.mkstemp(prefix=".emulator-", suffix=".tmp", dir=path.parent)
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise

    def _load(self) -> None:
        path = self.path
        if path is None or not path.exists():
            return
        try:
            doc = json.loads(path.read_text("utf-8"))
            for rec in doc.get("credentials", []):
                public_key = rec.get("public_key")
                key_obj, alg = load_public_key(public_key) if public_key else (None, None)
                cred = Credential(
                    key_id=rec["key_id"], env=Env(rec["env"]), flow=Flow(rec["flow"]),
                    secret=rec.get("secret"), access=AccessMatrix.from_dict(rec.get("access") or {}),
                    created_at=float(rec.get("created_at") or 0), expires_at=rec.get("expires_at"),
                    revoked=bool(rec.get("revoked")), public_key=public_key, alg=alg, _key_obj=key_obj)
                self.credentials[cred.key_id] = cred
            for rec in doc.get("tokens", []):
                self.tokens[rec["token"]] = TokenRecord(rec["client_id"], Env(rec["env"]),
                                                        float(rec["issued_at"]), float(rec["expires_at"]))
        except (OSError, ValueError, KeyError, TypeError, UsageError) as exc:
            raise UsageError(f"emulator state file {path} is unreadable: {type(exc).__name__}") from None
