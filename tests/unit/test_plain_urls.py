"""``validate_url`` skips the httpx cross-check (and its ~70 ms import) for URLs of the plain
shape (``environments.PLAIN_URL``): the claim that urlsplit and httpx read such a URL alike,
checked on generated URLs of that shape, and the import it saves, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpaca_tui.core.environments import PLAIN_URL, is_plain_url, validate_url
from alpaca_tui.core.errors import UsageError
from tests.conftest import subprocess_env

hosts = st.one_of(
    st.from_regex(r"[a-z0-9._-]{1,30}", fullmatch=True),
    st.sampled_from(["127.0.0.1", "localhost", "paper-api.alpaca.markets", "a.b.", "[::1]", "[fe80::1]",
                     "[::ffff:127.0.0.1]", "[2001:db8::8:800:200c:417a]", "0", "00", "1.2.3.04", "x-.y_"]),
)
paths = st.from_regex(r"(/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,30})?", fullmatch=True)
plain_urls = st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
                       st.sampled_from(["http", "https"]), hosts,
                       st.one_of(st.just(""), st.integers(0, 99999).map(lambda n: f":{n}"),
                                 st.sampled_from([":080", ":00443", ":0"])),
                       paths)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_urls)
def test_plain_urls_read_the_same_to_urlsplit_and_httpx(url: str) -> None:
    assert PLAIN_URL.fullmatch(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return  # validate_url refuses it before any cross-check
    if not parts.hostname:
        return
    if not is_plain_url(url, parts.hostname):  # a dotted quad that is no IPv4 address
        with pytest.raises(httpx.InvalidURL):
            httpx.URL(url)
        with pytest.raises(UsageError):
            validate_url(url)
        return
    u = httpx.URL(url)  # never raises for a plain URL
    default = {"http": 80, "https": 443}[parts.scheme]
    assert (u.scheme, u.raw_host.decode("ascii").lower(), u.port or default) == \
           (parts.scheme, parts.hostname, port or default)


@settings(max_examples=200, deadline=None)
@given(plain_urls)
def test_validate_url_accepts_or_refuses_plain_urls_in_one_line(url: str) -> None:
    try:
        out = validate_url(url)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    assert PLAIN_URL.fullmatch(out)  # what is stored is of the plain shape again: read back without httpx


@pytest.mark.parametrize("url", [
    "https://a.com\\@evil.com", "https://A.com", "https://a.com/%2e%2e", "http://[::1%25eth0]/",
    "https://a.com/x?y", "https://a.com#f", "https://user@a.com"])
def test_other_urls_are_not_plain(url: str) -> None:
    assert not PLAIN_URL.fullmatch(url)


def test_validating_plain_urls_does_not_import_httpx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = ("import sys\n"
            "from alpaca_tui.core.environments import validate_url\n"
            "validate_url('http://127.0.0.1:8080/v2')\n"
            "validate_url('https://paper-api.alpaca.markets')\n"
            "print('httpx' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=subprocess_env(), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    # an ambiguous URL (not of the plain shape) is still refused
    with pytest.raises(UsageError):
        validate_url("https://a.com\\@evil.com")
