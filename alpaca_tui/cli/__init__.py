"""Headless commands. Never imports Textual (enforced by tests/unit/test_layers.py)."""
