"""Text from outside in the TUI: shown as it is, never obeyed, never markup.

Rich keeps ESC and the C1 controls in a ``Text`` (it strips only BEL, BS, VT, FF and CR),
and Textual writes them to the terminal with the rest of the frame: a server message with
``ESC ] 0 ; title BEL`` would set the window title, one with ``ESC [ 2 J`` blank the screen.
And a ``str`` given to ``Static.update``, ``Label``, a ``DataTable`` cell or ``notify`` is
parsed as markup: ``[link=...]`` from a server would become a link, ``[/]`` an exception.

So everything that did not come from this program's own code (server answers, stored
fields of the index, exception messages, user input echoed back) is shown through this
module, which cleans it with :mod:`alpaca_tui.core.sanitize` and wraps it in a Rich
``Text`` (no markup is ever parsed). The app's ``notify`` goes through :func:`notice`
too, so every notification is plain and clean (``tui/app.py``). Screenshots are exported
from the same widgets, so they hold the same cleaned text.
"""

from __future__ import annotations

from typing import Any

from rich.highlighter import JSONHighlighter
from rich.text import Text

from alpaca_tui.core.sanitize import clean, clean_line, json_text

__all__ = ["VIEW_LIMIT", "body", "json_view", "line", "notice", "plain", "shown"]

VIEW_LIMIT = 64 * 1024    # characters of an answer the tester shows (and keeps in its history)

_JSON = JSONHighlighter()


def plain(value: object) -> str:
    """``value`` as one clean line of text, for a place that takes a plain string."""
    return clean_line(" ".join(str(value if value is not None else "").split()))


def shown(value: object, style: str = "") -> Text:
    """``value`` as a Text: cleaned (newlines kept), never markup."""
    return Text(clean(str(value if value is not None else "")), style=style)


def line(value: object, style: str = "") -> Text:
    """``value`` as a one-line Text (whitespace runs collapsed), cleaned, never markup."""
    return Text(plain(value), style=style)


def json_view(value: Any) -> Text:
    """A parsed JSON answer, pretty-printed and highlighted; unsafe characters JSON-escaped."""
    return _JSON(Text(json_text(value, indent=2)))


def body(text: str, *, truncated: bool = False, style: str = "") -> Text:
    """An answer's text for the tester: cleaned, at most :data:`VIEW_LIMIT` characters, with a
    note when the engine stopped reading it at its cap or the view cut it."""
    out = shown(text[:VIEW_LIMIT], style=style)
    if truncated:
        out.append("\n… truncated: the answer is larger than the body cap (ALPACA_TUI_MAX_BODY); "
                   "only its start was read", style="bold yellow")
    elif len(text) > VIEW_LIMIT:
        out.append(f"\n… {len(text) - VIEW_LIMIT:,} more characters not shown", style="bold yellow")
    return out


def notice(message: object, title: object = "") -> tuple[str, str]:
    """(message, title) for ``notify(..., markup=False)``: clean, the message's lines kept."""
    text = clean(str(message if message is not None else ""))
    return text, plain(title)
