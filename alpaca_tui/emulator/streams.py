"""The emulator's WebSocket streams (alpaca-auth.md §1, the two stream protocols):

* **trade updates** on the trading hosts at ``/stream``: ``authenticate`` (or ``auth``) with a
  key pair -> ``authorization`` ``authorized`` / ``unauthorized``; ``listen`` to
  ``trade_updates`` -> ``listening``; then one ``trade_updates`` message per change of the
  account's orders (a new order: ``new``, then ``fill`` when it filled at once; a cancel:
  ``canceled``). Frames are binary on paper (as Alpaca's paper stream sends them), text on live.
* **market data** on the data hosts (the emulator's stand-in for the stream host):
  ``/v2/{feed}`` (iex, sip, test, delayed_sip, boats, overnight) and ``/v1beta3/crypto/{loc}``.
  ``[{"T":"success","msg":"connected"}]`` on connect; ``auth`` with a key pair, or with
  ``"key":"access_token"`` and an AuthX token as the secret (broker credentials), within 10 s;
  ``subscribe`` / ``unsubscribe`` trades, quotes, bars -> a ``subscription`` message; then a
  bar, trade or quote per subscribed symbol every ``stream_interval`` seconds. Errors as the
  docs list them: 400 invalid syntax, 401 not authenticated, 402 auth failed, 403 already
  authenticated, 404 auth timeout. msgpack frames (timestamps as msgpack Timestamps) when the
  handshake asked with ``Content-Type: application/msgpack``, JSON otherwise.

A stream connection counts as one request of its role (``Emulator.requests(role)``).
Credentials are checked by :func:`.authn.authenticate`, so a stream accepts exactly the keys
and tokens the role's HTTP API accepts.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgpack

from alpaca_tui.core.proxy.wsio import Message
from alpaca_tui.core.scopes import Level, Scope
from alpaca_tui.emulator import market
from alpaca_tui.emulator.authn import authenticate, scope_denied
from alpaca_tui.emulator.context import Principal
from alpaca_tui.emulator.roles import ROLE_KIND, TRADING_PAPER
from alpaca_tui.emulator.wire import Request
from alpaca_tui.emulator.wsock import SyncWs, reject

if TYPE_CHECKING:
    from alpaca_tui.emulator.control import Control

__all__ = ["is_stream_path", "serve"]

AUTH_WINDOW = 10.0
POLL = 0.05
_FEEDS = {"iex", "sip", "test", "delayed_sip", "boats", "overnight"}
_CRYPTO = re.compile(r"^/v1beta[0-9]/crypto/[a-z-]+$")
_CHANNELS = ("trades", "quotes", "bars")
_EVENTS = {"filled": "fill", "partially_filled": "partial_fill", "canceled": "canceled", "expired": "expired",
           "replaced": "replaced", "rejected": "rejected", "new": "new", "accepted": "new"}


def _norm(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/") or "/"


def is_stream_path(role: str, path: str) -> bool:
    p = _norm(path)
    kind = ROLE_KIND.get(role)
    if kind == "trading":
        return p == "/stream"
    if kind == "data":
        parts = p.split("/")
        return (len(parts) == 3 and parts[1] == "v2" and parts[2] in _FEEDS) or bool(_CRYPTO.match(p))
    return False


def serve(control: Control, role: str, req: Request, raw: bytes, sock: socket.socket,
          stopping: threading.Event) -> None:
    """One WebSocket connection on ``role`` (the HTTP handler's thread runs it to its end)."""
    control.state.count_request(role)
    if not is_stream_path(role, req.path):
        reject(sock, raw, 404, "no stream at this path")
        return
    ws = SyncWs.accept(sock, raw)
    if ws is None:
        return
    try:
        if ROLE_KIND[role] == "trading":
            _TradeUpdates(control, role, ws, stopping).run()
        else:
            mp = req.content_type == "application/msgpack"
            _MarketData(control, role, _norm(req.path), ws, stopping, mp).run()
    finally:
        ws.close()


def _auth(control: Control, role: str, key: str | None, secret: str | None) -> Principal | None:
    """The credential behind a stream's auth message, checked as the role's HTTP API would."""
    if not key or not secret:
        return None
    if key == "access_token":
        headers = {"authorization": f"Bearer {secret}"}
    else:
        headers = {"apca-api-key-id": key, "apca-api-secret-key": secret}
    req = Request(role=role, method="GET", path="/", query={}, headers=headers, header_names=list(headers),
                  body=b"")
    who = authenticate(control.state, req, control.now())
    return who if isinstance(who, Principal) else None


class _Session:
    def __init__(self, control: Control, role: str, ws: SyncWs, stopping: threading.Event) -> None:
        self.control = control
        self.role = role
        self.ws = ws
        self.stopping = stopping
        self.principal: Principal | None = None

    def decode(self, msg: Message) -> Any:
        try:
            return json.loads(msg.data)
        except ValueError:
            return None

    def next_message(self) -> Message | object | None:
        if self.stopping.is_set():
            return None
        return self.ws.recv(POLL)


class _TradeUpdates(_Session):
    def send(self, obj: Any) -> bool:
        data = json.dumps(obj, separators=(",", ":")).encode()
        return self.ws.send(Message(self.role != TRADING_PAPER, data))

    def run(self) -> None:
        listening = False
        seen: dict[str, str] = {}
        while True:
            msg = self.next_message()
            if msg is None:
                return
            if isinstance(msg, Message):
                obj = self.decode(msg)
                action = obj.get("action") if isinstance(obj, dict) else None
                if action in ("authenticate", "auth"):
                    if not self.authenticate(obj):
                        return
                elif action == "listen" and self.principal is not None:
                    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
                    listening = "trade_updates" in (data.get("streams") or [])
                    seen = self.orders()
                    names = ["trade_updates"] if listening else []
                    self.send({"stream": "listening", "data": {"streams": names}})
                elif self.principal is None:
                    self.send({"stream": "authorization", "data": {"action": "authenticate",
                                                                   "status": "unauthorized"}})
                    return
            if listening and not self.push_changes(seen):
                return

    def authenticate(self, obj: dict[str, Any]) -> bool:
        data: dict[str, Any] = obj["data"] if isinstance(obj.get("data"), dict) else {}
        key = obj.get("key") or data.get("key_id")
        secret = obj.get("secret") or data.get("secret_key")
        self.principal = _auth(self.control, self.role, key, secret)
        status = "authorized" if self.principal is not None else "unauthorized"
        self.send({"stream": "authorization", "data": {"action": "authenticate", "status": status}})
        return self.principal is not None

    def orders(self) -> dict[str, str]:
        acct = self.control.book.trading[self.role]
        with acct.lock:
            return {oid: str(o.get("status")) for oid, o in acct.orders.items()}

    def push_changes(self, seen: dict[str, str]) -> bool:
        """One trade update per order that is new or changed status since the last look."""
        acct = self.control.book.trading[self.role]
        with acct.lock:
            changed = [dict(o) for oid, o in acct.orders.items() if seen.get(oid) != str(o.get("status"))]
        for order in sorted(changed, key=lambda o: str(o.get("submitted_at") or "")):
            events = ["new"] if order["id"] not in seen else []
            status = str(order.get("status"))
            if _EVENTS.get(status, status) not in events:
                events.append(_EVENTS.get(status, status))
            seen[order["id"]] = status
            for event in events:
                if not self.send({"stream": "trade_updates", "data": self.update(event, order)}):
                    return False
        return True

    def update(self, event: str, order: dict[str, Any]) -> dict[str, Any]:
        now = self.control.now()
        data: dict[str, Any] = {"event": event, "order": order, "timestamp": market.rfc3339(now)}
        if event in ("fill", "partial_fill"):
            data.update(execution_id=str(uuid.uuid4()), price=order.get("filled_avg_price"),
                        qty=order.get("filled_qty"))
        return data


class _MarketData(_Session):
    def __init__(self, control: Control, role: str, path: str, ws: SyncWs, stopping: threading.Event,
                 mp: bool) -> None:
        super().__init__(control, role, ws, stopping)
        self.path = path
        self.mp = mp
        self.crypto = "/crypto/" in path
        self.subs: dict[str, set[str]] = {c: set() for c in _CHANNELS}

    def decode(self, msg: Message) -> Any:
        if self.mp and not msg.text:
            try:
                return msgpack.unpackb(msg.data)
            except (ValueError, msgpack.UnpackException):
                return None
        return super().decode(msg)

    def send(self, msgs: list[dict[str, Any]]) -> bool:
        if self.mp:
            return self.ws.send(Message(False, msgpack.packb([_stamped(m) for m in msgs])))
        return self.ws.send(Message(True, json.dumps(msgs, separators=(",", ":")).encode()))

    def run(self) -> None:
        self.send([{"T": "success", "msg": "connected"}])
        opened = time.monotonic()
        interval = self.control.stream_interval
        next_push = time.monotonic() + interval
        while True:
            msg = self.next_message()
            if msg is None:
                return
            if isinstance(msg, Message) and not self.handle(self.decode(msg)):
                return
            if self.principal is None and time.monotonic() - opened > AUTH_WINDOW:
                self.send([{"T": "error", "code": 404, "msg": "auth timeout"}])
                return
            if self.principal is not None and time.monotonic() >= next_push:
                next_push = time.monotonic() + interval
                batch = self.ticks()
                if batch and not self.send(batch):
                    return
        return

    def handle(self, obj: Any) -> bool:
        """One client message; False ends the connection."""
        if not isinstance(obj, dict) or not isinstance(obj.get("action"), str):
            return self.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
        action = obj["action"]
        if action == "auth":
            if self.principal is not None:
                return self.send([{"T": "error", "code": 403, "msg": "already authenticated"}])
            who = _auth(self.control, self.role, obj.get("key"), obj.get("secret"))
            if who is None or (who.cred.env.is_broker and scope_denied(who.cred, Scope.DATA, Level.RO)):
                self.send([{"T": "error", "code": 402, "msg": "auth failed"}])
                return False
            self.principal = who
            return self.send([{"T": "success", "msg": "authenticated"}])
        if self.principal is None:
            return self.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
        if action in ("subscribe", "unsubscribe"):
            for channel in _CHANNELS:
                symbols = {s for s in obj.get(channel, []) if isinstance(s, str)}
                if action == "subscribe":
                    self.subs[channel] |= symbols
                else:
                    self.subs[channel] -= symbols
            return self.send([self.subscription()])
        return self.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])

    def subscription(self) -> dict[str, Any]:
        out: dict[str, Any] = {"T": "subscription"}
        for channel in (*_CHANNELS, "updatedBars", "dailyBars", "statuses", "lulds", "corrections",
                        "cancelErrors"):
            out[channel] = sorted(self.subs.get(channel, set()))
        if self.crypto:
            for channel in ("statuses", "lulds", "corrections", "cancelErrors"):
                out.pop(channel)
        return out

    def ticks(self) -> list[dict[str, Any]]:
        now = self.control.now()
        default = ["BTC/USD", "ETH/USD"] if self.crypto else (["FAKEPACA"] if self.path == "/v2/test" else
                                                                 ["AAPL", "MSFT", "SPY"])
        out: list[dict[str, Any]] = []
        for channel, kind in (("bars", "b"), ("trades", "t"), ("quotes", "q")):
            symbols = sorted(self.subs[channel])
            if "*" in symbols:
                symbols = default
            for sym in symbols:
                if channel == "bars":
                    data = market.crypto_bar(sym, now) if self.crypto else market.bar(sym, now)
                elif channel == "trades":
                    data = market.trade(sym, now)
                else:
                    data = market.crypto_quote(sym, now) if self.crypto else market.quote(sym, now)
                out.append({"T": kind, "S": sym, **data})
        return out


def _stamped(msg: dict[str, Any]) -> dict[str, Any]:
    """msgpack frames carry times as msgpack Timestamps (what the SDKs' ``.to_datetime()`` reads)."""
    t = msg.get("t")
    if isinstance(t, str):
        ts = datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        return {**msg, "t": msgpack.Timestamp.from_unix(ts)}
    return msg
