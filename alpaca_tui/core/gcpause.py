"""Start-up without the cyclic garbage collector.

Everything the TUI builds before its first frame (the imports, the CSS, the widgets, a list of
500 profiles) is kept, yet CPython's collector walks it over and over while it grows: ~120
collections before the first frame, one of them a full one (~30–50 ms of a ~450 ms start on
a 2-core machine, measured with ``gc.callbacks``). So ``alpaca-tui`` pauses the collector when
it starts and, once the first frame is on screen, freezes what start-up built (``gc.freeze``:
moved to the permanent generation, never walked again) and resumes it. ``check`` does the same
once its imports are done and its requests go out (54 collections, ~11 ms of a ~210 ms run);
every other command resumes it before it runs (:func:`alpaca_tui.cli.main.main`, which also
resumes it when it returns). Reference counting frees everything as usual meanwhile: only
cycles wait.

A collector someone else disabled (an embedding program, a test) is left as it was.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Disable the collector, if it is enabled (a no-op otherwise)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume(*, freeze: bool = False) -> None:
    """Enable the collector again if :func:`pause` disabled it; ``freeze`` first moves every
    object alive now out of its reach (what start-up built stays for the whole run)."""
    global _paused
    if not _paused:
        return
    _paused = False
    if freeze:
        gc.freeze()
    gc.enable()


def paused() -> bool:
    return _paused


__all__ = ["pause", "paused", "resume"]
