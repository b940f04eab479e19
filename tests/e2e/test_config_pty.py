"""config.toml end to end: the real ``alpaca-tui demo`` in a pseudo-terminal reads the file
that ``ALPACA_TUI_CONFIG`` names. A tmux / zellij user moves quit and the palette off their
prefix keys; the moved keys work, the old ones do nothing, a bad line is one warning."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.ptydrive import Terminal

pytestmark = pytest.mark.e2e


def test_demo_uses_the_keymap_and_time_from_config_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keys]\n"app.quit" = "ctrl+x"\n"app.command-palette" = "ctrl+k"\n"home.new" = "a"\n'
                      '"home.chek" = "c"\n[ui]\ntime = "local"\n')
    env = subprocess_env({"ALPACA_TUI_CONFIG": str(config), "TMPDIR": str(tmp_path), "TZ": "Asia/Tokyo"})
    env.pop("ALPACA_TUI_PASSPHRASE_FILE", None)
    with Terminal([sys.executable, "-m", "alpaca_tui", "demo"], size=(100, 30), env=env) as term:
        term.expect(r"8 credentials", timeout=30)
        term.expect(r'keys\."home\.chek": no such binding', timeout=10)  # the typo, one warning
        term.expect(r"a New", timeout=5)  # the footer shows the moved key
        term.keys("ctrl+q")  # moved away: nothing happens
        term.keys("ctrl+k")
        term.expect(r"Search for commands", timeout=10)
        term.keys("escape", settle=0.5)  # a lone ESC, not the start of alt+a
        term.expect_gone(r"Search for commands", timeout=10)
        term.keys("a")
        term.expect(r"step 1/", timeout=10)
        term.keys("escape", settle=0.5)
        term.expect_gone(r"step 1/", timeout=10)
        term.keys("enter")  # details of the first credential: its times in local time
        term.expect(r"Created +\d{4}-\d\d-\d\d \d\d:\d\d JST", timeout=10)
        term.keys("escape", settle=0.5)
        term.expect_gone(r"Created", timeout=10)
        assert term.alive
        term.keys("ctrl+x")
        assert term.wait_exit(timeout=15) == 0
