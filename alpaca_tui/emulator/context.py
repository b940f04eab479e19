"""What a route handler receives: :class:`Ctx`, one per request.

A handler is ``Callable[[Ctx], Reply]`` (:mod:`.routing`). The context carries the request
(method, path, query, headers, body), the path parameters its route matched, who is calling
(:class:`Principal`, once :mod:`.authn` accepted the credentials), the server's time (the
emulator's clock plus the clock-skew fault), the host role, and the shared state: the
credential database (:class:`~.state.State`) and the fake back office (:class:`~.accounts.Book`).
Faults, rate limits and scope checks have already been applied by :mod:`.dispatch` when a
handler runs, so handlers only compute answers.

Admin routes also get ``control``: the emulator's control surface (credentials, counters,
faults) that the admin port exposes over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alpaca_tui.emulator.book import Book
from alpaca_tui.emulator.control import Control
from alpaca_tui.emulator.records import Credential
from alpaca_tui.emulator.state import State
from alpaca_tui.emulator.wire import Request


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of an API route."""

    cred: Credential
    via: str          # "headers" | "basic" | "bearer"


@dataclass
class Ctx:
    req: Request
    role: str                             # the host role answering (roles.ROLES)
    params: dict[str, str]                # path parameters of the matched route
    now: float                            # server time: the clock plus the skew fault
    state: State
    book: Book
    principal: Principal | None = None    # None: an anonymous route called without credentials
    urls: Mapping[str, str] = field(default_factory=dict)   # role -> this emulator's base URL
    control: Control | None = None        # admin routes only

    # -- the request, in short ---------------------------------------------------------
    @property
    def method(self) -> str:
        return self.req.method

    @property
    def path(self) -> str:
        return self.req.path

    @property
    def body(self) -> bytes:
        return self.req.body

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        return self.req.arg(name, default)

    def header(self, name: str) -> str | None:
        return self.req.header(name)

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return self.req.json()
