"""Request tester: pick a credential, API, method and path; send; read status, latency,
headers (rate-limit ones highlighted) and the pretty-printed JSON body.

Before sending, the scope guard (``core/preflight.py``, the same as ``request`` and the auth
proxy) refuses what the credential's access matrix forbids, writes to a path the Broker API
does not have, and ambiguous paths: nothing is sent unless the user confirms in a red dialog
whose default is "No" (the tester's ``--force``); a read of an unknown path is sent with a
warning. A write to a live (real money) environment needs its own confirmation. Errors show
their cause and fix (``core/explain.py``) under the status line. "Copy as cURL" redacts
secrets by default.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode

from rich.json import JSON
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import (
    DataTable,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Api, apis_for, resolve_endpoints
from alpaca_tui.core.redact import redact, scrub
from alpaca_tui.tui import services
from alpaca_tui.tui.commands import default_request
from alpaca_tui.tui.messages import OperationFailed, ProfilesChanged, RequestFinished, RequestRecord
from alpaca_tui.tui.screens.base import AppScreen
from alpaca_tui.tui.widgets import focus_now

if TYPE_CHECKING:
    from alpaca_tui.core.credentials import SecretBundle
    from alpaca_tui.tui.session import Session

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
COMMON_PATHS: tuple[str, ...] = (
    "/v2/account", "/v2/clock", "/v2/positions", "/v2/orders", "/v2/assets", "/v2/calendar",
    "/v2/account/configurations", "/v2/account/activities", "/v2/watchlists",
    "/v2/stocks/AAPL/bars/latest", "/v2/stocks/bars/latest?symbols=AAPL",
    "/v1beta3/crypto/us/latest/bars?symbols=BTC/USD",
    "/v1/accounts", "/v1/assets", "/v1/calendar", "/v1/clock", "/v1/journals", "/v1/reporting/eod/positions",
    "/v1/events/accounts/status", "/v1/trading/accounts",
)


def split_path(path: str, query: str) -> tuple[str, dict[str, str]]:
    """'/v2/x?a=1' + 'b=2' -> ('/v2/x', {'a': '1', 'b': '2'})."""
    p, _, inline = path.strip().partition("?")
    params = dict(parse_qsl(inline, keep_blank_values=True))
    params.update(parse_qsl(query.strip().lstrip("?"), keep_blank_values=True))
    if not p.startswith("/"):
        p = "/" + p
    return p, params


def curl_command(profile: Profile, api: Api, method: str, path: str, params: dict[str, str], body: Any,
                 *, key_id: str | None = None, secret: str | None = None, token: str | None = None) -> str:
    """A cURL line for the request. Without the secret arguments every secret is an env-var
    placeholder ($ALPACA_KEY_ID, $ALPACA_SECRET, $ALPACA_ACCESS_TOKEN)."""
    base = resolve_endpoints(profile.env, profile.endpoints)[api]
    url = base + path + (("?" + urlencode(params)) if params else "")
    parts = ["curl", "-sS", "-X", method, shlex.quote(url)]

    def arg(text: str, real: bool) -> str:
        # Real secrets are single-quoted for the shell (a '"', '$' or '`' in them stays literal);
        # placeholders are double-quoted so the shell expands them.
        return shlex.quote(text) if real else f'"{text}"'

    kid = key_id or "$ALPACA_KEY_ID"
    if profile.flow.is_oauth:
        parts += ["-H", arg(f"Authorization: Bearer {token or '$ALPACA_ACCESS_TOKEN'}", token is not None)]
    elif profile.env.is_broker:
        parts += ["-u", arg(f"{kid}:{secret or '$ALPACA_SECRET'}", secret is not None)]
    else:
        parts += ["-H", arg(f"APCA-API-KEY-ID: {kid}", key_id is not None),
                  "-H", arg(f"APCA-API-SECRET-KEY: {secret or '$ALPACA_SECRET'}", secret is not None)]
    if body is not None:
        parts += ["-H", "'Content-Type: application/json'", "--data", shlex.quote(json.dumps(body))]
    return " ".join(parts)


class TesterScreen(AppScreen):
    __test__ = False  # not a pytest test class despite the name
    BODY_ID = "tester-body"
    BODY_SCROLLS = False
    TICKS = True  # the credential list follows changes other processes make
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True,
                tooltip="Send (scope pre-flight; live writes ask first)", id="tester.send"),
        Binding("ctrl+o", "copy_curl", "Copy cURL", priority=True,
                tooltip="Copy as cURL, secrets as $ALPACA_* placeholders", id="tester.copy-curl"),
        Binding("ctrl+k", "copy_curl_secrets", "cURL+secrets", show=False, priority=True,
                tooltip="Copy as cURL with the real secret (asks first)", id="tester.copy-curl-secrets"),
        Binding("ctrl+l", "history", "History", priority=True,
                tooltip="This session's requests; enter restores one", id="tester.history"),
        Binding("escape", "back", "Back", tooltip="Back", id="tester.back"),
    ]

    def __init__(self, session: Session, name: str | None = None, *, method: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(session, classes="tester-screen")  # no id: one may be pushed twice
        self.initial_name = name
        self.initial_method = method
        self.initial_path = path
        self.sending = False
        self.last: RequestRecord | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="tester-row1"):
            yield Select([], prompt="credential", allow_blank=True, id="cred", compact=True)
            yield Select([("trading", Api.TRADING)], allow_blank=False, id="api", compact=True)
            yield Select([(m, m) for m in METHODS], allow_blank=False, value="GET", id="method",
                         compact=True)
        with Horizontal(classes="tester-field"):
            yield Label("Path", classes="row-label")
            yield Input(placeholder="/v2/account", id="path", compact=True,
                        suggester=SuggestFromList(COMMON_PATHS, case_sensitive=False))
        with Horizontal(classes="tester-field"):
            yield Label("Query", classes="row-label")
            yield Input(placeholder="optional: symbols=AAPL&limit=1", id="query", compact=True)
        yield TextArea("", id="body", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        yield Static("ctrl+s sends · JSON body only for POST/PATCH/PUT", id="resp-status")
        yield Static("", id="resp-explain")
        with TabbedContent(id="resp-tabs", initial="tab-body"):
            with TabPane("Body", id="tab-body"):
                with VerticalScroll(id="resp-body-scroll"):
                    yield Static("", id="resp-body")
            with TabPane("Headers", id="tab-headers"):
                yield DataTable(id="resp-headers", cursor_type="row", show_header=False)
            with TabPane("History", id="tab-history"):
                yield DataTable(id="history", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#body", TextArea).border_title = "JSON body"
        headers = self.query_one("#resp-headers", DataTable)
        headers.add_columns("header", "value")
        hist = self.query_one("#history", DataTable)
        hist.add_columns("#", "credential", "request", "status", "ms")
        self._fill_credentials()
        for rec in self.session.request_history:
            self._add_history_row(rec)
        if self.initial_path:
            self.query_one("#path", Input).value = self.initial_path
        if self.initial_method:
            self.query_one("#method", Select).value = self.initial_method
        self.query_one("#path", Input).focus()

    def on_profiles_changed(self, message: ProfilesChanged) -> None:
        self._fill_credentials()

    # -- form ----------------------------------------------------------------------------
    def _fill_credentials(self) -> None:
        cred = self.query_one("#cred", Select)
        current = cred.value if cred.value != Select.NULL else self.initial_name
        options = [(f"{p.name} ({p.env.label})", p.name) for p in sorted(self.session.profiles,
                                                                          key=lambda p: p.name)]
        with cred.prevent(Select.Changed):
            cred.set_options(options)
        names = [v for _, v in options]
        if current in names:
            cred.value = current
        elif names:
            cred.value = names[0]
        self._credential_changed()

    @property
    def profile(self) -> Profile | None:
        value = self.query_one("#cred", Select).value
        return self.session.profile(value) if isinstance(value, str) else None

    @on(Select.Changed, "#cred")
    def _cred_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._credential_changed(reset_path=True)

    def _credential_changed(self, reset_path: bool = False) -> None:
        p = self.profile
        api_sel = self.query_one("#api", Select)
        if p is None:
            return
        apis = apis_for(p.env)
        default_api, default_path = default_request(p.env)
        keep = api_sel.value if api_sel.value in apis else default_api
        with api_sel.prevent(Select.Changed):
            api_sel.set_options([(a.value, a) for a in apis])
            api_sel.value = keep
        path = self.query_one("#path", Input)
        if reset_path or not path.value:
            path.value = self.initial_path if (self.initial_path and not reset_path) else default_path
        live = " ⚠ LIVE" if p.env.is_live else ""
        self.title = f"tester · {p.name}{live}"

    # -- sending -------------------------------------------------------------------------
    def _read_form(self) -> tuple[Profile, Api, str, str, dict[str, str], Any] | None:
        p = self.profile
        status = self.query_one("#resp-status", Static)
        if p is None:
            status.update(Text("pick a credential first", style="bold red"))
            return None
        api = self.query_one("#api", Select).value
        method = str(self.query_one("#method", Select).value)
        raw_path = self.query_one("#path", Input).value
        if not raw_path.strip():
            status.update(Text("enter a path, e.g. /v2/account", style="bold red"))
            return None
        path, params = split_path(raw_path, self.query_one("#query", Input).value)
        body_text = self.query_one("#body", TextArea).text.strip()
        body: Any = None
        if body_text:
            try:
                body = json.loads(body_text)
            except json.JSONDecodeError as exc:
                status.update(Text(f"the body is not valid JSON: {exc.msg} (line {exc.lineno})",
                                   style="bold red"))
                return None
        assert isinstance(api, Api)
        return p, api, method, path, params, body

    def action_send(self) -> None:
        if self.sending:
            return
        form = self._read_form()
        if form is None:
            return
        p, api, method, path, params, body = form
        self._preflight(p, api, method, path, params, body)

    def _preflight(self, p: Profile, api: Api, method: str, path: str, params: dict[str, str],
                   body: Any) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        check = services.scope_guard(p, api, method, path)
        refusal, need = check.refusal, check.requirement
        warning = check.warning if refusal is None else f"sent anyway: {method} {need.path} {need.describe()}"

        def after_scope(ok: bool | None) -> None:
            if not ok:
                self.query_one("#resp-status", Static).update("not sent")
                return

            def send(*args: Any) -> None:
                self._send(*args, warning=warning)

            if p.env.is_live and method in WRITE_METHODS:
                body_txt = (f"{method} {path} on {p.env.label} — this is REAL MONEY.\n\n"
                            f"Send this write with {p.name}?")
                self.app.push_screen(ConfirmDialog("Write to a live environment", body_txt,
                                                   yes="Send to live", danger=True),
                                     callback=lambda yes: send(p, api, method, path, params, body)
                                     if yes else self.query_one("#resp-status", Static).update("not sent"))
                return
            send(p, api, method, path, params, body)

        if refusal is not None:
            ex = refusal.explanation
            text = Text(f"{check.reason}.\n\n")
            text.append_text(services.explanation_text(getattr(ex, "cause", None), getattr(ex, "fix", None)))
            text.append("\n\nAlpaca will most likely refuse it too. Send anyway?")
            self.app.push_screen(ConfirmDialog(services.refusal_title(check), text, yes="Send anyway",
                                               danger=True), callback=after_scope)
            return
        after_scope(True)

    def _send(self, p: Profile, api: Api, method: str, path: str, params: dict[str, str], body: Any, *,
              warning: str | None = None) -> None:
        if self.session.engine is None:
            self.query_one("#resp-status", Static).update(Text("the auth engine is still loading",
                                                               style="yellow"))
            return
        self.sending = True
        self.query_one("#resp-status", Static).update(Text(f"sending {method} {path}…", style="yellow"))
        rec = RequestRecord(profile=p.name, api=api.value, method=method, path=path, params=params,
                            body=body, sent_at=self.session.clock.time(), warning=warning)
        self._request_worker(rec, api)

    @work(exclusive=True, group="tester-send", exit_on_error=False)
    async def _request_worker(self, rec: RequestRecord, api: Api) -> None:
        try:
            resp = await self.session.require_engine().request(rec.profile, rec.method, rec.path, api=api,
                                                 params=rec.params or None, json_body=rec.body)
        except Exception as exc:
            rec.error = services.one_line(exc)
            services.set_explanation(rec, exc)
        else:
            services.fill_record(rec, resp)
        self.post_message(RequestFinished(rec))

    def on_request_finished(self, message: RequestFinished) -> None:
        message.stop()
        self.sending = False
        rec = message.record
        self.session.request_history.append(rec)
        self._add_history_row(rec)
        self.show_record(rec)

    def show_record(self, rec: RequestRecord) -> None:
        self.last = rec
        status = self.query_one("#resp-status", Static)
        status.update(services.status_line(rec))
        explain = self.query_one("#resp-explain", Static)
        explain.update(services.explanation_text(rec.cause, rec.fix, rec.warning))
        explain.display = bool(rec.cause or rec.fix or rec.warning)
        body = self.query_one("#resp-body", Static)
        if rec.json is not None:
            body.update(JSON.from_data(rec.json, indent=2))
        else:
            body.update(Text(scrub(rec.text or rec.error or ""), style="" if rec.status else "red"))
        headers = self.query_one("#resp-headers", DataTable)
        headers.clear()
        for k, v in sorted(rec.headers.items()):
            hot = k.lower().startswith("x-ratelimit") or k.lower() == "retry-after"
            style = "bold yellow" if hot else ""
            headers.add_row(Text(k, style=style), Text(scrub(str(v)), style=style))

    def _add_history_row(self, rec: RequestRecord) -> None:
        hist = self.query_one("#history", DataTable)
        n = hist.row_count + 1
        status = Text(str(rec.status) if rec.status else "error",
                      style="green" if rec.status and rec.status < 400 else "bold red")
        ms = f"{rec.latency_ms:.0f}" if rec.latency_ms is not None else "—"
        hist.add_row(str(n), rec.profile, f"{rec.method} {rec.path}", status, ms, key=str(n))

    @on(DataTable.RowSelected, "#history")
    def _history_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        idx = int(str(event.row_key.value)) - 1
        if 0 <= idx < len(self.session.request_history):
            rec = self.session.request_history[idx]
            if self.session.profile(rec.profile) is not None:
                self.query_one("#cred", Select).value = rec.profile
            self.query_one("#method", Select).value = rec.method
            self.query_one("#path", Input).value = rec.path
            self.query_one("#query", Input).value = urlencode(rec.params)
            self.query_one("#body", TextArea).text = json.dumps(rec.body, indent=2) if rec.body is not None \
                else ""
            self.show_record(rec)
            self.query_one("#resp-tabs", TabbedContent).active = "tab-body"

    def action_history(self) -> None:
        self.query_one("#resp-tabs", TabbedContent).active = "tab-history"
        focus_now(self.query_one("#history", DataTable))

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- cURL ----------------------------------------------------------------------------
    def action_copy_curl(self) -> None:
        form = self._read_form()
        if form is None:
            return
        p, api, method, path, params, body = form
        line = curl_command(p, api, method, path, params, body)
        self.app.copy_to_clipboard(line)
        self.query_one("#resp-status", Static).update(
            Text("copied cURL (secrets as $ALPACA_* placeholders; ctrl+k includes them)", style="green"))

    def action_copy_curl_secrets(self) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        form = self._read_form()
        if form is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._curl_with_secrets(form)

        self.app.push_screen(ConfirmDialog("Copy with secrets", "Put the real secret (or access token) into "
                                           "the clipboard? Anything that reads the clipboard can see it.",
                                           yes="Copy with secrets", danger=True), callback=answered)

    @work(exclusive=True, group="curl", exit_on_error=False)
    async def _curl_with_secrets(self, form: tuple[Profile, Api, str, str, dict[str, str], Any]) -> None:
        p, api, method, path, params, body = form
        try:
            bundle = await self._load_bundle(p.name)
            token = None
            if p.flow.is_oauth and self.session.engine is not None:
                token = services.token_value(await self.session.engine.token(p.name))
            line = curl_command(p, api, method, path, params, body, key_id=bundle.active.key_id,
                                secret=bundle.active.secret if p.flow is not Flow.PRIVATE_KEY_JWT else None,
                                token=token)
        except Exception as exc:
            self.post_message(OperationFailed("copy cURL", services.one_line(exc)))
            return
        self.app.copy_to_clipboard(line)
        shown = redact(line, [*bundle.values(), token])
        self.query_one("#resp-status", Static).update(Text(f"copied with secrets: {shown[:60]}…",
                                                           style="yellow"))

    async def _load_bundle(self, name: str) -> SecretBundle:
        import asyncio

        return await asyncio.to_thread(self.session.require_store().load_bundle, name)
