"""``core.redact``: secrets are masked in the encodings they travel in (JSON strings, URLs) and
inside parsed JSON documents (an answer that reflects the credential; see the leak audit)."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from alpaca_tui.core.redact import mask, redact, redact_json

SECRET = 'Ab3"de\\f/gh+ij kl&mn=op€qr'  # changes under JSON and URL encoding
TOKEN = "tok-" + "x1y2z3" * 8


def test_redact_masks_encoded_forms() -> None:
    for form in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1],
                 quote(SECRET, safe=""), quote_plus(SECRET)):
        out = redact(f"before {form} after", [SECRET])
        assert form not in out and out.startswith("before ") and out.endswith(" after")
        assert SECRET[-8:] not in out
    # a whole JSON text, as a server that reflects the request would send it
    text = json.dumps({"headers": {"APCA-API-SECRET-KEY": SECRET}})
    assert "gh+ij" not in redact(text, [SECRET])


def test_redact_json_walks_every_string() -> None:
    doc = {"headers": {"Authorization": f"Bearer {TOKEN}", "n": 3, "ok": True, "none": None},
           "list": [SECRET, {"deep": [f"x{SECRET}y"]}, 1.5], TOKEN: "a key"}
    out = redact_json(doc, [SECRET, TOKEN, None])
    flat = json.dumps(out, ensure_ascii=False)
    assert SECRET not in flat and TOKEN not in flat and TOKEN[-8:] not in flat
    assert out["headers"] == {"Authorization": f"Bearer {mask(TOKEN)}", "n": 3, "ok": True, "none": None}
    assert out["list"] == [mask(SECRET), {"deep": [f"x{mask(SECRET)}y"]}, 1.5]
    assert out[mask(TOKEN)] == "a key"
    assert redact_json(doc, []) is doc  # nothing to hide: untouched
    assert redact_json(None, [SECRET]) is None
