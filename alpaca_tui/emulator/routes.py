"""The route table of every host role: ``table(role)``, ``tables()``.

=============================  ========  =======================================================
role                           kind      routes
=============================  ========  =======================================================
trading-live, trading-paper    trading   :data:`.api.TRADING`
data, data-sandbox             data      :data:`.api.DATA` (broker credentials need Data)
broker-live, broker-sandbox    broker    :data:`.api.BROKER` (each route: its scope, and the
                                         level from its method)
authx-live, authx-sandbox      authx     :data:`.authx.ROUTES` (``POST /v1/oauth2/token``)
admin                          admin     :data:`.admin.ROUTES`
=============================  ========  =======================================================

Both roles of a kind share the same :class:`~.routing.Route` objects; which credentials a role
accepts is :data:`~.roles.ROLE_ENVS`. This is what :mod:`.dispatch` serves, and what tests
walk (``for route in table(role): ...``).
"""

from __future__ import annotations

from functools import cache

from alpaca_tui.emulator import admin, api, authx
from alpaca_tui.emulator.roles import ROLE_KIND, ROLES, check_role
from alpaca_tui.emulator.routing import Route, RouteTable

_BY_KIND: dict[str, tuple[Route, ...]] = {**api.BY_KIND, "authx": authx.ROUTES, "admin": admin.ROUTES}
# The token endpoint and the admin port ignore trailing slashes and answer HEAD like any other
# method they do not serve; the API hosts answer HEAD with their GET route.
_PLAIN = frozenset({"authx", "admin"})


@cache
def table(role: str) -> RouteTable:
    """The routes ``role`` serves, in match order (ValueError for an unknown role)."""
    kind = ROLE_KIND[check_role(role, allow_admin=True)]
    plain = kind in _PLAIN
    return RouteTable(role, kind, _BY_KIND[kind], head_as_get=not plain, strip_slashes=plain)


def tables() -> dict[str, RouteTable]:
    """Every role's table, in :data:`~.roles.ROLES` order."""
    return {role: table(role) for role in ROLES}
