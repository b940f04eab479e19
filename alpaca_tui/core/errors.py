"""Error types shared by every layer.

Every error that can reach a user carries a one-line message and an exit code:
0 ok, 1 failure (network, auth, store), 2 usage (bad input). Messages must never
contain secret material; build them with :func:`alpaca_tui.core.redact.redact`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class AlpacaTuiError(Exception):
    """Base for errors that are shown to the user as one line."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line

    def __str__(self) -> str:
        return self.message


class UsageError(AlpacaTuiError):
    """Bad input from the user: malformed key, bad date, unknown scope..."""

    exit_code = EXIT_USAGE


class NotFoundError(UsageError):
    """A named profile (or similar) does not exist."""


class StoreError(AlpacaTuiError):
    """The secret store or index could not be read or written."""


class WrongPassphraseError(StoreError):
    """The encrypted file store could not be decrypted with the passphrase given."""


class BackendUnavailableError(StoreError):
    """No acceptable secret backend is available (or the forced one is not)."""


class AccessDeniedError(StoreError):
    """The store's credentials do not allow this (a viewer's Vault token asked to write or reveal)."""
