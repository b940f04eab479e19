"""Local Alpaca auth/API emulator serving real HTTP on loopback. Never imports Textual.

``from alpaca_tui.emulator import Emulator``. The parts, in the order a request meets them:

* :mod:`.server` — the :class:`Emulator`: HTTP servers, one per host role, and their lifecycle.
* :mod:`.dispatch` — the pipeline: faults, route match (no route: 501 for an operation of
  Alpaca's published specs, :mod:`.catalog`; else 404 / 405), :mod:`.authn`, rate limit, scopes.
* :mod:`.routes` — ``table(role)``: each role's :class:`~.routing.RouteTable`; the tables are
  :mod:`.api` (trading, data, broker: the path -> scope table), :mod:`.authx` (token
  endpoint) and :mod:`.admin` (the admin port).
* Handlers — :mod:`.trading`, :mod:`.activities`, :mod:`.watchlists`, :mod:`.data`,
  :mod:`.broker`, :mod:`.funding`, :mod:`.events` (SSE), :mod:`.authx`, :mod:`.admin`; each gets a
  :class:`~.context.Ctx` and returns a :class:`~.wire.Reply`.
* Shared state — :mod:`.control` (the admin surface: credentials, counters, faults, switches),
  :mod:`.state` + :mod:`.records` (credentials, tokens), :mod:`.book` + :mod:`.accounts` +
  :mod:`.orders` + :mod:`.eventlog` (the fake back office), :mod:`.market` + :mod:`.history`
  (prices, clock, calendar, series), :mod:`.roles` (role names, order, envs).
* :mod:`.client` (``AdminClient``: the admin API over HTTP), :mod:`.demo` (seeded demo profiles).

The names below load on first use, so importing one part (``alpaca_tui.emulator.routing``)
does not start the whole emulator's import chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpaca_tui.core.lazy import lazy_exports

if TYPE_CHECKING:
    from alpaca_tui.emulator.records import TOKEN_LIFETIME, IssuedCredential
    from alpaca_tui.emulator.roles import API_ROLES, ROLES
    from alpaca_tui.emulator.server import Emulator, EmulatorError

_EXPORTS = {
    "API_ROLES": "roles", "ROLES": "roles", "TOKEN_LIFETIME": "records", "IssuedCredential": "records",
    "Emulator": "server", "EmulatorError": "control",
}

__all__ = ["API_ROLES", "ROLES", "TOKEN_LIFETIME", "Emulator", "EmulatorError", "IssuedCredential"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
