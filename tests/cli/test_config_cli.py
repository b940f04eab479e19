"""``alpaca-tui config path|show`` and the default ``--timeout`` from config.toml (against the
emulator with added latency: the configured timeout really bounds the request)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from alpaca_tui.core.environments import Env
from alpaca_tui.emulator import Emulator
from tests.cli.enginecli_support import add_profile, emu, run_cli

__all__ = ["emu"]
Cap = pytest.CaptureFixture[str]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    monkeypatch.setenv("ALPACA_TUI_CONFIG", str(path))
    return path


def test_config_path_and_show_without_a_file(config_file: Path, capsys: Cap) -> None:
    code, out, err = run_cli(capsys, "config", "path")
    assert (code, out.strip(), err) == (0, str(config_file), "")
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 0 and err == ""
    assert "no such file: the defaults" in out and 'time = "utc"' in out and "timeout = 10" in out


def test_config_show_prints_the_effective_settings(config_file: Path, capsys: Cap) -> None:
    config_file.write_text('[keys]\n"app.quit" = "ctrl+x"\n[ui]\ntime = "local"\ntheme = "nord"\n'
                           '[network]\ntimeout = 4\n')
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 0 and err == ""
    assert '"app.quit" = "ctrl+x"' in out and 'time = "local"' in out and 'theme = "nord"' in out
    assert "timeout = 4" in out
    code, out, err = run_cli(capsys, "config", "show", "--json")
    data = json.loads(out)
    assert code == 0 and data["exists"] and data["keys"] == {"app.quit": "ctrl+x"}
    assert data["ui"] == {"theme": "nord", "time": "local"} and data["network"] == {"timeout": 4.0}
    assert data["errors"] == []


def test_config_show_names_each_bad_key_and_exits_2(config_file: Path, capsys: Cap) -> None:
    config_file.write_text('[ui]\ntime = "gmt"\n[network]\ntimeout = 0\n')
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("alpaca-tui: error: config.toml: ") for line in lines)
    assert "ui.time" in lines[0] and "network.timeout" in lines[1]
    assert "Traceback" not in err and 'time = "utc"' in out  # the defaults it goes on with
    config_file.write_text("[ui\n")
    code, _out, err = run_cli(capsys, "config", "show")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not valid TOML" in err


def test_the_configured_timeout_bounds_check(alpaca_home: Path, emu: Emulator, config_file: Path,
                                             capsys: Cap) -> None:
    add_profile(emu, "paper", Env.PAPER)
    config_file.write_text("[network]\ntimeout = 0.5\n")
    emu.set_latency("trading-paper", 3.0)
    try:
        start = time.monotonic()
        code, out, err = run_cli(capsys, "check", "paper", "--json")
        took = time.monotonic() - start
        assert code == 1, (out, err)
        results = json.loads(out)["results"]
        assert results and results[0]["category"] == "timeout", results
        assert took < 2.9, took  # the configured 0.5 s, not the default 10 s
        code, out, err = run_cli(capsys, "check", "paper", "--json", "--timeout", "6")  # the flag wins
        assert code == 0, (out, err)
    finally:
        emu.set_latency("trading-paper", 0.0)
    # a bad timeout in the file: a one-line warning, the default, and the command still runs
    config_file.write_text('[network]\ntimeout = "soon"\n')
    code, out, err = run_cli(capsys, "check", "paper")
    assert code == 0, (out, err)
    assert err.strip().splitlines() == [
        "alpaca-tui: warning: config.toml: network.timeout: expected seconds between 0 and 600, got 'soon' "
        "(using the default timeout)"]
