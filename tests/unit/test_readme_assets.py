"""README's pictures and recording (made by scripts/screenshots.py from the real `alpaca-tui
demo`): they exist where README points, show the demo's eight credentials, the cast is a valid
asciinema v2 file showing the wizard, the countdown and a rotation, and nothing in any of them
is shaped like a secret."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts.termshot import replay, secret_shapes, svg_text

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CAST = ROOT / "assets" / "demo.cast"
SHOTS = sorted(set(re.findall(r"\(((?:screenshots|assets)/[\w.-]+\.(?:svg|cast))\)", README)))


def test_readme_points_at_files_that_exist() -> None:
    assert "screenshots/home.svg" in SHOTS and "assets/demo.cast" in SHOTS
    assert [p for p in SHOTS if not (ROOT / p).is_file()] == []


@pytest.mark.parametrize("name", [p for p in SHOTS if p.endswith(".svg")])
def test_screenshot_shows_no_secret(name: str) -> None:
    text = svg_text((ROOT / name).read_text(encoding="utf-8"))
    assert text.strip()
    assert secret_shapes(text) == []


def test_home_screenshot_is_the_real_demo() -> None:
    text = svg_text((ROOT / "screenshots" / "home.svg").read_text(encoding="utf-8"))
    assert "8 credentials" in text and "DEMO" in text
    for name in ("broker-sandbox-jwt", "broker-sandbox-oauth", "sandbox-readonly-custom", "paper"):
        assert name in text


def test_cast_is_asciicast_v2() -> None:
    lines = CAST.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and isinstance(header["width"], int) and isinstance(header["height"], int)
    last = 0.0
    for line in lines[1:]:
        t, kind, data = json.loads(line)
        assert isinstance(t, (int, float)) and t >= last and kind == "o" and isinstance(data, str)
        last = t
    assert 5 < last < 180  # a short session


def test_cast_shows_wizard_countdown_rotation_and_no_secret() -> None:
    _header, frames = replay(CAST)
    assert any("New credential · step" in f for f in frames)
    assert any(re.search(r"\d\d:\d\d left", f) for f in frames)
    assert any("✓ Rotated" in f for f in frames)
    assert [s for f in frames for s in secret_shapes(f)] == []
    raw = "".join(json.loads(line)[2] for line in CAST.read_text(encoding="utf-8").splitlines()[1:])
    assert secret_shapes(re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]|\x1b\][^\x07]*\x07", "", raw)) == []


def test_the_check_finds_secret_shapes() -> None:
    """The shapes the demo emulator issues are caught (and IDs that are not secrets are not)."""
    assert secret_shapes("secret " + "aB3" * 13 + "x") != []                  # legacy: 40 alphanumerics
    assert secret_shapes("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" * 2) != []        # client secret: base32
    assert secret_shapes("-----BEGIN PRIVATE KEY-----") != []
    assert secret_shapes("req 4dcc6305-b6c5-4e9a-9e0c-82596965c95d  PK12…WXYZ") == []
