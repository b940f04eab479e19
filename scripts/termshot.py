"""Pictures and recordings of a real program in a pty: SVG screenshots of what the terminal
shows, an asciinema v2 cast of everything it wrote, and the secret check for both.

- :class:`Recorder` is the tests' pty driver (tests/ptydrive.py) keeping a timestamp with
  every chunk the program writes: the events of a cast.
- :func:`svg` renders the terminal's screen (pyte's cells, with their colours and attributes)
  through Rich's SVG export, the same exporter Textual's screenshots use.
- :func:`write_cast` writes asciinema's v2 format: a JSON header line, then one JSON array
  ``[seconds, "o", text]`` per chunk of output (https://docs.asciinema.org/manual/asciicast/v2/).
- :func:`secret_shapes` finds anything shaped like a secret the demo emulator issues: legacy
  secrets are 40 mixed-case alphanumerics, OAuth client secrets 64 base32 characters, access
  tokens 64 URL-safe base64 characters, and a private key has a PEM header. The demo's real
  secrets never leave its processes, so screens and casts are checked for their shapes.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.ptydrive import Terminal  # noqa: E402

# pyte's colour names -> Rich's
_NAMES = {"brown": "yellow", "brightbrown": "bright_yellow"}
_RUN = re.compile(r"[A-Za-z0-9_+/=-]{32,}")
_PEM_PRIVATE = re.compile(r"PRIVATE KEY")


class Recorder(Terminal):
    """A Terminal that keeps ``(seconds since start, bytes)`` for every read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: list[tuple[float, bytes]] = []
        super().__init__(*args, **kwargs)

    def pump(self, timeout: float = 0.0) -> bool:
        before = len(self._raw)
        got = super().pump(timeout)
        if got:
            self.events.append((self.elapsed(), bytes(self._raw[before:])))
        return got


def _colour(value: str) -> str | None:
    if value == "default":
        return None
    if re.fullmatch(r"[0-9a-fA-F]{6}", value):
        return "#" + value
    name = _NAMES.get(value, value)
    return "bright_" + name[6:] if name.startswith("bright") and not name.startswith("bright_") else name


def _style(attrs: tuple[Any, ...] | None) -> Any:
    from rich.style import Style

    assert attrs is not None
    fg, bg, bold, italic, underline, strike, reverse, _blank = attrs
    return Style(color=_colour(fg), bgcolor=_colour(bg), bold=bold, italic=italic, underline=underline,
                 strike=strike, reverse=reverse)


def svg(term: Terminal, title: str) -> str:
    """The terminal's screen now, as an SVG (Rich's terminal-window export)."""
    from rich.console import Console
    from rich.segment import Segment, Segments

    screen = term.screen
    console = Console(record=True, width=screen.columns, file=io.StringIO(), color_system="truecolor",
                      force_terminal=True, legacy_windows=False)
    segments: list[Segment] = []
    for y in range(screen.lines):
        row = screen.buffer[y]
        run: list[str] = []
        key: tuple[Any, ...] | None = None
        for x in range(screen.columns):
            cell = row[x]
            if cell.data == "":  # the right half of a wide character
                continue
            # a new segment at each change of style and at each word's edge: every word gets its
            # own x position in the SVG, so columns line up whatever font the viewer falls back to
            attrs = (cell.fg, cell.bg, cell.bold, cell.italics, cell.underscore, cell.strikethrough,
                     cell.reverse, cell.data == " ")
            if attrs != key and run:
                segments.append(Segment("".join(run), _style(key)))
                run = []
            key = attrs
            run.append(cell.data)
        if run:
            segments.append(Segment("".join(run), _style(key)))
        segments.append(Segment.line())
    console.print(Segments(segments), end="", crop=True, soft_wrap=False)
    return console.export_svg(title=title)


def write_cast(path: Path, events: list[tuple[float, bytes]], size: tuple[int, int], title: str, *,
               idle_limit: float = 2.0) -> None:
    """Write ``events`` as an asciinema v2 cast; pauses longer than ``idle_limit`` are shortened."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    header = {"version": 2, "width": size[0], "height": size[1], "timestamp": int(time.time()),
              "idle_time_limit": idle_limit, "title": title, "env": {"TERM": "xterm-256color"}}
    lines = [json.dumps(header)]
    clock = last = 0.0
    for t, data in events:
        clock += min(t - last, idle_limit)
        last = t
        text = decoder.decode(data)
        if text:
            lines.append(json.dumps([round(clock, 4), "o", text], ensure_ascii=False))
    tail = decoder.decode(b"", final=True)
    if tail:
        lines.append(json.dumps([round(clock, 4), "o", tail], ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def secret_shapes(text: str) -> list[str]:
    """Runs of text shaped like a secret (see the module doc); hex digests and UUIDs (account and
    request IDs) are not secrets."""
    found = [m.group(0) for m in _RUN.finditer(text) if not re.fullmatch(r"[0-9a-f-]+", m.group(0))]
    return found + _PEM_PRIVATE.findall(text)


def svg_text(document: str) -> str:
    """The text an SVG screenshot shows (its ``<text>`` elements, one line per row)."""
    import html

    rows: dict[str, list[str]] = {}
    for y, content in re.findall(r'<text[^>]*\by="([\d.]+)"[^>]*>([^<]*)</text>', document):
        rows.setdefault(y, []).append(html.unescape(content))
    return "\n".join(" ".join(parts) for _, parts in sorted(rows.items(), key=lambda kv: float(kv[0])))


def replay(cast: Path) -> tuple[dict[str, Any], list[str]]:
    """The cast's header and the screen text after each event (a pyte terminal of its size)."""
    import pyte

    header, *events = (json.loads(line) for line in cast.read_text(encoding="utf-8").splitlines())
    screen = pyte.Screen(header["width"], header["height"])
    stream = pyte.Stream(screen)
    frames = []
    for _t, _kind, text in events:
        stream.feed(text)
        frames.append("\n".join(screen.display))
    return header, frames
