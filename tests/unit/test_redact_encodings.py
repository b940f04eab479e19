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


def test_redact_masks_binary_forms_and_basic_at_every_alignment() -> None:
    """Issue 12, item 8: a server echoing the secret as base64, hex, URL-encoding or inside a
    Basic header (``base64(key_id:secret)``, where the secret starts at any byte offset)."""
    import base64

    secret = "PaperSecret0123456789abcdefghijklmnopqrs"
    raw = secret.encode()
    forms = [base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode(), raw.hex(), raw.hex().upper(),
             quote(secret, safe="")]
    for key_id in ("PK", "PK1", "PK12", "PKTEST00000000000001"):
        forms.append(base64.b64encode(f"{key_id}:{secret}".encode()).decode())
    for form in forms:
        out = redact(f"<{form}>", [secret])
        assert form not in out and out.startswith("<") and out.endswith(">")
        # what is left of an encoded form reveals no more than mask() does: a few edge bytes
        assert len(out) < 12 + len(form) - 16, (form, out)
    rid = redact(raw.hex()[:20].upper() + raw.hex()[20:], [secret])  # mixed case
    assert secret[4:-4] not in rid and raw.hex()[8:-8] not in rid
    odd = "a/b+c=d&e f"  # percent escapes in either case
    for form in (quote(odd, safe=""), quote(odd, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
                 quote(odd), quote_plus(odd)):
        assert form not in redact(f"x{form}y", [odd]), form


def test_request_id_is_redacted_and_cleaned() -> None:
    from alpaca_tui.core.http import request_id_of

    secret = "PaperSecret0123456789abcdefghijklmnopqrs"
    assert request_id_of({"X-Request-ID": secret}, [secret]) == mask(secret)
    assert request_id_of({"x-request-id": "\x9b31m\x85id"}) == "\\x9b31m\\x85id"
    assert request_id_of({"X-Request-ID": "a" * 500}) == "a" * 80
