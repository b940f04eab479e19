"""The cyclic collector is paused for the TUI's start-up only (core/gcpause.py): every other
command runs with it on, the TUI turns it back on (with start-up's objects frozen) once its
first frame is painted, and a collector someone else turned off is left off."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core import gcpause
from tests.conftest import child_pythonpath, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gcpause.resume()
    gc.unfreeze()  # frozen objects go back to the oldest generation
    (gc.enable if was else gc.disable)()


def test_pause_then_resume_with_freeze() -> None:
    assert gc.isenabled()
    gcpause.pause()
    assert not gc.isenabled() and gcpause.paused()
    frozen = gc.get_freeze_count()
    kept = [[] for _ in range(1000)]
    gcpause.resume(freeze=True)
    assert gc.isenabled() and not gcpause.paused()
    assert gc.get_freeze_count() >= frozen + len(kept)
    gcpause.resume(freeze=True)  # twice: nothing more
    assert gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_off() -> None:
    frozen = gc.get_freeze_count()  # (an in-process main() of an earlier test may have frozen some)
    gc.disable()
    gcpause.pause()
    assert not gcpause.paused()
    gcpause.resume(freeze=True)
    assert not gc.isenabled() and gc.get_freeze_count() == frozen


CHILD = r"""
import gc, sys
from alpaca_tui.cli import main as M
seen = []
original = M.build_parser
def spy(name):
    seen.append(gc.isenabled())
    return original(name)
M.build_parser = spy
code = M.main(["config", "path"])
print("SEEN", seen, gc.isenabled(), code)
"""


def test_every_command_but_the_tui_runs_with_the_collector_on(tmp_path: Path) -> None:
    env = subprocess_env({"PYTHONPATH": child_pythonpath(str(ROOT)), "ALPACA_TUI_HOME": str(tmp_path),
                          "ALPACA_TUI_CONFIG": str(tmp_path / "config.toml")})
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SEEN [True] True 0" in out.stdout, out.stdout


async def test_the_tui_turns_it_back_on_after_its_first_frame(tmp_path: Path) -> None:
    from alpaca_tui.core.clock import FakeClock
    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.app import AlpacaTuiApp

    store = Store.open(tmp_path / "home", backend="file", passphrase="a passphrase for this test")
    gcpause.pause()  # what main() does for `alpaca-tui`
    app = AlpacaTuiApp(store=store, clock=FakeClock())
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(50):
            if gc.isenabled():
                break
            await pilot.pause(0.02)
        assert gc.isenabled() and not gcpause.paused()
        assert gc.get_freeze_count() > 10_000  # start-up's objects: out of the collector's way


CHECK_CHILD = r"""
import gc, sys
from alpaca_tui.cli import main as M
from alpaca_tui.core import gcpause
seen = {}
original = gcpause.resume
def spy(*, freeze=False):
    seen.setdefault("first", (gc.isenabled(), freeze, "httpx" in sys.modules))
    return original(freeze=freeze)
gcpause.resume = spy
code = M.main(["check", "--all"])  # no profiles: exit 1 before any request
print("CHECK", seen.get("first"), gc.isenabled(), code)
"""


def test_check_resumes_it_itself_and_main_always_does_on_return(tmp_path: Path) -> None:
    """``check`` keeps it paused through its imports; a check that ends early (no profiles)
    still leaves the process with the collector on (main's finally)."""
    env = subprocess_env({"PYTHONPATH": child_pythonpath(str(ROOT)), "ALPACA_TUI_HOME": str(tmp_path / "h"),
                          "ALPACA_TUI_KEYRING": "file", "ALPACA_TUI_CONFIG": str(tmp_path / "c.toml"),
                          "ALPACA_TUI_PASSPHRASE": "", "ALPACA_TUI_PASSPHRASE_FILE": ""})
    out = subprocess.run([sys.executable, "-c", CHECK_CHILD], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert "CHECK (False, False, False) True 1" in out.stdout, (out.stdout, out.stderr[-2000:])
