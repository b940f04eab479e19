"""The session agent's serving loop against a flood of new connections, in-process (a real Unix
socket and the real :class:`Server` loop in a thread; the flood tests in
tests/cli/test_agent_hostile.py run the agent as a process).

A real client connects, checks the agent's credentials, and only then sends its line. A flood of
connections arriving in that gap used to evict it (oldest first) before its line came in: the
10,000-slow-clients test saw 1–3 of its status requests answered by a closed socket."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.hardening import LockedBuffer
from alpaca_tui.core.store import agentloop
from tests.hostile_support import wait_for

FLOOD = 200


class Loop:
    def __init__(self, server: agentloop.Server) -> None:
        self.server = server
        self.selects = 0
        real = server.sel.select

        def counting(timeout: float | None = None) -> list[tuple[object, int]]:
            self.selects += 1
            return real(timeout)  # type: ignore[return-value]

        server.sel.select = counting  # type: ignore[method-assign]
        self.thread = threading.Thread(target=server.run, daemon=True)


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    monkeypatch.setattr(agentloop, "SPARE", 1.0, raising=False)  # generous: the test machine may be loaded
    path = tmp_path / "agent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(128)
    listener.setblocking(False)
    secret = agentloop.Secret(LockedBuffer(), "00" * 16, [1, 2, 3])
    server = agentloop.Server(listener, path, secret, time.time() + 60)
    lp = Loop(server)
    lp.thread.start()
    try:
        yield lp
    finally:
        server.stopping = True
        lp.thread.join(5)
        server.close()
        secret.page.close()


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(path))
    return sock


def _flood(path: Path, n: int, out: list[socket.socket], stop: threading.Event) -> None:
    """Open ``n`` silent connections, retrying while the listen queue is full."""
    for _ in range(n):
        while not stop.is_set():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(str(path))
            except BlockingIOError:
                sock.close()
                time.sleep(0.001)
                continue
            out.append(sock)
            break


def test_a_client_that_has_not_sent_yet_outlives_a_flood_of_new_connections(loop: Loop) -> None:
    server = loop.server
    legit = _connect(server.path)
    wait_for(lambda: len(server.conns) == 1, 5, "the client's admission")
    flood: list[socket.socket] = []
    stop = threading.Event()
    flooder = threading.Thread(target=_flood, args=(server.path, FLOOD, flood, stop), daemon=True)
    flooder.start()
    try:
        wait_for(lambda: len(server.conns) >= agentloop.MAX_CONNS, 5, "a full house")
        time.sleep(0.2)  # the old loop evicted the client in its next accept batch, well within this
        legit.sendall(b'{"op": "status"}\n')
        reply = json.loads(legit.makefile("rb").readline() or b"null")
        assert isinstance(reply, dict) and reply.get("ok") is True, (reply, server.stats)
        # Everyone was spared, so accepting paused (the rest waited in the listen queue) without
        # spinning: a few select rounds per tick, not thousands.
        assert server.stats["evicted"] == 0, server.stats
        assert loop.selects < 200, loop.selects
        # Once the spare time is over the flood gets in, evicting the oldest silent connections.
        wait_for(lambda: len(flood) == FLOOD, 10, "the whole flood to be accepted")
        wait_for(lambda: server.stats["evicted"] > 0, 5, "evictions")
        assert len(server.conns) <= agentloop.MAX_CONNS
    finally:
        stop.set()
        flooder.join(5)
        legit.close()
        for sock in flood:
            sock.close()


def test_a_connection_that_sent_half_a_line_is_evicted_before_a_silent_new_one(loop: Loop) -> None:
    server = loop.server
    silent = [_connect(server.path) for _ in range(10)]  # older than it, but spared
    wait_for(lambda: len(server.conns) == 10, 5, "the first ten")
    half = _connect(server.path)
    half.sendall(b'{"op": ')
    wait_for(lambda: any(c.buf for c in server.conns.values()), 5, "the half line to be read")
    silent += [_connect(server.path) for _ in range(agentloop.MAX_CONNS - 11)]
    wait_for(lambda: len(server.conns) == agentloop.MAX_CONNS, 5, "a full house")
    newcomer = _connect(server.path)
    try:
        wait_for(lambda: server.stats["evicted"] == 1, 5, "the half-line connection's eviction")
        half.settimeout(5)
        assert half.recv(100) == b""  # closed without an answer
        assert len(server.conns) == agentloop.MAX_CONNS
        newcomer.sendall(b'{"op": "status"}\n')
        reply = json.loads(newcomer.makefile("rb").readline() or b"null")
        assert isinstance(reply, dict) and reply.get("ok") is True
    finally:
        for sock in [half, newcomer, *silent]:
            sock.close()
