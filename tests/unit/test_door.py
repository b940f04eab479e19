"""Validation at the door (issue 12, item 7): tokens, lifetimes, key IDs, secrets, URLs, keys."""

from __future__ import annotations

import time

import pytest

from alpaca_tui.core.auth.cache import token_from_cache, token_to_cache
from alpaca_tui.core.credentials import Secret, validate_key_id, validate_secret
from alpaca_tui.core.environments import validate_url
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.oauth import AccessToken, is_b64token, parse_token_response, token_problem

URL = "https://authx.sandbox.alpaca.markets/v1/oauth2/token"


@pytest.mark.parametrize("value", ["abc", "a-b.c_d~e+f/g", "YWJj==", "x" * 16384])
def test_b64tokens_are_accepted(value: str) -> None:
    assert is_b64token(value)
    tok = parse_token_response({"access_token": value, "expires_in": 899}, now=0.0, token_url=URL)
    assert tok is not None and tok.value == value


@pytest.mark.parametrize("value", ["", "tok\r\nX: 1", "tok\x1b]0;t\x07", "a b", "a=b", "=abc", "tök",
                                   "x" * 16385, "a\tb", "a\x00", "a;b", 'a"b'])
def test_other_tokens_are_refused(value: str) -> None:
    assert not is_b64token(value)
    body = {"access_token": value, "expires_in": 899, "token_type": "Bearer"}
    assert parse_token_response(body, now=0.0, token_url=URL) is None
    problem = token_problem(body)
    assert problem is not None and (value == "" or value not in problem)


@pytest.mark.parametrize(("expires_in", "lifetime"), [(899, 899), (899.0, 899), ("899", 899), (10, 10),
                                                      (12, 12), (None, 899), (10**20, 86400), (1e300, 86400)])
def test_lifetimes_accepted(expires_in: object, lifetime: float) -> None:
    tok = parse_token_response({"access_token": "t", "expires_in": expires_in}, now=1000.0, token_url=URL)
    assert tok is not None and tok.lifetime == lifetime


@pytest.mark.parametrize("expires_in", [True, False, 0.001, 9, 9.99, 5, 0, -899, 899.5, "soon", "8.5",
                                        "1e3", "", "٩٩٩", [899], {"s": 899}, float("nan"), float("inf")])
def test_lifetimes_refused(expires_in: object) -> None:
    body = {"access_token": "t", "expires_in": expires_in}
    assert parse_token_response(body, now=1000.0, token_url=URL) is None
    assert "expires_in" in (token_problem(body) or "")


def test_a_tampered_cache_record_is_no_token() -> None:
    secret = Secret("CKTEST0000000000000000001", "client-secret")
    good = AccessToken("tok-abc", expires_at=time.time() + 600, issued_at=time.time(), token_url=URL)
    record = token_to_cache(good, secret)
    assert token_from_cache(record, secret, URL) == AccessToken(
        "tok-abc", good.expires_at, good.issued_at, source="cache", token_url=URL)
    for evil in ("tok\r\nX: 1", "tok\x1b]52;c;eA==\x07", ""):
        assert token_from_cache({**record, "access_token": evil}, secret, URL) is None
    assert token_from_cache({**record, "expires_at": float("nan")}, secret, URL) is None


@pytest.mark.parametrize("value", ["PKTÉST0000000000001", "PK\x1bX", "PK\x9bX", "PK\u202eX", "PK\x7fX",
                                   "PK X"])
def test_key_ids_are_printable_ascii(value: str) -> None:
    with pytest.raises(UsageError, match="printable ASCII"):
        validate_key_id(value)


@pytest.mark.parametrize("value", ["se\x1bcret", "se\x00cret", "se\u202ecret", "se\x85cret", "se\x7fcret",
                                   "se\u2028cret"])
def test_secrets_hold_no_control_character(value: str) -> None:
    with pytest.raises(UsageError, match="printable"):
        validate_secret(value)


def test_a_secret_sent_in_a_header_is_printable_ascii() -> None:
    """Key ID + secret credentials send the secret in APCA / Basic headers (ASCII only); an OAuth
    client secret travels URL-encoded in a form, where any printable character works."""
    from alpaca_tui.core.credentials import Flow, validate_secret_for

    with pytest.raises(UsageError, match="printable ASCII"):
        validate_secret_for(Flow.LEGACY, "sécret-0123456789")
    assert validate_secret_for(Flow.CLIENT_SECRET, "sécret-€/?") == "sécret-€/?"
    assert validate_secret("a secret with spaces ~!", ascii_only=True) == "a secret with spaces ~!"


@pytest.mark.parametrize("url", [
    "https://h\x1b.example", "https://h.example/\x7f", "https://h.example/\u202e", "https://bücher.example",
    "https://" + "a" * 254, "https://" + "a" * 64 + ".example", "https://a..b", "https://.",
    "https://ex%41mple.com", "https://[::g]", "https://a.example\\@evil.example", "https://" + "a" * 100_000,
    "https://h.example/" + "p" * 2100,
])
def test_urls_refused(url: str) -> None:
    with pytest.raises(UsageError):
        validate_url(url)


@pytest.mark.parametrize(("url", "normal"), [
    ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example"),
    ("http://LOCALHOST:80/base/", "http://localhost:80/base"),
    ("https://" + "a" * 63 + ".example", "https://" + "a" * 63 + ".example"),
    ("https://api.alpaca.markets.", "https://api.alpaca.markets."),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://int_host.corp", "https://int_host.corp"),
])
def test_urls_accepted(url: str, normal: str) -> None:
    assert validate_url(url) == normal


def test_a_stored_non_ascii_legacy_secret_is_a_one_line_usage_error() -> None:
    """A store written before the door checked (or edited by hand): refused before sending,
    not a UnicodeEncodeError inside httpx."""
    from alpaca_tui.core.auth.signing import api_headers
    from alpaca_tui.core.credentials import Flow, Profile
    from alpaca_tui.core.environments import Env

    profile = Profile("old", Env.PAPER, Flow.LEGACY, "PK…0001")
    for secret in (Secret("PKTEST00000000000001", "sécret"), Secret("PKTÉST0000000000001", "secret")):
        with pytest.raises(UsageError, match="not printable ASCII"):
            api_headers(profile, secret, None)
