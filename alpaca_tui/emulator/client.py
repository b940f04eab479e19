"""``AdminClient(admin_url)``: the emulator's admin operations over its HTTP JSON API.

Same method names as :class:`~alpaca_tui.emulator.Emulator` so code (the TUI's demo wizard,
subprocess tests) can drive an emulator in another process. Stdlib ``urllib`` only.
Failures raise :class:`AdminError` (a one-line message; nothing secret in it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import AlpacaTuiError, NotFoundError, UsageError
from alpaca_tui.core.scopes import AccessMatrix
from alpaca_tui.emulator.state import IssuedCredential


class AdminError(AlpacaTuiError):
    """The emulator's admin API refused a call or could not be reached."""


class AdminClient:
    def __init__(self, admin_url: str, *, timeout: float = 10.0) -> None:
        if not admin_url.startswith(("http://", "https://")):
            raise UsageError(f"invalid emulator admin URL {admin_url!r}: expected http(s)://")
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AdminClient({self.admin_url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin_url + path, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read() or b"{}").get("error") or exc.reason
            except ValueError:
                message = exc.reason
            if exc.code == 404 and path.startswith("/admin/credentials/"):
                raise NotFoundError(str(message)) from None
            if exc.code in (400, 409):
                raise UsageError(str(message)) from None
            raise AdminError(f"emulator admin {method} {path}: HTTP {exc.code} {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminError(f"cannot reach the emulator admin API at {self.admin_url}: {reason}") from None
        return json.loads(raw) if raw else None

    # -- discovery ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/admin/health"))

    @property
    def urls(self) -> dict[str, str]:
        return dict(self._call("GET", "/admin/urls"))

    def endpoints_for(self, env: Env) -> dict[Api, str]:
        data = self._call("GET", f"/admin/endpoints/{Env(env).value}")
        return {Api(k): v for k, v in data.items()}

    # -- credentials -------------------------------------------------------------------
    def create_credential(self, env: Env, flow: Flow, *, access: AccessMatrix | None = None,
                          expires_at: datetime | str | None = None, key_id: str | None = None,
                          secret: str | None = None, public_key: str | None = None) -> IssuedCredential:
        body: dict[str, Any] = {"env": Env(env).value, "flow": Flow(flow).value}
        if access is not None:
            body["access"] = access.to_dict()
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at
        if key_id is not None:
            body["key_id"] = key_id
        if secret is not None:
            body["secret"] = secret
        if public_key is not None:
            body["public_key"] = public_key
        data = self._call("POST", "/admin/credentials", body)
        return IssuedCredential(data["key_id"], data.get("secret"), Env(data["env"]), Flow(data["flow"]))

    def _key(self, key_id: str) -> str:
        return "/admin/credentials/" + quote(key_id, safe="")

    def revoke(self, key_id: str) -> None:
        self._call("POST", self._key(key_id) + "/revoke", {})

    def expire(self, key_id: str) -> None:
        self._call("POST", self._key(key_id) + "/expire", {})

    def set_expiry(self, key_id: str, expires_at: datetime | str | None) -> None:
        value = expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at
        self._call("PUT", self._key(key_id) + "/expires-at", {"expires_at": value})

    def set_access(self, key_id: str, access: AccessMatrix) -> None:
        self._call("PUT", self._key(key_id) + "/access", {"access": access.to_dict()})

    def register_public_key(self, key_id: str, pem_or_jwk: str) -> None:
        self._call("PUT", self._key(key_id) + "/public-key", {"public_key": pem_or_jwk})

    def list_credentials(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/credentials"))

    def credential_info(self, key_id: str) -> dict[str, Any]:
        return dict(self._call("GET", self._key(key_id)))

    def rejections(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/admin/rejections"))

    # -- counters ----------------------------------------------------------------------
    def token_requests(self, client_id: str | None = None) -> int:
        q = "?" + urlencode({"client_id": client_id}) if client_id else ""
        return int(self._call("GET", "/admin/counters" + q)["token_requests"])

    def requests(self, role: str) -> int:
        counts = self._call("GET", "/admin/counters")["requests"]
        if role not in counts:
            raise ValueError(f"unknown emulator role {role!r}")
        return int(counts[role])

    def reset_counters(self) -> None:
        self._call("POST", "/admin/counters/reset", {})

    # -- faults ------------------------------------------------------------------------
    def set_latency(self, role: str, seconds: float) -> None:
        self._call("POST", "/admin/faults/latency", {"role": role, "seconds": seconds})

    def fail_next(self, role: str, n: int, status: int = 503) -> None:
        self._call("POST", "/admin/faults/fail", {"role": role, "n": n, "status": status})

    def drop_next(self, role: str, n: int) -> None:
        self._call("POST", "/admin/faults/drop", {"role": role, "n": n})

    def set_clock_skew(self, seconds: float) -> None:
        self._call("POST", "/admin/faults/clock-skew", {"seconds": seconds})

    def set_rate_limit(self, role: str, per_minute: int) -> None:
        self._call("POST", "/admin/faults/rate-limit", {"role": role, "per_minute": per_minute})

    def set_retry_after(self, enabled: bool) -> None:
        self._call("POST", "/admin/faults/retry-after", {"enabled": bool(enabled)})

    def set_revoked_error(self, code: str) -> None:
        self._call("POST", "/admin/faults/revoked-error", {"error": code})

    def reset_faults(self) -> None:
        self._call("POST", "/admin/faults/reset", {})
