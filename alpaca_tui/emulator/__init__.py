"""Local Alpaca auth/API emulator serving real HTTP on loopback. Never imports Textual.

``from alpaca_tui.emulator import Emulator``; see :mod:`.server` (lifecycle, faults),
:mod:`.roles` (role names, order, envs), :mod:`.authx` (token endpoint), :mod:`.api`
(routes, auth, the path -> scope table), :mod:`.admin` / :mod:`.client` (admin API),
:mod:`.demo` (seeded demo profiles).
"""

from __future__ import annotations

from alpaca_tui.emulator.roles import API_ROLES, ROLES
from alpaca_tui.emulator.server import Emulator, EmulatorError
from alpaca_tui.emulator.state import TOKEN_LIFETIME, IssuedCredential

__all__ = ["API_ROLES", "ROLES", "TOKEN_LIFETIME", "Emulator", "EmulatorError", "IssuedCredential"]
