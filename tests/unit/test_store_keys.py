"""private_key_jwt key helpers (alpaca_tui.core.keys): generation, validation, PEM/JWK export."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from alpaca_tui.core import keys
from alpaca_tui.core.errors import UsageError


def _b64u_int(s: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")


def test_es256_key_pair_and_jwk() -> None:
    pem = keys.generate_private_key("ES256")
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key, alg = keys.load_private_key(pem)
    assert alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey)
    jwk = keys.public_jwk(pem, kid="CLIENT1")
    nums = key.public_key().public_numbers()
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["kid"] == "CLIENT1"
    assert jwk["alg"] == "ES256" and jwk["use"] == "sig" and "d" not in jwk
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 32  # fixed-width coordinates
    assert (_b64u_int(jwk["x"]), _b64u_int(jwk["y"])) == (nums.x, nums.y)
    pub = serialization.load_pem_public_key(keys.public_key_pem(pem).encode())
    assert pub.public_numbers() == nums  # type: ignore[union-attr]


def test_rs256_key_pair_and_jwk() -> None:
    pem = keys.generate_private_key("rs256")
    key, alg = keys.load_private_key(pem, "RS256")
    assert alg == "RS256" and isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    jwk = keys.public_jwk(pem)
    assert jwk["kty"] == "RSA" and "kid" not in jwk and "d" not in jwk
    assert _b64u_int(jwk["n"]) == key.public_key().public_numbers().n and jwk["e"] == "AQAB"


def test_fingerprint_is_stable_and_public() -> None:
    pem = keys.generate_private_key()
    fp = keys.public_key_fingerprint(pem)
    assert fp == keys.public_key_fingerprint(pem) and len(fp) == 16 and int(fp, 16) >= 0
    assert fp != keys.public_key_fingerprint(keys.generate_private_key())


def test_traditional_openssl_formats_load() -> None:
    k = ec.generate_private_key(ec.SECP256R1())
    sec1 = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                           serialization.NoEncryption()).decode()
    assert sec1.startswith("-----BEGIN EC PRIVATE KEY-----") and keys.private_key_alg(sec1) == "ES256"


@pytest.mark.parametrize("make, fragment", [
    (lambda: ed25519.Ed25519PrivateKey.generate(), "unsupported private key type"),
    (lambda: ec.generate_private_key(ec.SECP256K1()), "needs P-256"),
])
def test_unsupported_keys(make, fragment: str) -> None:
    pem = make().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(UsageError, match=fragment):
        keys.load_private_key(pem)


def test_bad_inputs() -> None:
    with pytest.raises(UsageError, match="unknown key algorithm"):
        keys.generate_private_key("HS256")
    with pytest.raises(UsageError, match="does not match"):
        keys.load_private_key(keys.generate_private_key("ES256"), "RS256")
    with pytest.raises(UsageError, match="too large"):
        keys.load_private_key("-----BEGIN" + "A" * 70000)
    with pytest.raises(UsageError, match="not a PEM"):
        keys.load_private_key("")
