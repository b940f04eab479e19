"""The user's settings: ``config.toml`` in the platform's config directory.

Where: ``$ALPACA_TUI_CONFIG`` when set, else platformdirs' user config dir for ``alpaca-tui``
(``~/.config/alpaca-tui/config.toml`` on Linux). A missing file means the defaults.

What (every key optional; ``assets/config.example.toml`` shows them all)::

    [keys]                  # binding id = "key" or "key1,key2" (the ids: F1 help, README)
    "app.quit" = "ctrl+x"
    "home.new" = "a"

    [ui]
    theme = "textual-dark"  # any Textual theme (ctrl+p "theme" lists them)
    time = "utc"            # or "local": how the TUI shows times

    [network]
    timeout = 10            # seconds per request: `check` / `request` without --timeout, the TUI

Loading never fails: a bad file gives one line per problem, naming the key
(``Config.errors``), and the defaults for what could not be read. The TUI and the CLI show
those lines; ``alpaca-tui config show`` exits 2 when there are any. No Textual here: the
binding ids are checked against the real bindings by the TUI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "ALPACA_TUI_CONFIG"
DEFAULT_TIMEOUT = 10.0
TIME_CHOICES = ("utc", "local")
_KEY = re.compile(r"^(?:[a-z0-9_]+\+)*(?:[A-Za-z0-9_]+|.)$")  # ctrl+x, shift+f6, G, question_mark, /


@dataclass(frozen=True)
class Config:
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys (Textual's keymap)
    theme: str | None = None                                # None: Textual's default
    time: str = "utc"                                       # "utc" | "local"
    timeout: float = DEFAULT_TIMEOUT
    path: Path | None = None                                # where it was read from (None: not read)
    errors: tuple[str, ...] = ()                            # one line per problem, naming the key

    @property
    def local_time(self) -> bool:
        return self.time == "local"

    def as_dict(self) -> dict[str, Any]:
        """The effective settings, as ``config show --json`` prints them."""
        return {"path": str(self.path) if self.path else None, "keys": dict(self.keymap),
                "ui": {"theme": self.theme, "time": self.time}, "network": {"timeout": self.timeout},
                "errors": list(self.errors)}


def config_path() -> Path:
    """``$ALPACA_TUI_CONFIG``, else ``<user config dir>/alpaca-tui/config.toml``."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("alpaca-tui", appauthor=False)) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read ``path`` (default :func:`config_path`). Never raises: problems are in ``errors``."""
    path = path or config_path()
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        return Config(path=path, errors=(f"{name}: cannot read {path}: {exc.__class__.__name__}",))
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Config(path=path, errors=(f"{name}: not valid TOML: {exc}",))
    return parse_config(data, path=path)


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """The settings in parsed TOML ``data``; a bad value is reported and its default kept."""
    name = path.name if path else "config.toml"
    errors: list[str] = []

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        errors.append(f"{name}: {key}: expected a table ([{key}]), got {type(value).__name__}")
        return {}

    for key in data:
        if key not in ("keys", "ui", "network"):
            errors.append(f"{name}: unknown key {key!r} (expected [keys], [ui], [network])")
    keymap = _keymap(table("keys"), name, errors)
    ui, network = table("ui"), table("network")
    _unknown(ui, "ui", ("theme", "time"), name, errors)
    _unknown(network, "network", ("timeout",), name, errors)
    theme = ui.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        errors.append(f"{name}: ui.theme: expected a theme name, got {theme!r}")
        theme = None
    time = ui.get("time", "utc")
    if time not in TIME_CHOICES:
        errors.append(f"{name}: ui.time: expected \"utc\" or \"local\", got {time!r}")
        time = "utc"
    timeout = network.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        errors.append(f"{name}: network.timeout: expected seconds between 0 and 600, got {timeout!r}")
        timeout = DEFAULT_TIMEOUT
    return Config(keymap=keymap, theme=theme, time=time, timeout=float(timeout), path=path,
                  errors=tuple(errors))


def _keymap(keys: dict[str, Any], name: str, errors: list[str]) -> dict[str, str]:
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{name}: keys.\"{binding_id}\": expected keys like \"ctrl+x\" or \"j,down\", "
                          f"got {value!r}")
            continue
        parts = [k.strip() for k in value.split(",")]
        bad = [k for k in parts if not _KEY.match(k)]
        if bad:
            errors.append(f"{name}: keys.\"{binding_id}\": {bad[0]!r} is not a key name (e.g. \"ctrl+x\", "
                          "\"f6\")")
            continue
        keymap[str(binding_id)] = ",".join(parts)
    return keymap


def _unknown(section: dict[str, Any], title: str, known: tuple[str, ...], name: str,
             errors: list[str]) -> None:
    for key in section:
        if key not in known:
            errors.append(f"{name}: unknown key {title}.{key} (expected {', '.join(known)})")


__all__ = ["CONFIG_ENV", "DEFAULT_TIMEOUT", "Config", "config_path", "load_config", "parse_config"]
