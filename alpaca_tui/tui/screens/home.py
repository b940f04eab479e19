"""Home: every environment and credential at a glance.

Environments are grouped (live ones in the warning colour). Each credential row shows its
flow, masked key ID, access summary, expiry badge, last verification and token state.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.sanitize import clean_line
from alpaca_tui.tui.format import (
    ENV_ORDER,
    FLOW_SHORT,
    env_style,
    expiry_badge,
    profile_search_text,
    profile_summary,
    token_summary,
    verified_badge,
)
from alpaca_tui.tui.messages import ProfilesChanged
from alpaca_tui.tui.screens.base import AppScreen
from alpaca_tui.tui.screens.home_columns import NARROW_FLOW, fit_columns
from alpaca_tui.tui.widgets import focus_now
from alpaca_tui.tui.widgets.list_table import LaterRow
from alpaca_tui.tui.widgets.lists import NavTable

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session

class HomeScreen(AppScreen):
    """Environments & credentials."""

    BODY_ID = "home-body"
    BODY_SCROLLS = False
    TICKS = True
    PANES = ("#filter", "#creds")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", tooltip="Create a credential (wizard)", id="home.new"),
        Binding("enter", "details", "Details", show=False, tooltip="Details and the live token panel",
                id="home.details"),
        Binding("c", "check", "Check", tooltip="Connectivity check on every API the credential reaches",
                id="home.check"),
        Binding("t", "tester", "Tester", tooltip="Send test requests with the selected credential",
                id="home.tester"),
        Binding("r", "rotate", "Rotate", tooltip="New secret or key pair, verify, promote; rollback later",
                id="home.rotate"),
        Binding("d", "delete", "Delete", tooltip="Remove from this machine (asks first)", id="home.delete"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="Filter by name, environment, flow, key", id="home.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="Show every credential again",
                id="home.clear-filter"),
        Binding("u", "unlock", "Unlock", tooltip="Ask for the passphrase again (the store is locked)",
                id="home.unlock"),
        Binding("q", "app.quit", "Quit", tooltip="Quit alpaca-tui", id="home.quit"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session, id="home")
        self.filter_text = ""
        self.env_filter: Env | None = None  # the palette's "env: show only …"
        self._populate_pending = False
        self._built_for: tuple[bool, int] = (False, -1)
        self._row_profiles: dict[str, str] = {}

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="filter: name, environment, flow, key…  (enter: list, esc: clear)",
                    id="filter", compact=True)
        yield NavTable(id="creds", cursor_type="row", zebra_stripes=False,
                       selectable=lambda key: key.startswith("p:"))  # environment headers never
        yield Static("", id="summary")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._build_columns()
        self.populate()
        focus_now(self.query_one("#creds", DataTable))

    def on_screen_resume(self) -> None:
        self.request_populate()

    def on_resize(self) -> None:
        if self._layout_key() != self._built_for:
            self._build_columns()
            self.populate()

    def request_populate(self) -> None:
        """Rebuild the table once for however many changes arrive in one loop turn."""
        if not self._populate_pending:
            self._populate_pending = True
            self.call_later(self._populate_now)

    def _populate_now(self) -> None:
        self._populate_pending = False
        self.populate()

    # -- table ---------------------------------------------------------------------------
    def _narrow(self) -> bool:
        return self.size.width < 96

    def columns(self) -> list[tuple[str, str, int]]:
        return fit_columns(self.size.width or 100, self._narrow())

    def _layout_key(self) -> tuple[bool, int]:
        return self._narrow(), self.size.width

    def _build_columns(self) -> None:
        self._built_for = self._layout_key()
        table = self.query_one("#creds", DataTable)
        table.clear(columns=True)
        for key, label, width in self.columns():
            table.add_column(label, key=key, width=width)

    def visible_profiles(self) -> list[Profile]:
        f = self.filter_text.strip().lower()
        profiles = [p for p in self.session.profiles if self.env_filter in (None, p.env)]
        if not f:
            return list(profiles)
        words = f.split()
        return [p for p in profiles if all(w in profile_search_text(p) for w in words)]

    def populate(self) -> None:
        table = self.query_one("#creds", NavTable)
        if not table.columns:
            return
        selected = self.selected_name()
        table.clear()
        self._row_profiles.clear()
        now = self.session.clock.now()
        shown = self.visible_profiles()
        filtering = bool(self.filter_text.strip()) or self.env_filter is not None
        wanted = self.session.focus_profile  # the credential just saved, once it is listed
        if wanted is not None and any(p.name == wanted for p in shown):
            selected, self.session.focus_profile = wanted, None
        width = table.columns[ColumnKey("name")].width
        keys = [key for key, _, _ in self.columns()]
        ncols = len(keys)
        loaded = self.session.profiles_loaded
        rows: list[LaterRow] = []  # headings and credentials in order; cells built when added
        target = first = None
        for env in ENV_ORDER:
            members = sorted((p for p in shown if p.env is env), key=lambda p: p.name)
            if filtering and not members:
                continue
            heading = Text(env.label, style=env_style(env))
            live = Text("⚠ LIVE", style="bold orange1") if env.is_live else Text("")
            count = Text(f"{len(members)} cred{'s' if len(members) != 1 else ''}" if loaded else "…",
                         style="dim")
            head = [heading, live, count, *[""] * (ncols - 3)]
            rows.append((f"env:{env.value}", head.copy))
            if not members and loaded:
                empty = [Text("  (none — n adds one)", style="dim"), *[""] * (ncols - 1)]
                rows.append((f"empty:{env.value}", empty.copy))
            for p in members:
                key = f"p:{p.name}"
                self._row_profiles[key] = p.name
                if p.name == selected:
                    target = len(rows)
                if first is None:
                    first = len(rows)
                rows.append((key, partial(self._cells, p, now, width, keys)))
        target = first if target is None else target
        # one screen's rows now, the others after the next frame (500 credentials: ~30 rows
        # before the first frame instead of 504); all of them once the cursor goes further
        # (a selection below the first screen: the move below adds them)
        table.add_rows_soon(rows, now=max(self.app.size.height, self.size.height, 24))
        if target is not None:
            table.move_cursor(row=target)
        self._update_summary()
        self._update_status()

    def _cells(self, p: Profile, now: object, name_width: int, keys: list[str]) -> list[Text | str]:
        from datetime import datetime

        assert isinstance(now, datetime)
        name = p.name if len(p.name) <= name_width - 2 else p.name[: name_width - 3] + "…"
        flow = FLOW_SHORT[p.flow]
        if self._narrow():
            flow = NARROW_FLOW[flow]
        access = p.access.preset_name if p.env.is_broker else "—"
        access_style = "bold red" if p.env.is_broker and p.access.dangerous_writes() else ""
        rot = " ⟲" if p.rotation_state else ""
        cells: dict[str, Text | str] = {
            "name": Text("  " + clean_line(name) + rot, style="bold orange1" if p.env.is_live else ""),
            "flow": flow,
            "key": Text(clean_line(p.key_id_masked)),  # a str cell would be parsed as markup
            "access": Text(access, style=access_style),
            "expires": expiry_badge(p.expires_at, now),
            "verified": verified_badge(p, now),
            "token": self._token_cell(p),
        }
        return [cells[key] for key in keys]

    def _token_cell(self, p: Profile) -> Text:
        engine = self.session.engine
        state = None
        if engine is not None and p.flow.is_oauth:
            try:
                state = engine.token_state(p.name)
            except Exception:
                state = None
        return token_summary(p, state, self.session.clock.time())

    def tick(self) -> None:
        """Repaint the token cells whose text changed (the countdowns)."""
        table = self.query_one("#creds", DataTable)
        for key, name in self._row_profiles.items():
            p = self.session.profile(name)
            if p is None or not p.flow.is_oauth:
                continue
            cell = self._token_cell(p)
            try:
                if str(table.get_cell(key, "token")) != cell.plain:
                    table.update_cell(key, "token", cell)
            except Exception as exc:  # the row went away between ticks
                del exc

    def selected_name(self) -> str | None:
        table = self.query_one("#creds", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self._row_profiles.get(key or "")

    def selected_env(self) -> Env | None:
        table = self.query_one("#creds", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        except Exception:
            return None
        if key.startswith(("env:", "empty:")):
            return Env(key.split(":", 1)[1])
        name = self._row_profiles.get(key)
        p = self.session.profile(name) if name else None
        return p.env if p else None

    def select(self, name: str) -> None:
        table = self.query_one("#creds", NavTable)
        table.add_pending_rows()
        try:
            table.move_cursor(row=table.get_row_index(f"p:{name}"))
        except Exception:
            return

    @on(DataTable.RowHighlighted, "#creds")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_summary()

    @on(DataTable.RowSelected, "#creds")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def _update_summary(self) -> None:
        summary = self.query_one("#summary", Static)
        name = self.selected_name()
        p = self.session.profile(name) if name else None
        if p is None:
            env = self.selected_env()
            if env is None:
                summary.update("")
            else:
                summary.update(Text.assemble((env.label, env_style(env)),
                                             "  n: new credential here", style=""))
            return
        summary.update(profile_summary(p, self.session.clock.now(), local=self.session.local_time))

    def _update_status(self) -> None:
        session = self.session
        status = self.query_one("#status", Static)
        if session.store is None and session.store_locked:
            status.update(Text("✗ the secret store is locked · u: unlock · ctrl+p: start demo mode",
                               style="bold red"))
            return
        if session.store is None:
            error = session.store_error
            status.update(Text(f"✗ {clean_line(error)}", style="bold red") if error
                          else Text("opening the secret store…", style="dim"))
            return
        if not session.profiles_loaded:
            status.update(Text("loading credentials…", style="dim"))
            return
        n = len(session.profiles)
        shown = len(self.visible_profiles())
        text = f"{n} credential{'s' if n != 1 else ''}" if n else "no credentials yet — press n to add one"
        if self.env_filter is not None:
            text += f" · {self.env_filter.label} only (esc: all)"
        if self.filter_text.strip():
            text += f" · {shown} match{'es' if shown != 1 else ''} “{self.filter_text.strip()}”"
        text += f" · secrets in {session.backend_label}"
        if session.engine is None:
            text += " · no auth engine (checks and tokens are off)" if session.engine_error else \
                " · loading auth engine…"
        status.update(Text(text, style="dim"))

    def on_profiles_changed(self, message: ProfilesChanged) -> None:
        if message.rows:
            self.request_populate()
        elif not self._populate_pending:  # (a fill on its way repaints all of it)
            self._update_status()  # the same rows: the store opened or failed, the engine arrived
            self.tick()  # the token cells, which need the engine

    # -- filter --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "/" is a priority binding so keys typed right after it reach the filter box; while
        # the box has focus the key is the character "/" again.
        if action == "filter" and self.query_one("#filter", Input).has_focus:
            return False
        if action == "unlock":
            return self.session.store_locked  # only then is there something to unlock
        return self.session.allows(action)  # a viewer is not offered what needs a secret

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        focus_now(box)

    def set_env_filter(self, env: Env | None) -> None:
        """Only ``env``'s credentials (None: every environment); the text filter is cleared."""
        self.env_filter = env
        self.set_filter("")

    def set_filter(self, text: str) -> None:
        box = self.query_one("#filter", Input)
        box.value = text
        box.display = bool(text)
        self.filter_text = text
        self.populate()
        focus_now(self.query_one("#creds", DataTable))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.populate()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.display = False
        focus_now(self.query_one("#creds", DataTable))

    def action_clear_filter(self) -> None:
        if self.filter_text or self.env_filter is not None or self.query_one("#filter", Input).display:
            self.env_filter = None
            self.set_filter("")

    # -- actions -------------------------------------------------------------------------
    def _active(self) -> bool:
        """Keys typed ahead while another screen is being pushed must not act here."""
        return self.app.screen is self

    def _need_selection(self) -> str | None:
        if not self._active():
            return None
        name = self.selected_name()
        if name is None:
            self.notify("select a credential first (↑/↓)", severity="warning", timeout=3)
        return name

    def action_unlock(self) -> None:
        if self._active():
            self.tui.retry_store()

    def action_new(self) -> None:
        if self._active():
            self.tui.open_wizard(self.selected_env())

    def action_details(self) -> None:
        name = self._need_selection()
        if name:
            self.tui.open_details(name)

    def action_check(self) -> None:
        name = self._need_selection()
        if name:
            self.tui.run_check(name)

    def action_tester(self) -> None:
        if self._active():
            self.tui.open_tester(self.selected_name())

    def action_rotate(self) -> None:
        name = self._need_selection()
        if name:
            self.tui.open_rotation(name)

    def action_delete(self) -> None:
        name = self._need_selection()
        if name:
            self.tui.request_delete(name)
