"""The credential's running auth proxies and its recent audit lines (details screen).

Reads what the proxies publish (``core/proxy/status.py`` status files, the tail of
``audit.jsonl``) in a thread worker whenever the screen asks (every couple of ticks); it never
talks to a proxy. Values come from files: they are shown sanitized.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Static

from alpaca_tui.core.proxy.audit import tail_audit
from alpaca_tui.core.proxy.status import ProxyStatus, running_proxies

__all__ = ["ProxyPanel"]


def _clean(value: Any, width: int = 60) -> str:
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _token(st: ProxyStatus, now: float) -> str:
    tok = st.token
    if not tok:
        return "key pair (no token)"
    left = max(0, int(float(tok.get("expires_at") or 0) - now))
    err = f"  last error: {_clean(tok.get('last_error'), 40)}" if tok.get("last_error") else ""
    return f"token {left // 60}:{left % 60:02d} left, {tok.get('token_requests', 0)} token requests{err}"


class ProxyPanel(Static):
    """Proxies for ``name`` and its last audit lines; :meth:`poll` re-reads them."""

    @dataclass
    class Read(Message):
        proxies: list[ProxyStatus]
        lines: list[dict[str, Any]]
        now: float

    def __init__(self, home: Path | None, name: str, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.home = home
        self.profile_name = name
        self.proxies: list[ProxyStatus] = []
        self.lines: list[dict[str, Any]] = []
        self.border_title = "auth proxy"

    def on_mount(self) -> None:
        self.render_panel(0.0)

    def poll(self) -> None:
        if self.home is not None:
            self._read(self.home)

    @work(thread=True, exclusive=True, group="proxy-panel", exit_on_error=False)
    def _read(self, home: Path) -> None:
        now = time.time()   # the proxies stamp their files with the system clock
        self.post_message(self.Read(running_proxies(home, now, profile=self.profile_name),
                                    tail_audit(home, self.profile_name, 5), now))

    def on_proxy_panel_read(self, message: ProxyPanel.Read) -> None:
        message.stop()
        self.proxies, self.lines = message.proxies, message.lines
        self.render_panel(message.now)

    def render_panel(self, now: float) -> None:
        t = Table.grid(padding=(0, 1))
        t.add_column(no_wrap=True)
        t.add_column(ratio=1)
        if not self.proxies:
            t.add_row(Text("none running", style="dim"),
                      Text(f"alpaca-tui exec {self.profile_name} --proxy -- CMD", style="dim"))
        for st in self.proxies:
            ports = ", ".join(f"{_clean(api)} {_clean(url).rsplit(':', 1)[-1]}"
                              for api, url in st.urls.items())
            served = f"{st.requests} requests ({st.refused} refused)"
            t.add_row(Text(f"pid {st.pid}", style="bold"),
                      Text(f"ports {ports} · {served} · {_token(st, now)}"))
        for line in self.lines:
            status = line.get("status")
            style = "green" if isinstance(status, int) and status < 400 else "red"
            t.add_row(Text(_clean(str(line.get("time", ""))[11:19]), style="dim"),
                      Text.assemble((f"{_clean(status, 4)} ", style),
                                    f"{_clean(line.get('method'), 7)} {_clean(line.get('path'))} "
                                    f"{_clean(line.get('decision'), 14)}"))
        self.update(t)
