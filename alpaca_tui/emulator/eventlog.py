"""The Broker API's event log: what the back office records as state changes (one
:class:`EventLog` per broker host), in order, each :class:`Event` with its per-topic sequence
number (the v1 ``event_id``) and a ULID (v1 ``event_ulid``, v2 ``event_id``). The streams that
serve it are in :mod:`.events`."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TOPICS = ("accounts", "transfers", "journals", "trades", "nta", "funding", "system", "admin")


def ulid(now: float, entropy: int | None = None) -> str:
    """A ULID: 48-bit milliseconds + 80 random bits, Crockford base32 (26 characters)."""
    rand = entropy if entropy is not None else int.from_bytes(os.urandom(10), "big")
    value = (int(now * 1000) << 80) | (rand & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


@dataclass(frozen=True)
class Event:
    topic: str
    seq: int              # v1 event_id, per topic from 1
    ulid: str             # sortable, unique across topics
    at: float
    data: dict[str, Any]


class EventLog:
    """Events of one broker host, in order. ``emit`` is what the back office calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Event] = []
        self._seq: dict[str, int] = {}
        self._last = ""

    def emit(self, topic: str, data: dict[str, Any], now: float) -> Event:
        if topic not in TOPICS:
            raise ValueError(f"unknown event topic {topic!r}")
        with self.lock:
            seq = self._seq.get(topic, 0) + 1
            self._seq[topic] = seq
            ident = ulid(now)
            if ident <= self._last:   # monotonic within one millisecond (and a stepped-back clock)
                ident = _next_ulid(self._last)
            self._last = ident
            event = Event(topic, seq, ident, now, dict(data))
            self.events.append(event)
            return event

    def of(self, topic: str) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.topic == topic]


def _next_ulid(prev: str) -> str:
    value = 0
    for ch in prev:
        value = value * 32 + _CROCKFORD.index(ch)
    value += 1
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
