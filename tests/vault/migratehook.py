"""Run the real ``alpaca-tui store migrate`` and stall it right after a chosen step, so a test can
``kill -9`` it there (``python -c BOOT ARGS...``, cwd = the repository).

``ALPACA_TUI_MIGRATE_STALL=PREFIX`` — the first migration step whose progress line starts with
PREFIX ("copied p01", "indexed", "this home now keeps", "removed p01") blocks forever once it
has happened; ``ALPACA_TUI_MIGRATE_READY=PATH`` is written then. Everything else is the
unmodified app.
"""

from __future__ import annotations

import os
import time
from typing import Any

BOOT = ("import tests.vault.migratehook as h; h.install(); import runpy; "
        "runpy.run_module('alpaca_tui', run_name='__main__', alter_sys=True)")


def install() -> None:
    prefix = os.environ["ALPACA_TUI_MIGRATE_STALL"]
    ready = os.environ["ALPACA_TUI_MIGRATE_READY"]
    from alpaca_tui.core.store import migrate

    real_init = migrate.Migration.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        inner = self.on_step

        def on_step(text: str) -> None:
            inner(text)
            if text.startswith(prefix):
                with open(ready + ".tmp", "w", encoding="utf-8") as fh:
                    fh.write(f"{os.getpid()} {text}\n")
                os.replace(ready + ".tmp", ready)
                while True:
                    time.sleep(60)

        self.on_step = on_step

    migrate.Migration.__init__ = init  # type: ignore[method-assign]
