"""The key-pair generation step shared by the creation wizard and the rotation screen.

Generating a key (RSA especially) takes long enough to stall the UI, so it runs in a thread
worker. The screen or widget that asked gets :class:`KeyPairReady` (the private half goes to the
secret store only) or ``OperationFailed("key generation", ...)``.
"""

from __future__ import annotations

from textual.widget import Widget

from alpaca_tui.tui import services
from alpaca_tui.tui.messages import KeyPairReady, OperationFailed


def generate_keypair_in_worker(screen: Widget) -> None:
    """Generate a private_key_jwt key pair for ``screen`` (a Screen or any widget) off the UI
    thread (one at a time per widget)."""

    def generate() -> None:
        try:
            pair = services.generate_keypair()
        except Exception as exc:
            screen.post_message(OperationFailed("key generation", services.one_line(exc)))
            return
        screen.post_message(KeyPairReady(pair))

    screen.run_worker(generate, thread=True, exclusive=True, group="keygen", exit_on_error=False)


__all__ = ["generate_keypair_in_worker"]
