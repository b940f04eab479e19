"""Roles from the token's policies: ``sys/capabilities-self`` on the layout's paths.

What each action needs (``<m>`` the mount, ``<p>`` the prefix, ``NAME`` the profile)::

    list / show       read    <m>/data/<p>/index
    create (add)      create  <m>/data/<p>/secrets/NAME     update  <m>/data/<p>/index
    rotate            read + update  <m>/data/<p>/secrets/NAME   update  <m>/data/<p>/index
    delete (remove)   delete  <m>/metadata/<p>/secrets/NAME  update  <m>/data/<p>/index
    reveal, check,    read    <m>/data/<p>/secrets/NAME
    exec, proxy

The shipped policies (``assets/vault/alpaca-tui-viewer.hcl``: the index and the secrets'
metadata, never their data; ``alpaca-tui-superuser.hcl``: everything under the prefix) give
exactly the two roles. Answers are kept for :data:`CAPS_TTL` seconds (policies rarely change
within a command; a long-running TUI sees a change within a minute).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from alpaca_tui.core.store.access import Action
from alpaca_tui.core.store.vault.session import VaultSession

CAPS_TTL = 60.0
ANY_PROFILE = "any-profile"   # the path asked about when no profile is named (e.g. the TUI's badge)
_WRITE_INDEX = ("index", "update")
NEEDS: dict[Action, tuple[tuple[str, str], ...]] = {
    Action.LIST: (("index", "read"),),
    Action.CREATE: (("secret", "create"), _WRITE_INDEX),
    Action.ROTATE: (("secret", "read"), ("secret", "update"), _WRITE_INDEX),
    Action.DELETE: (("secret-metadata", "delete"), _WRITE_INDEX),
    Action.REVEAL: (("secret", "read"),),
    Action.CHECK: (("secret", "read"),),
    Action.EXEC: (("secret", "read"),),
    Action.PROXY: (("secret", "read"),),
}
VERB = {Action.LIST: "list profiles", Action.CREATE: "add a profile", Action.ROTATE: "rotate a secret",
        Action.DELETE: "remove a profile", Action.REVEAL: "reveal a secret",
        Action.CHECK: "use a secret (check, request)", Action.EXEC: "hand a credential to a program (exec)",
        Action.PROXY: "sign requests with a credential (proxy)"}


class Roles:
    """Capabilities of the session's token on the layout's paths (see the module doc)."""

    def __init__(self, session: VaultSession) -> None:
        self.session = session
        self._caps: dict[str, tuple[float, frozenset[str]]] = {}
        self._mutex = threading.Lock()

    def paths(self, name: str | None) -> dict[str, str]:
        cfg = self.session.config
        profile = name or ANY_PROFILE
        return {"index": cfg.api_path(cfg.key("index")),
                "secret": cfg.api_path(cfg.key("secrets", profile)),
                "secret-metadata": cfg.api_path(cfg.key("secrets", profile), metadata=True),
                "token": cfg.api_path(cfg.key("tokens", profile))}

    def capabilities(self, paths: list[str]) -> dict[str, frozenset[str]]:
        now = time.monotonic()
        with self._mutex:
            known = {p: c for p, (t, c) in self._caps.items() if p in paths and now - t < CAPS_TTL}
        missing = [p for p in paths if p not in known]
        if missing:
            def ask(client: Any) -> dict[str, Any]:
                got = client.adapter.post("/v1/sys/capabilities-self", json={"paths": missing})
                return dict(got.get("data") or got)

            answer = self.session.call(ask, "sys/capabilities-self", "update")
            with self._mutex:
                for p in missing:
                    caps = frozenset(str(c) for c in answer.get(p) or answer.get("capabilities") or [])
                    self._caps[p] = (now, caps)
                    known[p] = caps
        return known

    def refusal(self, action: Action, name: str | None = None) -> str | None:
        paths = self.paths(name)
        needs = [(paths[kind], cap) for kind, cap in NEEDS[action]]
        caps = self.capabilities(sorted({p for p, _ in needs}))  # unreachable, sealed: StoreError
        for path, cap in needs:
            have = caps.get(path, frozenset())
            if "root" in have or (cap in have and "deny" not in have):
                continue
            who = self.session.token
            role = f" ({who.display_name}; policies {', '.join(who.policies) or 'none'})" if who else ""
            return (f"this OpenBao / Vault token{role} may not {VERB[action]}: it lacks the '{cap}' "
                    f"capability on {path} (the alpaca-tui-superuser policy grants it)")
        return None


__all__ = ["ANY_PROFILE", "CAPS_TTL", "NEEDS", "Roles"]
