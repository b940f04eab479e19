"""Conformance of every IndexBackend and SecretBackend (core/store/protocols.py).

Parametrised over the implementations in tests/unit/store_backends.py: the index as the local
JSON file under the home lock; secrets in the encrypted file and in the real OS keyring (the
Secret Service that ./dev test starts). A new backend (the shared Vault of issue 14) joins by
adding its factory there and one param here; these tests are what it must pass.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from alpaca_tui.core.errors import StoreError
from alpaca_tui.core.store import Edit, IndexBackend, IndexDoc, SecretBackend, backend_names
from tests.conftest import subprocess_env
from tests.unit.store_backends import COUNTER, INDEX_BACKENDS, SECRET_BACKENDS, bump, profile

REPO = Path(__file__).resolve().parents[2]
SECRET_PARAMS = ["file", pytest.param("system", marks=pytest.mark.system_keyring)]
INDEX_PARAMS = ["file"]
PEM_LIKE = ("-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 50
            + "\n-----END PRIVATE KEY-----\n")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE", raising=False)  # the factories give it
    return tmp_path / "home"


@pytest.fixture(params=SECRET_PARAMS)
def open_secrets(request: pytest.FixtureRequest, home: Path) -> Callable[[], SecretBackend]:
    """Opens the backend on ``home``; each call is a fresh instance (as another process would be)."""
    kind: str = request.param
    if kind == "system":
        request.getfixturevalue("system_keyring_home")  # a real Secret Service, or skip (fail in CI)
    return lambda: SECRET_BACKENDS[kind](home)


@pytest.fixture(params=INDEX_PARAMS)
def open_index(request: pytest.FixtureRequest, home: Path) -> Callable[[], IndexBackend]:
    kind: str = request.param
    return lambda: INDEX_BACKENDS[kind](home)


def _seed(ix: IndexBackend, *names: str) -> None:
    def add(doc: IndexDoc) -> Edit[None]:
        for n in names:
            doc.profiles[n] = profile(n)
        return Edit(None)

    ix.update(add)


def _workers(what: str, kind: str, home: Path, workers: int, count: int) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.unit.store_backends", what, kind, str(home),
                               str(w), str(count)], cwd=REPO, env=subprocess_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, out + err


# -- SecretBackend ---------------------------------------------------------------------------------


def test_secret_backend_is_registered_and_conforms(open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    assert isinstance(b, SecretBackend)
    assert b.kind in backend_names() and b.label and isinstance(b.label, str)


def test_bundle_roundtrip_overwrite_and_persistence(open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    b.prepare()
    assert b.get_bundle("p1") is None
    b.put_bundle("p1", "first ✓ " + PEM_LIKE, new=True)
    assert b.get_bundle("p1") == "first ✓ " + PEM_LIKE
    assert open_secrets().get_bundle("p1") == "first ✓ " + PEM_LIKE  # another instance sees it
    b.put_bundle("p1", "second")
    assert b.get_bundle("p1") == "second" and open_secrets().get_bundle("p1") == "second"
    assert not b.creating_new_store() and not open_secrets().creating_new_store()
    b.purge("p1")


def test_a_new_bundle_drops_a_stale_token_and_a_save_keeps_it(
        open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    b.prepare()
    b.put_bundle("p", "v1", new=True)
    b.put_token("p", '{"t": 1}')
    b.put_bundle("p", "v2")  # a rotation saves the bundle: the cached token stays
    assert b.get_token("p") == '{"t": 1}'
    b.put_bundle("p", "v3", new=True)  # a profile added again under the same name
    assert b.get_bundle("p") == "v3" and b.get_token("p") is None
    b.purge("p")


def test_delete_bundle_and_purge(open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    b.prepare()
    for name in ("a", "b"):
        b.put_bundle(name, f"bundle {name}", new=True)
        b.put_token(name, f"token {name}")
    b.delete_bundle("a")
    assert b.get_bundle("a") is None and b.get_token("a") == "token a"
    b.purge("a")
    assert b.get_bundle("a") is None and b.get_token("a") is None
    b.purge("a")           # absent: no error
    b.delete_bundle("a")
    assert open_secrets().get_bundle("b") == "bundle b" and open_secrets().get_token("b") == "token b"
    b.purge("b")
    assert open_secrets().get_bundle("b") is None and open_secrets().get_token("b") is None


def test_token_cache(open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    b.prepare()
    assert b.get_token("t") is None
    b.put_token("t", '{"access_token": "x1"}')
    assert open_secrets().get_token("t") == '{"access_token": "x1"}'
    assert b.get_bundle("t") is None  # a token is not a bundle
    b.put_token("t", '{"access_token": "x2"}')
    assert b.get_token("t") == '{"access_token": "x2"}'
    b.delete_token("t")
    b.delete_token("t")
    assert open_secrets().get_token("t") is None


def test_bundle_names_list_bundles_only(open_secrets: Callable[[], SecretBackend]) -> None:
    b = open_secrets()
    b.prepare()
    b.put_bundle("zeta.1", "z", new=True)
    b.put_bundle("alpha-2", "a", new=True)
    b.put_token("alpha-2", "tok")
    b.put_token("orphan_token", "tok")
    names = open_secrets().bundle_names()
    assert names is None or names == ["alpha-2", "zeta.1"]
    for n in ("zeta.1", "alpha-2", "orphan_token"):
        b.purge(n)


def test_session_methods(open_secrets: Callable[[], SecretBackend]) -> None:
    from tests.conftest import TEST_PASSPHRASE

    b = open_secrets()
    assert isinstance(b.creating_new_store(), bool)
    assert b.needs_unlock() is False  # the factories give the passphrase
    b.unlock(TEST_PASSPHRASE)
    b.prepare()
    b.prepare()  # idempotent
    b.ensure_reachable("nobody")
    b.put_bundle("here", "x", new=True)
    b.ensure_reachable("here")
    assert b.creating_new_store() is False
    b.purge("here")


def test_parallel_writers_lose_nothing(home: Path, open_secrets: Callable[[], SecretBackend]) -> None:
    kind = open_secrets().kind
    _workers("secrets", kind, home, workers=4, count=5)
    b = open_secrets()
    names = [f"w{w:02d}-{k:03d}" for w in range(4) for k in range(5)]
    for n in names:
        assert b.get_bundle(n) == f"bundle {n}" and b.get_token(n) == f"token {n}", n
    listed = b.bundle_names()
    assert listed is None or listed == sorted(names)
    for n in names:
        b.purge(n)


# -- IndexBackend ----------------------------------------------------------------------------------


def test_index_conforms_and_starts_empty(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    assert isinstance(ix, IndexBackend) and ix.location
    doc = ix.read()
    assert doc.profiles == {} and doc.backend is None
    assert ix.stamp() == open_index().stamp()


def test_update_writes_returns_and_persists(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    before = ix.stamp()

    def add(doc: IndexDoc) -> Edit[str]:
        doc.profiles["p"] = profile("p", note="one")
        doc.backend = "file"
        return Edit("done")

    assert ix.update(add) == "done"
    after = ix.stamp()
    assert after != before
    again = open_index().read()
    assert again.profiles == {"p": profile("p", note="one")} and again.backend == "file"

    def change(doc: IndexDoc) -> Edit[None]:
        doc.profiles["p"] = doc.profiles["p"].with_changes(note="two")
        return Edit(None)

    ix.update(change)
    assert open_index().read().profiles["p"].note == "two" and ix.stamp() != after


def test_an_edit_that_does_not_write_leaves_the_index_alone(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    _seed(ix, "p")
    stamp = ix.stamp()
    ran: list[str] = []

    def look(doc: IndexDoc) -> Edit[int]:
        doc.profiles["ghost"] = profile("ghost")  # changed in memory, but not to be written
        return Edit(len(doc.profiles), write=False, after=lambda: ran.append("after"))

    assert ix.update(look) == 2
    assert ran == ["after"] and ix.stamp() == stamp and list(open_index().read().profiles) == ["p"]


def test_a_failing_step_writes_nothing(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    _seed(ix, "p")
    stamp = ix.stamp()

    def fail(doc: IndexDoc) -> Edit[None]:
        del doc.profiles["p"]
        raise StoreError("refused in the middle")

    with pytest.raises(StoreError, match="refused in the middle"):
        ix.update(fail)
    assert ix.stamp() == stamp and list(open_index().read().profiles) == ["p"]


def test_after_runs_once_the_document_is_stored(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    seen: list[list[str]] = []

    def add(doc: IndexDoc) -> Edit[None]:
        doc.profiles["p"] = profile("p")
        return Edit(None, after=lambda: seen.append(list(open_index().read().profiles)))

    ix.update(add)
    assert seen == [["p"]]


def test_unknown_top_level_keys_survive_an_update(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()

    def add(doc: IndexDoc) -> Edit[None]:
        doc.extra["written_by_a_newer_minor"] = {"keep": True}
        doc.profiles["p"] = profile("p")
        return Edit(None)

    ix.update(add)
    ix.update(bump(0, 0))
    assert open_index().read().extra == {"written_by_a_newer_minor": {"keep": True}}


def test_threads_sharing_one_index_lose_nothing(open_index: Callable[[], IndexBackend]) -> None:
    ix = open_index()
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for k in range(10):
                ix.update(bump(w, k))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    doc = open_index().read()
    assert doc.profiles[COUNTER].note == "40" and len(doc.profiles) == 41


@pytest.mark.parametrize("kind", INDEX_PARAMS)
def test_parallel_processes_doing_read_modify_write_lose_nothing(home: Path, kind: str) -> None:
    workers, count = 6, 8
    _workers("index", kind, home, workers, count)
    doc = INDEX_BACKENDS[kind](home).read()
    assert doc.profiles[COUNTER].note == str(workers * count)
    assert sorted(doc.profiles) == sorted([COUNTER] + [f"w{w:02d}-{k:03d}" for w in range(workers)
                                                       for k in range(count)])


# -- the file index in particular ------------------------------------------------------------------


def test_file_index_rolls_back_when_its_write_fails(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alpaca_tui.core.store import fileindex

    ix = INDEX_BACKENDS["file"](home)
    ix.update(bump(0, 0))
    before = (home / "index.json").read_bytes()
    undone: list[str] = []
    after: list[str] = []

    def disk_full(path: Path, doc: object) -> None:
        raise StoreError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(fileindex, "write_index", disk_full)

    def add(doc: IndexDoc) -> Edit[None]:
        doc.profiles["new"] = profile("new")
        return Edit(None, rollback=lambda: undone.append("rollback"), after=lambda: after.append("after"))

    with pytest.raises(StoreError, match="No space left"):
        ix.update(add)
    assert undone == ["rollback"] and after == [] and (home / "index.json").read_bytes() == before


def test_file_index_update_holds_the_home_lock(home: Path) -> None:
    from tests.conftest import lock_is_free

    ix = INDEX_BACKENDS["file"](home)
    held: list[bool] = []

    def look(doc: IndexDoc) -> Edit[None]:
        held.append(not lock_is_free(home))
        return Edit(None)

    ix.update(look)
    assert held == [True] and lock_is_free(home)
