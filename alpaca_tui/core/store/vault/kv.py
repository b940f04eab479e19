"""KV version 2 on the documented layout: versioned reads, check-and-set writes, metadata.

Every data write carries ``options.cas`` (the version it replaces, 0 for a new key); a lost
race raises :class:`~.session.CasConflict` for the caller to re-read and retry. Metadata
(``custom_metadata``: who wrote each version) is changed with ``metadata_cas`` where the
server supports it (OpenBao), by read-modify-write otherwise. A delete removes a key with
all its versions (``DELETE <mount>/metadata/<key>``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alpaca_tui.core.store.vault.config import VaultConfig
from alpaca_tui.core.store.vault.session import CasConflict, VaultSession, import_hvac

METADATA_TRIES = 5


@dataclass(frozen=True)
class Entry:
    """One version of a key: its data and version number (0: the key does not exist)."""

    data: dict[str, Any] | None
    version: int
    created: datetime | None = None


ABSENT = Entry(None, 0)


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        dt = datetime.fromisoformat(head + (f".{frac[:6]}" if frac else ""))
    except ValueError:
        return None
    from datetime import UTC

    return dt.replace(tzinfo=UTC)


class KV:
    """The KV v2 calls the store makes, each one :meth:`VaultSession.call`."""

    def __init__(self, session: VaultSession) -> None:
        self.session = session
        self.config: VaultConfig = session.config

    def path(self, key: str, *, metadata: bool = False) -> str:
        return self.config.api_path(key, metadata=metadata)

    def read(self, key: str) -> Entry:
        """The current version of ``key`` (ABSENT when there is none or it was deleted)."""
        hx = import_hvac().exceptions
        mount = self.config.mount

        def get(client: Any) -> Entry:
            try:
                got = client.secrets.kv.v2.read_secret_version(path=key, mount_point=mount,
                                                               raise_on_deleted_version=True)
            except hx.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return ABSENT
            meta = got["data"].get("metadata") or {}
            data = got["data"].get("data")
            return Entry(data if isinstance(data, dict) else None, int(meta.get("version") or 0),
                         parse_time(meta.get("created_time")))

        return self.session.call(get, self.path(key), "read")

    def write(self, key: str, data: dict[str, Any], cas: int) -> int:
        """A new version of ``key`` replacing version ``cas`` (0: the key must not exist yet).
        Its version number; CasConflict when ``key`` is at another version."""
        mount = self.config.mount

        def put(client: Any) -> int:
            got = client.secrets.kv.v2.create_or_update_secret(path=key, secret=data, cas=cas,
                                                               mount_point=mount)
            return int(got["data"]["version"])

        return self.session.call(put, self.path(key), "create" if cas == 0 else "update")

    def metadata(self, key: str) -> dict[str, Any] | None:
        hx = import_hvac().exceptions
        mount = self.config.mount

        def get(client: Any) -> dict[str, Any] | None:
            try:
                got = client.secrets.kv.v2.read_secret_metadata(path=key, mount_point=mount)
            except hx.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return None
            data = got.get("data")
            return data if isinstance(data, dict) else None

        return self.session.call(get, self.path(key, metadata=True), "read")

    def set_custom(self, key: str, changes: dict[str, str | None]) -> None:
        """Merge ``changes`` into ``key``'s ``custom_metadata`` (None deletes an entry)."""
        url = f"/v1/{self.path(key, metadata=True)}"
        for _ in range(METADATA_TRIES):
            meta = self.metadata(key)
            if meta is None:
                return  # the key is gone: nothing to describe
            custom = {k: v for k, v in (meta.get("custom_metadata") or {}).items() if isinstance(v, str)}
            for k, v in changes.items():
                if v is None:
                    custom.pop(k, None)
                else:
                    custom[k] = v
            body = {"custom_metadata": custom,
                    "metadata_cas": int(meta.get("current_metadata_version") or 0)}
            def post(client: Any, body: dict[str, Any] = body) -> None:
                client.adapter.post(url, json=body)

            try:
                self.session.call(post, url[4:], "update")
                return
            except CasConflict:
                time.sleep(0.01)

    def destroy(self, key: str) -> None:
        """Delete ``key`` and all its versions; absent is not an error."""
        mount = self.config.mount
        def rm(client: Any) -> None:
            client.secrets.kv.v2.delete_metadata_and_all_versions(path=key, mount_point=mount)

        self.session.call(rm, self.path(key, metadata=True), "delete")

    def list(self, folder: str) -> list[str]:
        """Key names directly under ``folder`` (sub-folders end in ``/``)."""
        hx = import_hvac().exceptions
        mount = self.config.mount

        def ls(client: Any) -> list[str]:
            try:
                got = client.secrets.kv.v2.list_secrets(path=folder, mount_point=mount)
            except hx.InvalidPath as exc:
                if "no handler for route" in str(exc):
                    raise
                return []
            return [str(k) for k in got.get("data", {}).get("keys") or []]

        return self.session.call(ls, self.path(folder, metadata=True), "list")


__all__ = ["ABSENT", "KV", "Entry", "parse_time"]
