"""Reading a home's index loads no secret backend: the list at start-up needs the index file
only, so the encrypted file's and the OS keyring's modules (and keyring, cryptography,
OpenSSL's hashlib) are imported when a backend is opened, not before. The backends' names
are still known to the index reader (an index records which one it uses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import child_pythonpath, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
BACKEND_MODULES = ("alpaca_tui.core.store.filecrypt", "alpaca_tui.core.store.system",
                   "alpaca_tui.core.store.secretservice", "alpaca_tui.core.store.store",
                   "keyring", "cryptography", "_hashlib", "secretstorage")

CHILD = r"""
import json, sys
from alpaca_tui.tui import services

peek = services.peek_profiles()
print("PEEK", " ".join(p.name for p in (peek.profiles if peek else [])) or "-")
print("LOADED", " ".join(m for m in sys.argv[1].split(",") if m in sys.modules) or "-")
from alpaca_tui.core.store import registry
print("NAMES", " ".join(registry.backend_names()))
"""


def _home(tmp_path: Path, backend: str) -> Path:
    from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
    from alpaca_tui.core.environments import Env
    from alpaca_tui.core.store import Store

    home = tmp_path / "home"
    store = Store.open(home, backend="file", passphrase="a passphrase for this test")
    store.add_profile(Profile("a-paper", Env.PAPER, Flow.LEGACY, "PK…AAAA"),
                      SecretBundle(active=Secret("PKA0000000000000AAAA", "a" * 40)))
    if backend != "file":  # the same index, recording another backend's name
        path = home / "index.json"
        path.write_text(path.read_text().replace('"backend": "file"', f'"backend": "{backend}"'))
    return home


def _run(home: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env({"ALPACA_TUI_HOME": str(home), "PYTHONPATH": child_pythonpath(str(ROOT))})
    env.pop("ALPACA_TUI_KEYRING", None)
    return subprocess.run([sys.executable, "-c", CHILD, ",".join(BACKEND_MODULES)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=home.parent)


def test_the_index_is_read_without_any_secret_backend(tmp_path: Path) -> None:
    out = _run(_home(tmp_path, "file"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PEEK a-paper" in out.stdout  # the recorded backend name "file" was accepted
    assert "LOADED -" in out.stdout, out.stdout
    # and the table still lists the built-in backends, in their order (the auto order)
    assert "NAMES system file vault" in out.stdout, out.stdout


def test_the_keyring_backend_name_is_known_before_it_is_loaded(tmp_path: Path) -> None:
    out = _run(_home(tmp_path, "system"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PEEK a-paper" in out.stdout, out.stdout
    assert "LOADED -" in out.stdout, out.stdout


def test_an_unknown_backend_name_is_still_refused(tmp_path: Path) -> None:
    from alpaca_tui.core.errors import StoreError
    from alpaca_tui.core.store.index import read_index

    home = _home(tmp_path, "bogus")
    assert "PEEK -" in _run(home).stdout  # in a fresh process: no early list from it
    with pytest.raises(StoreError, match="unknown backend 'bogus'"):
        read_index(home / "index.json")
