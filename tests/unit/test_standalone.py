"""The project stands alone: no file in the repository refers to anything beside it (the
developers' shared folder, its tools). A clone in an empty directory runs ``./dev test``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Spelled in pieces so this file does not match itself.
FORBIDDEN = ["../" + "shared", "shared" + "/tools", "ALPACA_TUI_" + "TTYDRIVE"]
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"}


def repo_files() -> list[Path]:
    """Tracked files plus new ones not ignored (git), or every file outside caches and the
    virtualenv when this is not a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout
        return [REPO / os.fsdecode(p) for p in out.split(b"\0") if p]
    except (OSError, subprocess.CalledProcessError):
        found = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found += [Path(root, f) for f in files]
        return found


def test_nothing_refers_outside_the_repository() -> None:
    files = [f for f in repo_files() if f.is_file()]
    assert len(files) > 50 and REPO / "dev" in files and Path(__file__) in files
    hits = []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for n, line in enumerate(text.splitlines(), 1):
            if any(bad in line for bad in FORBIDDEN):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert not hits, "files that refer outside the repository:\n" + "\n".join(hits)
