"""Help (F1 / ?): every binding of every screen, with its description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from alpaca_tui.tui.keys import APP_BINDINGS
from alpaca_tui.tui.screens.base import AppScreen
from alpaca_tui.tui.typeahead import FIELD_BINDINGS
from alpaca_tui.tui.widgets.lists import LIST_BINDINGS
from alpaca_tui.tui.widgets.scope_matrix import ScopeMatrix

if TYPE_CHECKING:
    from alpaca_tui.tui.session import Session

ABOUT = (
    "alpaca-tui manages Alpaca API credentials and proves they work. Secrets live in the OS keyring "
    "or an encrypted file and are shown masked (prefix…last4) unless you press reveal. Live "
    "environments (real money) are drawn in orange; writes to them from the tester ask first. "
    "Each key below shows its binding id in brackets: move it in config.toml's \\[keys] "
    "(alpaca-tui config path)."
)


def _key(binding: Binding, keymap: Mapping[str, str] | None = None) -> str:
    """The keys shown for ``binding``: the user's keymap first (config.toml [keys])."""
    mapped = (keymap or {}).get(binding.id or "")
    if not mapped and binding.key_display:
        return binding.key_display
    names = []
    for k in (mapped or binding.key).split(","):
        k = k.strip()
        names.append({"question_mark": "?", "slash": "/", "escape": "esc", "enter": "enter",
                      "space": "space"}.get(k, k))
    return " / ".join(names)


def binding_sections() -> list[tuple[str, list[Binding]]]:
    from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
    from alpaca_tui.tui.dialogs.wizard import WizardScreen
    from alpaca_tui.tui.screens.details import DetailsScreen
    from alpaca_tui.tui.screens.home import HomeScreen
    from alpaca_tui.tui.screens.rotation import RotationScreen
    from alpaca_tui.tui.screens.tester import TesterScreen

    def only(bs: list[BindingType]) -> list[Binding]:
        return [b for b in bs if isinstance(b, Binding)]

    return [
        ("Everywhere", [*only(APP_BINDINGS), *only(AppScreen.BINDINGS)]),
        ("Every list (credentials, wizard choices, tester headers and history)", only(LIST_BINDINGS)),
        ("Text fields", only(FIELD_BINDINGS)),
        ("Environments & credentials (home)", only(HomeScreen.BINDINGS)),
        ("Credential details & token panel", only(DetailsScreen.BINDINGS)),
        ("New-credential wizard", only(WizardScreen.BINDINGS)),
        ("Scope matrix (wizard, access step)", only(ScopeMatrix.BINDINGS)),
        ("Request tester", only(TesterScreen.BINDINGS)),
        ("Rotation", only(RotationScreen.BINDINGS)),
        ("Confirmation dialogs", only(ConfirmDialog.BINDINGS)),
    ]


def help_renderable(keymap: Mapping[str, str] | None = None) -> Group:
    parts: list[Text | Table] = []
    for title, bindings in binding_sections():
        parts.append(Text(title, style="bold underline"))
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True, min_width=12, max_width=24)
        table.add_column()
        seen: set[str] = set()
        for b in bindings:
            key = _key(b, keymap)
            if key in seen:
                continue
            seen.add(key)
            desc = Text(b.description or b.action)
            if b.tooltip:
                desc.append(f" — {b.tooltip}", style="dim")
            if b.id:
                desc.append(f"  [{b.id}]", style="dim italic")  # for [keys] in config.toml
            table.add_row(key, desc)
        parts.append(table)
        parts.append(Text(""))
    return Group(*parts)


class HelpScreen(AppScreen):
    BODY_ID = "help-body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "app.pop_screen", "Close help", id="help.close"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session, classes="help-screen")  # no id: one may be pushed twice

    def compose_body(self) -> ComposeResult:
        yield Static(ABOUT, id="help-about")
        yield Static(help_renderable(self.session.keymap), id="help-keys")

    def on_mount(self) -> None:
        self.title = "help · keys"
        self.query_one("#help-body").focus()
