"""The emulator's control surface, without any HTTP: its clock, its state, and the operations
Alpaca's dashboard would offer (create, revoke, expire credentials; set scopes; register public
keys), the counters tests read, and the fault switches.

:class:`~.server.Emulator` is a :class:`Control` that also serves HTTP; the admin port's routes
(:mod:`.admin`) receive the :class:`Control` in their context, and
:class:`~.client.AdminClient` offers the same method names over that port.

Faults (per role, ``"*"`` for every API role): added latency, the next *n* requests failing
with a status, the next *n* connections dropped without an answer, a clock skew (the server's
clock runs ahead by *s* seconds: token lifetimes and assertion checks use it), per-role
rate limits, and whether 429s carry ``Retry-After``. :mod:`.dispatch` applies them.
Switches fixed at construction: ``retry_after`` (the Retry-After default),
``token_lifetime`` (seconds an access token lives; Alpaca's is 899) and ``revoked_error`` (what
AuthX answers a revoked client; :meth:`Control.set_revoked_error` changes it later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import TOKEN_PATH, Api, Env
from alpaca_tui.core.errors import AlpacaTuiError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator.book import Book
from alpaca_tui.emulator.records import TOKEN_LIFETIME, IssuedCredential, parse_when
from alpaca_tui.emulator.roles import API_ROLES, BROKER_DEFAULT_RATE, ENV_ROLES, ROLE_KIND, check_role
from alpaca_tui.emulator.state import State


class EmulatorError(AlpacaTuiError):
    """The emulator could not start (port in use, bad state dir...)."""


class Control:
    """Clock, state and book of one emulator, and every operation on them.

    ``clock`` drives token lifetimes, credential expiry, assertion checks and rate-limit
    windows (default: the system clock). ``urls`` (role -> base URL) is empty until the
    servers listen (or preset from a fixed port base).
    """

    def __init__(self, *, state_dir: Path | None = None, clock: Clock | None = None,
                 rate_limit_per_min: int = 200, broker_rate_limit_per_min: int = BROKER_DEFAULT_RATE,
                 retry_after: bool = False, token_lifetime: int = TOKEN_LIFETIME,
                 revoked_error: str = "invalid_client") -> None:
        if not 1 <= token_lifetime <= 86400:
            raise ValueError("token_lifetime must be between 1 and 86400 seconds")
        _check_revoked_error(revoked_error)
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.state = State(self.state_dir, token_lifetime=int(token_lifetime), retry_after=retry_after,
                           revoked_error=revoked_error)
        self.book = Book(self.clock.time())
        self.default_rate = {r: (broker_rate_limit_per_min if ROLE_KIND[r] in ("broker", "authx")
                                 else rate_limit_per_min) for r in API_ROLES}
        self.log: Callable[[str], None] | None = None
        self.urls: dict[str, str] = {}

    # -- time and limits ---------------------------------------------------------------
    def now(self) -> float:
        """The server's clock: ``clock.time()`` plus the clock-skew fault."""
        return self.clock.time() + self.state.skew

    def rate_limit(self, role: str) -> int:
        return self.state.rate.get(role, self.default_rate.get(role, 200))

    # -- endpoints ---------------------------------------------------------------------
    def endpoints_for(self, env: Env) -> dict[Api, str]:
        """Base URLs of this emulator for every API of ``env`` (per-profile endpoint overrides)."""
        if not self.urls:
            raise EmulatorError("the emulator is not started")
        return {api_: self.urls[role] for api_, role in ENV_ROLES[Env(env)].items()}

    def token_url(self, env: Env) -> str:
        return self.endpoints_for(env)[Api.AUTH] + TOKEN_PATH

    # -- credentials (the admin surface) -----------------------------------------------
    def create_credential(self, env: Env, flow: Flow, *, access: AccessMatrix | None = None,
                          expires_at: datetime | str | float | None = None, key_id: str | None = None,
                          secret: str | None = None, public_key: str | None = None) -> IssuedCredential:
        """Register a credential; IDs and secrets are generated Alpaca-style when not given.

        private-key-jwt credentials have no secret: pass ``public_key`` (PEM or JWK) here or
        later with :meth:`register_public_key`.
        """
        cred = self.state.add_credential(Env(env), Flow(flow), now=self.now(), access=access,
                                         expires_at=parse_when(expires_at), key_id=key_id, secret=secret,
                                         public_key=public_key)
        return IssuedCredential(cred.key_id, cred.secret, cred.env, cred.flow)

    def revoke(self, key_id: str) -> None:
        self.state.revoke(key_id)

    def expire(self, key_id: str) -> None:
        """Make the credential expired now (by the emulator's clock)."""
        self.state.expire(key_id, self.now())

    def set_expiry(self, key_id: str, expires_at: datetime | str | float | None) -> None:
        self.state.set_expiry(key_id, parse_when(expires_at))

    def set_access(self, key_id: str, access: AccessMatrix) -> None:
        self.state.set_access(key_id, access)

    def register_public_key(self, key_id: str, pem_or_jwk: str) -> None:
        self.state.register_public_key(key_id, pem_or_jwk)

    def list_credentials(self) -> list[dict[str, Any]]:
        """Every credential without secret material."""
        return self.state.list_info(self.now())

    def credential_info(self, key_id: str) -> dict[str, Any]:
        return self.state.get(key_id).info(self.now())

    def rejections(self) -> list[dict[str, Any]]:
        """Why recent requests were refused (emulator-only notes: e.g. a paper key on live
        trading is answered with Alpaca's plain 401, and noted here with its real env)."""
        with self.state.lock:
            return list(self.state.rejections)

    # -- counters ----------------------------------------------------------------------
    def token_requests(self, client_id: str | None = None) -> int:
        with self.state.lock:
            return self.state.token_total if client_id is None else self.state.token_counts[client_id]

    def requests(self, role: str) -> int:
        check_role(role)
        with self.state.lock:
            return self.state.request_counts[role]

    def reset_counters(self) -> None:
        self.state.reset_counters()

    # -- faults ------------------------------------------------------------------------
    def _roles(self, role: str) -> tuple[str, ...]:
        return API_ROLES if role in ("*", "all") else (check_role(role),)

    def set_latency(self, role: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self.state.lock:
            for r in self._roles(role):
                self.state.latency[r] = float(seconds)

    def fail_next(self, role: str, n: int, status: int = 503) -> None:
        if n < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next needs n >= 0 and a 4xx/5xx status")
        with self.state.lock:
            for r in self._roles(role):
                self.state.fail[r] = [int(n), int(status)]

    def drop_next(self, role: str, n: int) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        with self.state.lock:
            for r in self._roles(role):
                self.state.drop[r] = int(n)

    def set_clock_skew(self, seconds: float) -> None:
        with self.state.lock:
            self.state.skew = float(seconds)

    def set_rate_limit(self, role: str, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        with self.state.lock:
            for r in self._roles(role):
                self.state.rate[r] = int(per_minute)

    def set_retry_after(self, enabled: bool) -> None:
        """Send ``Retry-After`` on 429 answers (rate limits, injected 429s) or not (Alpaca's specs
        list only the ``X-RateLimit-*`` headers)."""
        with self.state.lock:
            self.state.retry_after = bool(enabled)

    def set_revoked_error(self, code: str) -> None:
        """What AuthX answers a revoked client: ``invalid_client`` (RFC 6749) or ``token_inactive``
        (both in AuthX's vocabulary; which one Alpaca sends is UNCONFIRMED)."""
        _check_revoked_error(code)
        with self.state.lock:
            self.state.revoked_error = code

    @property
    def token_lifetime(self) -> int:
        return self.state.token_lifetime

    def reset_faults(self) -> None:
        """Clear latency, pending failures/drops, clock skew, rate limits and rate windows; the
        Retry-After switch returns to the emulator's setting."""
        self.state.reset_faults()


def _check_revoked_error(code: str) -> None:
    if code not in ("invalid_client", "token_inactive"):
        raise ValueError("revoked_error must be invalid_client or token_inactive")
