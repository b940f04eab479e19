"""Signing keys for the OAuth ``private_key_jwt`` flow: generate, load, validate, publish.

Alpaca's docs do not say which algorithms AuthX accepts nor how a public key is
registered (UNCONFIRMED, alpaca-auth.md §2); we support the two common ones, ES256
(EC P-256) and RS256 (RSA 2048 - 4096 bits), and publish the public half both as PEM and
as a JWK (``kid`` = client ID, ``use`` = sig) so either form can be registered.

The private key PEM only ever lives in the secret store; everything derived here
(public PEM, JWK, fingerprint) is public.

A key is parsed and validated once per process (:func:`load_private_key` keeps the parsed
key, keyed by a hash of the PEM): signing an assertion per token request does not check
the RSA key again each time. The size is read before the (costly) RSA validation, so a
16384-bit key is refused at once instead of after minutes.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from alpaca_tui.core.errors import UsageError

ALGORITHMS: tuple[str, ...] = ("ES256", "RS256")
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096
MAX_PEM_BYTES = 64 * 1024
_CACHE_SIZE = 32

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def parse_alg(value: str) -> str:
    alg = value.strip().upper()
    if alg not in ALGORITHMS:
        raise UsageError(f"unknown key algorithm {value!r} (choose from {', '.join(ALGORITHMS)})")
    return alg


def generate_private_key(alg: str = "ES256") -> str:
    """A new private key as unencrypted PKCS#8 PEM (ES256: P-256; RS256: RSA 2048)."""
    alg = parse_alg(alg)
    key: PrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _check_key(key: object) -> tuple[PrivateKey, str]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UsageError(f"unsupported EC curve {key.curve.name}: ES256 needs P-256 (prime256v1)")
        return key, "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise UsageError(f"RSA key too small ({key.key_size} bits): RS256 needs at least {MIN_RSA_BITS}")
        if key.key_size > MAX_RSA_BITS:
            raise UsageError(f"RSA key too large ({key.key_size} bits): use {MIN_RSA_BITS} to {MAX_RSA_BITS} "
                             "bits (or EC P-256, ES256)")
        return key, "RS256"
    raise UsageError(f"unsupported private key type {type(key).__name__}: "
                     "use EC P-256 (ES256) or RSA (RS256)")


_parsed: OrderedDict[bytes, tuple[PrivateKey, str]] = OrderedDict()
_parsed_lock = threading.Lock()


def _parse(data: bytes) -> tuple[PrivateKey, str]:
    """Parse, check the type and size, then validate (RSA); every problem a UsageError."""
    try:
        # the size first, without RSA's costly consistency check (a 16384-bit key takes minutes)
        quick = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise UsageError("the private key is encrypted; decrypt it first "
                         "(openssl pkey -in key.pem -out plain.pem) — the secret store encrypts it") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError("could not parse the PEM private key (corrupt or unsupported format)") from None
    key, alg = _check_key(quick)
    if isinstance(key, rsa.RSAPrivateKey):
        try:
            key = _check_key(serialization.load_pem_private_key(data, password=None))[0]
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise UsageError("the RSA private key is inconsistent (corrupt)") from None
    return key, alg


def load_private_key(pem: str | bytes, alg: str | None = None) -> tuple[PrivateKey, str]:
    """Parse an unencrypted PEM private key; return it with its algorithm.

    ``alg`` (when given) must match the key. Every problem is a one-line UsageError. The
    parsed key is kept (up to 32 keys per process), so loading it again costs a hash.
    """
    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    if len(data) > MAX_PEM_BYTES:
        raise UsageError("private key file is too large to be a PEM key")
    if b"-----BEGIN" not in data:
        raise UsageError("not a PEM private key (expected a '-----BEGIN ... PRIVATE KEY-----' block)")
    digest = hashlib.sha256(data).digest()
    with _parsed_lock:
        hit = _parsed.get(digest)
        if hit is not None:
            _parsed.move_to_end(digest)
    if hit is None:
        hit = _parse(data)
        with _parsed_lock:
            _parsed[digest] = hit
            while len(_parsed) > _CACHE_SIZE:
                _parsed.popitem(last=False)
    checked, key_alg = hit
    if alg is not None and parse_alg(alg) != key_alg:
        raise UsageError(f"--alg {parse_alg(alg)} does not match the key, which is {key_alg}")
    return checked, key_alg


def private_key_alg(pem: str) -> str:
    return load_private_key(pem)[1]


def public_key_pem(private_pem: str) -> str:
    key, _alg = load_private_key(private_pem)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _b64u_uint(n: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (n.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


def public_jwk(private_pem: str, *, kid: str | None = None) -> dict[str, Any]:
    """The public key as a JWK (RFC 7517) with ``alg``, ``use`` = sig and ``kid`` (the client ID)."""
    key, alg = load_private_key(private_pem)
    jwk: dict[str, Any]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _b64u_uint(nums.x, 32), "y": _b64u_uint(nums.y, 32)}
    else:
        rnums = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64u_uint(rnums.n), "e": _b64u_uint(rnums.e)}
    if kid:
        jwk["kid"] = kid
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def public_key_fingerprint(private_pem: str) -> str:
    """Short display fingerprint: the first 16 hex digits of sha256(DER SubjectPublicKeyInfo)."""
    key, _alg = load_private_key(private_pem)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]
