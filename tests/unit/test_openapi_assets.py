"""The vendored OpenAPI specs under assets/openapi/ (data for the spec tests and the docs
generator): each is the file its README describes, parses as JSON, and documents operations."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[2] / "assets" / "openapi"
FILES = {  # file -> (info.title, the host of its first server)
    "broker-api.json": ("Broker API", "broker-api.sandbox.alpaca.markets"),
    "trading-api.json": ("Trading API", "paper-api.alpaca.markets"),
    "market-data-api.json": ("Market Data API", "data.alpaca.markets"),
    "authx.json": ("Authentication API", "authx.alpaca.markets"),
}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.mark.parametrize("name", sorted(FILES))
def test_spec_loads_and_has_paths(name: str) -> None:
    doc = json.loads((SPECS / name).read_text(encoding="utf-8"))
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    title, host = FILES[name]
    assert doc["info"]["title"] == title
    assert host in doc["servers"][0]["url"]
    paths = doc["paths"]
    assert isinstance(paths, dict) and paths
    assert all(p.startswith("/") for p in paths)
    assert any(m in METHODS for ops in paths.values() for m in ops)


def test_readme_names_every_spec_with_its_hash() -> None:
    readme = (SPECS / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([\w-]+\.json)` \| `([0-9a-f]{64})` \|$", readme, flags=re.M))
    assert sorted(listed) == sorted(FILES) == sorted(p.name for p in SPECS.glob("*.json"))
    for name, digest in listed.items():
        assert hashlib.sha256((SPECS / name).read_bytes()).hexdigest() == digest, name
