"""Tests against real OpenBao servers (tests/vault_fixtures.py)."""

from tests.vault_fixtures import bao, bao_dev, bao_raft  # noqa: F401  (fixtures)
