"""Backends by name (core/store/registry.py): a backend is added by registering it, and Store.open
then selects it, records it in the index and pins the home to it, with no change to Store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import BackendUnavailableError, StoreError, UsageError
from alpaca_tui.core.store import (
    BackendSpec,
    FileBackend,
    FileIndex,
    OpenContext,
    Opened,
    Reason,
    Store,
    backend_names,
    register_backend,
    registry,
    requested_backend,
)
from alpaca_tui.core.store.index import read_index


class SecondFile(FileBackend):
    """The encrypted file under another name and file: a second registered backend."""

    kind = "second"
    label = "second encrypted file"


def _open_second(ctx: OpenContext, reason: Reason) -> Opened:
    path = ctx.home / "second.enc"
    secrets = SecondFile(path, ctx.lock, passphrase=ctx.passphrase,
                         passphrase_provider=ctx.passphrase_provider)
    return Opened(FileIndex(ctx.home, ctx.lock), secrets, where=f"second file {path}")


@pytest.fixture
def second() -> Iterator[BackendSpec]:
    spec = register_backend(BackendSpec("second", "second encrypted file", _open_second, aliases=("2nd",)))
    try:
        yield spec
    finally:
        del registry.BACKENDS["second"]


def _bundle() -> SecretBundle:
    return SecretBundle(active=Secret("PKSECOND000000000001", "second-backend-secret-0123456789"))


def test_builtin_names_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_names()[:2] == ("system", "file")
    monkeypatch.delenv("ALPACA_TUI_KEYRING", raising=False)
    assert requested_backend() == (None, "auto")
    assert requested_backend(" Keyring ") == ("system", "backend argument")
    assert requested_backend("encrypted-file") == ("file", "backend argument")
    monkeypatch.setenv("ALPACA_TUI_KEYRING", "os")
    assert requested_backend() == ("system", "ALPACA_TUI_KEYRING")
    # (the name that was unknown here before the shared store existed is now the third backend)
    assert requested_backend("vault") == ("vault", "backend argument")
    with pytest.raises(UsageError, match=r"unknown secret backend 'nope' \(use system, file or vault\)"):
        requested_backend("nope")


def test_a_name_or_alias_cannot_be_registered_twice(second: BackendSpec) -> None:
    with pytest.raises(ValueError, match="keyring"):
        register_backend(BackendSpec("other", "other", _open_second, aliases=("keyring",)))
    with pytest.raises(ValueError, match="second"):
        register_backend(BackendSpec("second", "again", _open_second))
    assert "other" not in backend_names()


def test_a_registered_backend_is_selected_recorded_and_pinned(alpaca_home: Path, second: BackendSpec,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="use system, file, vault or second"):
        requested_backend("nope")
    store = Store.open(backend="2nd")
    assert store.backend_kind == "second" and store.backend_label == "second encrypted file"
    where = f"second file {alpaca_home / 'second.enc'}"
    assert store.selection_notes == [f"using {where} (chosen by backend argument)"]
    store.add_profile(Profile("p", Env.PAPER, Flow.LEGACY, "PKSE…0001"), _bundle())
    assert json.loads((alpaca_home / "index.json").read_text())["backend"] == "second"
    assert read_index(alpaca_home / "index.json").backend == "second"
    assert (alpaca_home / "second.enc").exists() and not (alpaca_home / "secrets.enc").exists()

    monkeypatch.delenv("ALPACA_TUI_KEYRING")
    pinned = Store.open()  # no try_auto, but the home is pinned to it
    assert pinned.backend_kind == "second" and "1 profile(s) are stored there" in pinned.selection_notes[0]
    assert pinned.load_bundle("p") == _bundle()
    mismatch = "in the second encrypted file, but backend argument asks for file"
    with pytest.raises(BackendUnavailableError, match=mismatch):
        Store.open(backend="file")
    pinned.remove_profile("p")
    assert Store.open().backend_kind != "second"  # not pinned any more, and never chosen by auto


def test_an_index_naming_an_unregistered_backend_is_refused(alpaca_home: Path) -> None:
    alpaca_home.mkdir(mode=0o700)
    (alpaca_home / "index.json").write_text(json.dumps({"version": 1, "backend": "second", "profiles": {}}))
    with pytest.raises(StoreError, match="unknown backend 'second'"):
        Store.open()


def test_the_vault_backend_is_registered_without_importing_it() -> None:
    """``vault`` is known by name in every process; its package loads only when one is opened."""
    import subprocess
    import sys

    code = ("import sys; from alpaca_tui.core.store.registry import backend_spec, backend_label; "
            "import alpaca_tui.core.store; spec = backend_spec('vault'); "
            "print(backend_label('vault'), 'alpaca_tui.core.store.vault' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    from alpaca_tui.core.store.vault.session import NAME

    assert out.stdout.strip() == f"{NAME} False", out.stderr
