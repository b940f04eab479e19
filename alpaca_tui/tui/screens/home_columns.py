"""The home list's columns: which fit a terminal of a given width, in priority order."""

from __future__ import annotations

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Credential", 18),
    ("flow", "Flow", 12),
    ("key", "Key ID", 9),
    ("access", "Access", 9),
    ("expires", "Expires", 9),
    ("verified", "Verified", 9),
    ("token", "Token", 10),
)
# When the columns do not fit, these go first, in this order (the summary panel under the list
# shows them for the selected credential). Name, expiry and last check always stay.
DROP_ORDER: tuple[str, ...] = ("key", "access", "flow", "token")
NAME_MIN, NAME_MAX = 16, 30
SCROLLBAR = 2  # kept free for the list's scrollbar
NARROW_FLOW = {"key+secret": "key", "oauth secret": "secret", "oauth jwt": "jwt"}


def fit_columns(width: int, narrow: bool) -> list[tuple[str, str, int]]:
    """The columns for a terminal ``width`` wide: every column while the name gets NAME_MIN
    cells, else dropping by DROP_ORDER; the name takes what is left (up to NAME_MAX)."""
    cols = [(k, label, 6 if narrow and k == "flow" else w) for k, label, w in COLUMNS]
    available = width - SCROLLBAR
    for key in DROP_ORDER:
        fixed = sum(w for k, _, w in cols if k != "name") + 2 * len(cols)
        if fixed + NAME_MIN <= available:
            break
        cols = [c for c in cols if c[0] != key]
    fixed = sum(w for k, _, w in cols if k != "name") + 2 * len(cols)
    name_width = max(12, min(NAME_MAX, available - fixed))
    return [(k, label, name_width if k == "name" else w) for k, label, w in cols]


__all__ = ["COLUMNS", "DROP_ORDER", "NARROW_FLOW", "fit_columns"]
