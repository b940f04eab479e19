"""The loopback auth proxy (issue 11): programs use a managed credential without holding it.

``ProxyServer`` (server.py) listens on 127.0.0.1, one port per API of the profile; a child
gets the proxy's URLs and a placeholder key pair (placeholder.py) and nothing real. Each
request is checked (placeholder, then guard.py: expiry, scope matrix, live writes) and
forwarded with the engine's real authentication (forward.py over http1.py), streams are
relayed (relay.py over wsio.py), every call is written to the audit log (audit.py), and a
status file tells other processes the proxy runs (status.py). DEVELOPERS.md, "Seams: proxy".
"""

from __future__ import annotations

from alpaca_tui.core.proxy.placeholder import Placeholder, new_placeholder
from alpaca_tui.core.proxy.server import ProxyServer

__all__ = ["Placeholder", "ProxyServer", "new_placeholder"]
