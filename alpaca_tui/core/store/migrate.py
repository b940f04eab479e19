"""Moving a home's profiles to another backend (``alpaca-tui store migrate --to vault|file|system``).

Every profile moves with its whole secret bundle (active, pending and previous secrets: one
payload), in four steps, each safe to repeat, with a journal (``<home>/migration.json``, 0600,
non-secret: source, target, the profile names, the step reached) so a migration that is
interrupted at any point resumes where it stopped and loses nothing:

1. **copy** — each bundle is written to the target and read back; it must be identical
   (every secret of it). A bundle already there and identical is kept; a different one is a
   conflict and stops the migration before anything is switched or removed.
2. **index** — the target's index gets every profile entry (for two local backends the index
   is the same ``index.json`` and this step has nothing to do).
3. **switch** — the home is pinned to the target (``store.json`` for OpenBao / Vault, the
   ``"backend"`` of ``index.json`` for the local ones): from here on every alpaca-tui process
   uses the target. The journal then records ``switched``.
4. **remove** — the source copies are deleted: bundles and cached tokens, then the source's
   index entries (the shared index of a Vault source loses them for every home using it).
   The journal is deleted last.

Until step 3 the source is what everyone uses and is untouched; after it, the target holds
everything that was verified. Tokens are not moved (a cache): the next use fetches one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alpaca_tui.core.clock import SYSTEM_CLOCK, Clock
from alpaca_tui.core.credentials import SecretBundle
from alpaca_tui.core.errors import NotFoundError, StoreError, UsageError
from alpaca_tui.core.store.fsutil import HomeLock, atomic_write, ensure_private_dir
from alpaca_tui.core.store.index import IndexDoc
from alpaca_tui.core.store.pin import Pin, read_pin, recorded_backend, remove_pin, write_pin
from alpaca_tui.core.store.protocols import Edit
from alpaca_tui.core.store.registry import OpenContext, backend_label, requested_backend, select_backend
from alpaca_tui.core.store.safefile import JOURNAL_MAX, read_file
from alpaca_tui.core.store.store import Store

JOURNAL_NAME = "migration.json"
LOCAL = ("system", "file")


@dataclass
class Journal:
    source: str
    target: str
    names: list[str]
    state: str = "copying"                      # "copying" | "switched"
    pin: dict[str, str] | None = None           # the Vault side's settings (where its index is)

    def save(self, home: Path, lock: HomeLock) -> None:
        ensure_private_dir(home)
        doc = {"version": 1, "source": self.source, "target": self.target, "names": self.names,
               "state": self.state, "pin": self.pin}
        with lock.hold():
            atomic_write(home / JOURNAL_NAME, (json.dumps(doc, indent=2) + "\n").encode())

    @classmethod
    def load(cls, home: Path) -> Journal | None:
        path = home / JOURNAL_NAME
        raw = read_file(path, cap=JOURNAL_MAX, label=str(path))
        if raw is None:
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
            return cls(str(doc["source"]), str(doc["target"]), [str(n) for n in doc["names"]],
                       str(doc["state"]), doc.get("pin"))
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"{path} is not a migration journal (repair it or move it aside)") from None


@dataclass
class Report:
    source: str
    target: str
    moved: list[str] = field(default_factory=list)
    secrets: int = 0          # secrets moved (active + pending + previous)
    resumed: bool = False


def open_named(home: Path, name: str, *, pin: Pin | None, lock: HomeLock,
               passphrase_provider: Callable[[bool], str] | None, clock: Clock) -> Store:
    """``name``'s store for ``home`` whatever the home is pinned to (a migration needs both)."""
    ctx = OpenContext(home, lock, passphrase_provider=passphrase_provider, pin=pin)
    opened, note = select_backend(ctx, name, "store migrate", None, 0)
    return Store(home, opened, lock, notes=[note], clock=clock, keyring_probe=ctx.probe)


class Migration:
    """One migration of ``home`` to ``target`` (see the module doc); :meth:`run` does it all."""

    def __init__(self, home: Path, target: str, *, passphrase_provider: Callable[[bool], str] | None = None,
                 clock: Clock = SYSTEM_CLOCK, on_step: Callable[[str], None] | None = None) -> None:
        self.home = home.expanduser().absolute()
        self.target = requested_backend(target)[0] or ""
        if not self.target:
            raise UsageError("store migrate --to needs a backend name (vault, file or system)")
        self.lock = HomeLock(self.home)
        self.provider = passphrase_provider
        self.clock = clock
        self.on_step = on_step or (lambda _text: None)

    # -- planning ----------------------------------------------------------------------------
    def plan(self) -> Journal | None:
        """The journal to carry out: a resumed one, a new one, or None when there is nothing to do."""
        journal = Journal.load(self.home)
        if journal is not None:
            if journal.target != self.target:
                raise UsageError(f"a migration of this home to {journal.target} is under way; finish it "
                                 f"first: alpaca-tui store migrate --to {journal.target}")
            return journal
        recorded, _count, pin = recorded_backend(self.home)
        source = recorded or "file"
        if source == self.target:
            return None
        src = self._open(source, pin)
        names = [p.name for p in src.list_profiles()]
        if pin is None and self.target == "vault":
            pin = self._target_pin()
        vault_pin = pin.settings if pin is not None else None
        return Journal(source, self.target, names, pin=vault_pin)

    def _target_pin(self) -> Pin:
        from alpaca_tui.core.store.vault.config import load_config

        return Pin("vault", load_config(None).settings())

    def _open(self, name: str, pin: Pin | None) -> Store:
        return open_named(self.home, name, pin=pin if name == "vault" else None, lock=self.lock,
                          passphrase_provider=self.provider, clock=self.clock)

    # -- running -----------------------------------------------------------------------------
    def run(self, journal: Journal) -> Report:
        pin = Pin("vault", journal.pin) if journal.pin is not None else None
        src, dst = self._open(journal.source, pin), self._open(journal.target, pin)
        report = Report(journal.source, journal.target, resumed=(self.home / JOURNAL_NAME).exists())
        if journal.state == "copying":
            journal.save(self.home, self.lock)
            profiles = self._copy(src, dst, journal.names, report)
            self._index(src, dst, profiles, journal.target)
            self._switch(journal, pin, dst)
            journal.state = "switched"
            journal.save(self.home, self.lock)
            self.on_step(f"this home now keeps its profiles in the {backend_label(journal.target)}")
        else:  # switched before an interruption: everything is in the target already
            for name in journal.names:
                payload = dst.secret_backend.get_bundle(name)
                if payload is not None:
                    report.moved.append(name)
                    report.secrets += _verify(name, payload, dst)
        self._remove(src, dst, journal.names)
        (self.home / JOURNAL_NAME).unlink(missing_ok=True)
        return report

    def _copy(self, src: Store, dst: Store, names: list[str], report: Report) -> dict[str, Any]:
        profiles: dict[str, Any] = {}
        dst.secret_backend.prepare()
        for name in names:
            profile = _entry(name, src, dst)
            if profile is None:
                self.on_step(f"skipped {name}: it was removed meanwhile")
                continue
            payload = src.secret_backend.get_bundle(name) or dst.secret_backend.get_bundle(name)
            if payload is None:
                raise StoreError(f"the secret of profile {name!r} is in neither the {src.backend_label} nor "
                                 f"the {dst.backend_label}; nothing was switched or removed")
            existing = dst.secret_backend.get_bundle(name)
            if existing is None:
                dst.secret_backend.put_bundle(name, payload, new=True)
            elif existing != payload:
                raise StoreError(f"the {dst.backend_label} already holds a different secret for {name!r}; "
                                 "remove or rename one of them, then run store migrate again (nothing was "
                                 "switched or removed)")
            count = _verify(name, payload, dst)
            profiles[name] = profile
            report.moved.append(name)
            report.secrets += count
            self.on_step(f"copied {name} ({count} secret(s)) to the {dst.backend_label} and verified it")
        return profiles

    def _index(self, src: Store, dst: Store, profiles: dict[str, Any], target: str) -> None:
        if src.index_backend.location == dst.index_backend.location:
            return  # two local backends share index.json: the switch changes its backend

        def add(doc: IndexDoc) -> Edit[None]:
            doc.profiles.update(profiles)
            doc.backend = target if doc.profiles else None
            return Edit(None)

        dst.index_backend.update(add)
        self.on_step(f"indexed {len(profiles)} profile(s) in the {dst.backend_label}")

    def _switch(self, journal: Journal, pin: Pin | None, dst: Store) -> None:
        if journal.target == "vault":
            assert pin is not None
            write_pin(self.home, self.lock, pin)
            return
        if journal.source == "vault":
            remove_pin(self.home, self.lock)  # index.json (written by the index step) says the target
            return
        def pin_local(doc: IndexDoc) -> Edit[None]:  # the one index.json both local backends share
            doc.backend = journal.target if doc.profiles else None
            return Edit(None)

        dst.index_backend.update(pin_local)

    def _remove(self, src: Store, dst: Store, names: list[str]) -> None:
        same_index = src.index_backend.location == dst.index_backend.location
        for name in names:
            src.secret_backend.prepare()
            src.secret_backend.purge(name)
            self.on_step(f"removed {name} from the {src.backend_label}")
        if not same_index:
            def drop(doc: IndexDoc) -> Edit[None]:
                for n in names:
                    doc.profiles.pop(n, None)
                if not doc.profiles:
                    doc.backend = None
                return Edit(None)

            src.index_backend.update(drop)
        _tidy_local(src)
        if read_pin(self.home) is not None and dst.backend_kind in LOCAL:
            remove_pin(self.home, self.lock)


def _entry(name: str, src: Store, dst: Store) -> Any:
    """``name``'s profile entry: the source's, else the target's (an earlier run moved it)."""
    for store in (src, dst):
        try:
            return store.get_profile(name)
        except NotFoundError:
            continue
    return None


def _verify(name: str, payload: str, dst: Store) -> int:
    back = dst.secret_backend.get_bundle(name)
    try:
        wrote = SecretBundle.from_dict(json.loads(payload))
        read = SecretBundle.from_dict(json.loads(back or ""))
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"the secret of {name!r} did not read back intact from the {dst.backend_label}; "
                         "nothing was switched or removed") from None
    if back != payload or read != wrote:
        raise StoreError(f"the secret of {name!r} did not read back intact from the {dst.backend_label}; "
                         "nothing was switched or removed")
    return sum(1 for s in (wrote.active, wrote.pending, wrote.previous) if s is not None)


def _tidy_local(src: Store) -> None:
    """An encrypted file left without a bundle holds nothing worth keeping: remove it."""
    if src.backend_kind == "file" and src.secrets_path.exists() and not src.secret_backend.bundle_names():
        src.secrets_path.unlink(missing_ok=True)


__all__ = ["JOURNAL_NAME", "Journal", "Migration", "Report", "open_named"]
