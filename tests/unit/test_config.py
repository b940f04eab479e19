"""config.toml (core/config.py): every setting read, every problem one line naming the key, the
defaults kept for what is bad, and the example in assets/ valid as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpaca_tui.core.config import DEFAULT_TIMEOUT, Config, config_path, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_every_setting_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '''
[keys]
"app.quit" = "ctrl+x"
"home.new" = "a, n"
"list.down" = "G"
"app.help" = "?"
[ui]
theme = "nord"
time = "local"
[network]
timeout = 2.5
'''))
    assert config.errors == ()
    assert config.keymap == {"app.quit": "ctrl+x", "home.new": "a,n", "list.down": "G", "app.help": "?"}
    assert config.theme == "nord" and config.local_time and config.timeout == 2.5


def test_a_missing_file_is_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config == Config(path=tmp_path / "nope.toml")
    assert config.timeout == DEFAULT_TIMEOUT and not config.local_time and config.keymap == {}


@pytest.mark.parametrize(("text", "names"), [
    ('[ui]\ntime = "gmt"\n', "ui.time"),
    ('[ui]\ntheme = 3\n', "ui.theme"),
    ('[network]\ntimeout = -1\n', "network.timeout"),
    ('[network]\ntimeout = "fast"\n', "network.timeout"),
    ('[network]\ntimeout = true\n', "network.timeout"),
    ('[keys]\n"home.new" = "ctrl + x"\n', 'keys."home.new"'),
    ('[keys]\n"home.new" = 5\n', 'keys."home.new"'),
    ('[ui]\ncolour = "red"\n', "ui.colour"),
    ('colour = "red"\n', "'colour'"),
    ('ui = 1\n', "ui"),
])
def test_each_problem_is_one_line_naming_the_key(tmp_path: Path, text: str, names: str) -> None:
    extra = "" if "[network]" in text else "\n[network]\ntimeout = 3\n"
    config = load_config(write(tmp_path, text + extra))
    assert len(config.errors) == 1, config.errors
    (error,) = config.errors
    assert "\n" not in error and error.startswith("config.toml: ") and names in error, error
    if extra:
        assert config.timeout == 3.0  # the good settings are kept around a bad one


def test_not_toml_is_one_line_with_the_place(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[ui\ntime = 'local'\n"))
    (error,) = config.errors
    assert "not valid TOML" in error and "line 1" in error and "\n" not in error
    assert config.time == "utc"


def test_unreadable_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    config = load_config(tmp_path / "config.toml")
    (error,) = config.errors
    assert "cannot read" in error


def test_the_path_is_the_platform_config_dir_unless_overridden(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("ALPACA_TUI_CONFIG", str(tmp_path / "x.toml"))
    assert config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("ALPACA_TUI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "alpaca-tui" / "config.toml"


def test_the_example_config_is_valid_and_names_real_bindings() -> None:
    from alpaca_tui.tui.keys import binding_ids

    example = REPO / "assets" / "config.example.toml"
    assert load_config(example).errors == ()
    # every commented-out keymap line names a binding that exists, and parses once uncommented
    lines = [line[2:] for line in example.read_text().splitlines() if line.startswith('# "')]
    assert len(lines) >= 5
    uncommented = load_config_text("[keys]\n" + "\n".join(line.split("#")[0] for line in lines))
    assert uncommented.errors == ()
    assert set(uncommented.keymap) <= binding_ids(), set(uncommented.keymap) - binding_ids()


def load_config_text(text: str) -> Config:
    import tomllib

    from alpaca_tui.core.config import parse_config

    return parse_config(tomllib.loads(text))
