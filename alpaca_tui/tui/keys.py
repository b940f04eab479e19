"""The app's own key bindings (they work on every screen), and the user's keymap.

Each screen declares its bindings in its class (``BINDINGS``); the text-field bindings that
keep typed-ahead keys in their field are in ``tui/typeahead.py``, the list keys (j/k/g/G) in
``tui/widgets/lists.py``, the pane keys (F6) on ``AppScreen``. Every binding in the TUI carries
an id, ``<area>.<action>`` (``app.help``, ``home.new``, ``wizard.next``, ``field.next``), and a
description for the footer and the help screen. Textual's own ctrl+q / ctrl+c / ctrl+p have
no id, so they are declared again here with one.

The keymap is ``[keys]`` in config.toml (``core/config.py``): binding id → keys, applied with
Textual's ``App.set_keymap`` (as Posting does), so a tmux / zellij prefix that clashes can be
moved. :func:`unknown_binding_ids` names the ids in a keymap that no binding has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("f1", "help", "Help", key_display="F1", id="app.help"),
    Binding("question_mark", "help", "Help", show=False, id="app.help-question-mark"),
    Binding("ctrl+p", "command_palette", "palette", show=False, priority=True,
            tooltip="Command palette: env:, credential:, token:, request:, app: commands, then Textual's",
            id="app.command-palette"),
    Binding("ctrl+q", "quit", "Quit from anywhere", show=False, priority=True, id="app.quit"),
    Binding("ctrl+c", "help_quit", "Says how to quit (ctrl+c copies in text fields)", show=False,
            system=True, id="app.help-quit"),
]


def all_bindings() -> list[Binding]:
    """Every binding of every screen, dialog and widget of the TUI (what a keymap can move)."""
    from alpaca_tui.tui.dialogs.choice import ChoiceDialog
    from alpaca_tui.tui.dialogs.passphrase import PassphraseDialog
    from alpaca_tui.tui.screens.help import HelpScreen, binding_sections

    found = [b for _title, bindings in binding_sections() for b in bindings]
    for extra in (HelpScreen.BINDINGS, ChoiceDialog.BINDINGS, PassphraseDialog.BINDINGS):
        found += [b for b in extra if isinstance(b, Binding)]
    return found


def keymap_clashes(keymap: Mapping[str, str]) -> list[str]:
    """Keys the keymap gives two bindings of one screen (Textual reports no clash between two
    bindings that both have ids). One line each: ``"n: home.new and home.delete (home)"``."""
    if not keymap:  # nothing moved, nothing to clash (and no screen module is imported for it)
        return []
    from alpaca_tui.tui.screens.help import binding_sections

    sections = binding_sections()
    everywhere = sections[0][1]
    out: list[str] = []
    for title, bindings in sections[1:]:
        owner: dict[str, str] = {}
        for b in [*everywhere, *bindings]:
            keys = keymap.get(b.id or "") or b.key
            for key in (k.strip() for k in keys.split(",")):
                other = owner.setdefault(key, b.id or b.action)
                if other != (b.id or b.action) and (b.id in keymap or other in keymap):
                    line = f"{key}: {other} and {b.id} ({title})"
                    if line not in out:
                        out.append(line)
    return out


def binding_ids(bindings: Iterable[Binding] | None = None) -> set[str]:
    return {b.id for b in (all_bindings() if bindings is None else bindings) if b.id}


def unknown_binding_ids(keymap: Mapping[str, str]) -> list[str]:
    if not keymap:  # the usual case: start-up imports no screen module to learn every binding
        return []
    known = binding_ids()
    return sorted(k for k in keymap if k not in known)


__all__ = ["APP_BINDINGS", "all_bindings", "binding_ids", "keymap_clashes", "unknown_binding_ids"]
