"""Install as users install a terminal tool: a wheel built from this repository, installed
into a clean virtualenv (what ``pipx install`` does), runs ``alpaca-tui demo`` in a real pty
with its styles, and answers ``--version`` and ``completion``.

Bounded in time: the wheel is built and installed once per session (module fixture, one
xdist group). Build and run-time dependencies come from a local wheelhouse,
``$ALPACA_TUI_WHEELHOUSE`` or ``.cache/wheelhouse`` in the repository (git-ignored); only when
it lacks something is it filled from the package index (``pip download``), then reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

import alpaca_tui
from tests.ptydrive import Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("wheel-install")]
ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(os.environ.get("ALPACA_TUI_WHEELHOUSE") or ROOT / ".cache" / "wheelhouse")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
OFFLINE = ["--no-index", "--find-links", str(WHEELHOUSE)]


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def offline_or_fill(offline: list[str], fill: list[str]) -> None:
    """Run pip ``offline`` against the wheelhouse; when that fails, ``pip download`` what is
    missing into it (``fill``) and try once more."""
    first = run(offline)
    if first.returncode == 0:
        return
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    got = run([*PIP, "download", "--only-binary", ":all:", "-d", str(WHEELHOUSE), *fill])
    assert got.returncode == 0, f"cannot fill the wheelhouse {WHEELHOUSE}:\n{got.stderr[-2000:]}"
    for ours in WHEELHOUSE.glob("alpaca_tui-*"):  # only dependencies are kept: ours is rebuilt each time
        ours.unlink()
    again = run(offline)
    assert again.returncode == 0, f"{offline}:\n{again.stderr[-2000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # PEP 517 build in an isolated environment whose setuptools comes from the wheelhouse
    offline_or_fill([*PIP, "wheel", "--no-deps", "-w", str(dist), *OFFLINE, str(ROOT)], ["setuptools>=70.1"])
    (built,) = dist.glob("alpaca_tui-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("clean") / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    assert made.returncode == 0, made.stderr
    python = where / "bin" / "python"
    offline_or_fill([*PIP, "--python", str(python), "install", *OFFLINE, str(wheel)], [str(wheel)])
    return where


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: nothing of this repository or its virtualenv in it."""
    keep = ("LANG", "LC_ALL", "TERM", "USER", "LOGNAME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    (tmp_path / "tmp").mkdir()
    return env | {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
                  "TMPDIR": str(tmp_path / "tmp"), "ALPACA_TUI_HOME": str(tmp_path / "alpaca-home")}


def test_wheel_carries_every_data_file(wheel: Path) -> None:
    """Styles and any other data file under alpaca_tui/ ship in the wheel (package-data)."""
    tracked = run(["git", "ls-files", "alpaca_tui"], cwd=ROOT)
    if tracked.returncode == 0:
        files = tracked.stdout.split()
    else:  # not a git checkout (an sdist): the files on disk
        files = [str(p.relative_to(ROOT)) for p in (ROOT / "alpaca_tui").rglob("*") if p.is_file()]
    data = {f for f in files if not f.endswith((".py", ".pyc")) and "__pycache__" not in f}
    assert "alpaca_tui/tui/app.tcss" in data
    names = set(zipfile.ZipFile(wheel).namelist())
    assert data - names == set()


def test_version_and_import_location(venv: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    out = run([str(venv / "bin" / "alpaca-tui"), "--version"], env=user_env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"alpaca-tui {alpaca_tui.__version__}"
    assert alpaca_tui.__version__ == dist_version("alpaca-tui")  # pyproject reads it from the package
    where = run([str(venv / "bin" / "python"), "-c", "import alpaca_tui.tui; print(alpaca_tui.tui.__file__)"],
                env=user_env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not this checkout


def test_completion_from_the_install(venv: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    out = run([str(venv / "bin" / "alpaca-tui"), "completion", "bash"], env=user_env, cwd=tmp_path)
    assert out.returncode == 0 and "complete -F" in out.stdout, out.stderr
    words = run([str(venv / "bin" / "alpaca-tui"), "completion", "--complete"], input="alpaca-tui\nche\n",
                env=user_env, cwd=tmp_path)
    assert words.stdout == "check\n", words.stderr


def test_demo_runs_from_the_install(venv: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    with Terminal([str(venv / "bin" / "alpaca-tui"), "demo"], size=(100, 30), env=user_env,
                  cwd=tmp_path) as term:
        term.expect(r"8 credentials", timeout=60)
        screen = term.text()
        assert "broker-sandbox-jwt" in screen and "DEMO" in screen
        assert "─" * 60 in screen  # the summary's top border: app.tcss was found and applied
        term.type("q")
        assert term.wait_exit(20) == 0
    tmp = Path(user_env["TMPDIR"])
    assert not list(tmp.glob("alpaca-tui-demo-*"))  # the throwaway home is gone
    assert not Path(user_env["ALPACA_TUI_HOME"]).exists()  # the user's store was never touched
