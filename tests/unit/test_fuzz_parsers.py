"""Property tests (hypothesis) over every parser in ``alpaca_tui.core``.

The contract under test: bad input becomes a one-line :class:`UsageError` (or another
:class:`AlpacaTuiError`), never a raw ``ValueError``/``KeyError``/cryptography error, and
good input round-trips. The five bugs this suite found (periodic-secret redaction, mask of the
mask character, NaN Retry-After, non-finite token lifetimes, bogus X-RateLimit-Reset on 429)
are fixed and pinned by the deterministic regression tests below.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import (
    Flow,
    Profile,
    Secret,
    SecretBundle,
    key_id_warnings,
    parse_flow,
    validate_key_id,
    validate_name,
    validate_secret,
)
from alpaca_tui.core.engine import Engine, _Cred
from alpaca_tui.core.environments import Api, Env, parse_api, parse_endpoint_spec, parse_env, validate_url
from alpaca_tui.core.errors import AlpacaTuiError, UsageError
from alpaca_tui.core.expiry import parse_expiry
from alpaca_tui.core.http import (
    MAX_MESSAGE,
    ApiError,
    RateLimit,
    parse_json,
    request_id_of,
    retry_delay,
    server_message,
)
from alpaca_tui.core.oauth import parse_token_response
from alpaca_tui.core.redact import MASK, mask, redact
from alpaca_tui.core.scopes import AccessMatrix, Level, Scope, parse_level, parse_scope, parse_scope_spec

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that leans towards the characters parsers care about.
junk = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="=:/@?#[]%-_. \t\n\r\x00…ÄßİI0123456789abcdefrwonPKAKCKhtps", max_size=40),
)


def _aware(dt: datetime, offset_min: int) -> datetime:
    return dt.replace(tzinfo=timezone(timedelta(minutes=offset_min)))


aware_now = st.builds(
    _aware,
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
)


def one_line_usage(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call ``fn``; a UsageError must be one non-empty line. Returns (result, error)."""
    try:
        return fn(*args, **kwargs), None
    except UsageError as exc:
        assert exc.message and "\n" not in exc.message and "\r" not in exc.message
        return None, exc


# -- expiry --------------------------------------------------------------------------------------

expiry_text = st.one_of(
    junk,
    st.sampled_from(["never", "none", "", "1w", "7d", "1 week", "30d", "30 days", "90d", "90 days",
                     "6m", "6 months", "1y", "1 year", "12m", " 1Y ", "NEVER"]),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z"),
    st.dates().map(lambda d: d.isoformat()),
)


@FUZZ
@given(spec=expiry_text, now=aware_now)
def test_parse_expiry_is_none_future_or_usage_error(spec: str, now: datetime) -> None:
    result, _err = one_line_usage(parse_expiry, spec, now)
    if result is not None:
        assert result.tzinfo is not None and result.utcoffset() is not None
        assert result > now


@SMALL
@given(d=st.dates(min_value=datetime(1971, 1, 1).date(), max_value=datetime(9999, 12, 30).date()),
       now=aware_now)
def test_parse_expiry_custom_date_is_end_of_that_day(d, now: datetime) -> None:  # type: ignore[no-untyped-def]
    result, err = one_line_usage(parse_expiry, d.isoformat(), now)
    end = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=UTC)
    if end > now:
        assert result == end
    else:
        assert err is not None and "past" in err.message


# -- scopes --------------------------------------------------------------------------------------

levels = st.sampled_from(list(Level))
scopes = st.sampled_from(list(Scope))
partial_matrix = st.dictionaries(scopes, levels)


def _respell(s: str, draw_case: bool, sep: str) -> str:
    out = s.replace("-", sep).replace(" ", sep)
    return out.upper() if draw_case else out


@FUZZ
@given(spec=st.one_of(junk, st.builds(lambda a, b: f"{a}={b}", junk, junk)))
def test_parse_scope_spec_only_usage_error(spec: str) -> None:
    result, _ = one_line_usage(parse_scope_spec, spec)
    if result is not None:
        scope, level = result
        assert isinstance(scope, Scope) and isinstance(level, Level)


@FUZZ
@given(value=junk)
def test_parse_scope_and_level_only_usage_error(value: str) -> None:
    one_line_usage(parse_scope, value)
    one_line_usage(parse_level, value)


@SMALL
@given(scope=scopes, level=levels, use_label=st.booleans(), upper=st.booleans(),
       sep=st.sampled_from(["-", "_", " ", "  "]), pad=st.sampled_from(["", " ", "\t"]))
def test_scope_spec_accepts_every_spelling(scope: Scope, level: Level, use_label: bool, upper: bool,
                                           sep: str, pad: str) -> None:
    name = _respell(scope.label if use_label else scope.value, upper, sep)
    lvl = level.label if use_label else level.value
    assert parse_scope_spec(f"{pad}{name}{pad}={pad}{_respell(lvl, upper, sep)}{pad}") == (scope, level)


@FUZZ
@given(access=st.one_of(st.none(), st.sampled_from(["read-only", "full", "custom", "RO", "rw"]), junk),
       specs=st.lists(st.one_of(junk, st.builds(lambda s, lv: f"{s.value}={lv.value}", scopes, levels)),
                      max_size=4))
def test_access_matrix_build_only_usage_error(access: str | None, specs: list[str]) -> None:
    m, _ = one_line_usage(AccessMatrix.build, access, specs)
    if m is not None:
        assert set(m.levels) == set(Scope)
        assert m.preset_name in ("read-only", "full", "custom")


@FUZZ
@given(levels_=partial_matrix)
def test_access_matrix_dict_round_trip(levels_: dict[Scope, Level]) -> None:
    m = AccessMatrix(levels_)
    d = m.to_dict()
    assert AccessMatrix.from_dict(json.loads(json.dumps(d))) == m
    assert AccessMatrix.from_dict(d).to_dict() == d
    for scope in Scope:
        assert m.level(scope) is levels_.get(scope, Level.NONE)
    # The CLI spelling of the same matrix builds the same matrix.
    specs = [f"{s}={lv}" for s, lv in d.items()]
    assert AccessMatrix.build("custom", specs) == m


@FUZZ
@given(data=st.dictionaries(junk, junk, max_size=4))
def test_access_matrix_from_junk_dict_only_usage_error(data: dict[str, str]) -> None:
    one_line_usage(AccessMatrix.from_dict, data)


# -- environments, flows, apis, endpoints ---------------------------------------------------------


@FUZZ
@given(value=junk)
def test_env_flow_api_parsers_only_usage_error(value: str) -> None:
    env, _ = one_line_usage(parse_env, value)
    flow, _ = one_line_usage(parse_flow, value)
    api, _ = one_line_usage(parse_api, value)
    assert env is None or isinstance(env, Env)
    assert flow is None or isinstance(flow, Flow)
    assert api is None or isinstance(api, Api)


@SMALL
@given(env=st.sampled_from(list(Env)), flow=st.sampled_from(list(Flow)), api=st.sampled_from(list(Api)),
       upper=st.booleans())
def test_enum_values_parse_back(env: Env, flow: Flow, api: Api, upper: bool) -> None:
    f = str.upper if upper else str
    assert parse_env(f(env.value)) is env
    assert parse_env(f(env.value.replace("-", "_"))) is env
    assert parse_flow(f(flow.value)) is flow
    assert parse_api(f(f" {api.value} ")) is api


hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "::1", "api.alpaca.markets",
                     "example.com", "10.0.0.1", "[fe80::1]", "", "a b", "ex%41mple.com", "[::1",
                     "Ä.example"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:[]%@", max_size=20),
    st.text(max_size=12),
)
ports = st.one_of(st.just(""), st.integers(min_value=-5, max_value=70000).map(lambda p: f":{p}"),
                  st.sampled_from([":", ":abc", ":８０", ": 80", ":0"]))
userinfo = st.sampled_from(["", "", "", "user@", "user:pw@", ":pw@", "@", "a%40b:c@"])
schemes = st.sampled_from(["https", "http", "HTTPS", "Http", "ftp", "file", "javascript", "", "https:", "h"])
paths = st.one_of(st.just(""), st.text(alphabet="/abc?#%. \t\\@:", max_size=12))
url_text = st.one_of(
    st.builds(lambda s, u, h, p, pa: f"{s}://{u}{h}{p}{pa}", schemes, userinfo, hosts, ports, paths),
    junk,
)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_accepted_url(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert parts.username is None and parts.password is None
    assert "@" not in parts.netloc
    assert not parts.query and not parts.fragment
    assert not any(c.isspace() for c in url)
    assert not url.endswith("/")
    if parts.scheme == "http":
        assert parts.hostname in LOOPBACK
    assert validate_url(url) == url  # idempotent


@FUZZ
@given(url=url_text)
def test_validate_url_contract(url: str) -> None:
    result, _ = one_line_usage(validate_url, url)
    if result is not None:
        _check_accepted_url(result)


@FUZZ
@given(name=st.one_of(st.sampled_from(["trading", "data", "broker", "auth", "Trading ", ""]), junk),
       sep=st.sampled_from(["=", "=", ":", ""]), url=url_text)
def test_parse_endpoint_spec_contract(name: str, sep: str, url: str) -> None:
    result, _ = one_line_usage(parse_endpoint_spec, f"{name}{sep}{url}")
    if result is not None:
        api, base = result
        assert isinstance(api, Api)
        _check_accepted_url(base)


@pytest.mark.parametrize("url", [
    "https://user:pw@api.alpaca.markets", "https://user@api.alpaca.markets", "https://:pw@h.example",
    "http://api.alpaca.markets", "http://127.0.0.1.evil.example", "http://localhost@evil.example",
    "ftp://api.alpaca.markets", "javascript://x", "https://", "https://h/?q=1", "https://h/#f",
    "https://h:99999", "https://h:abc", "https://[::1",
])
def test_validate_url_rejects(url: str) -> None:
    with pytest.raises(UsageError):
        validate_url(url)


# -- credentials ------------------------------------------------------------------------------------


@FUZZ
@given(value=st.one_of(junk, st.text(min_size=100, max_size=200),
                       st.text(max_size=5000).map(lambda t: t * 2)))
def test_credential_validators_only_usage_error(value: str) -> None:
    k, _ = one_line_usage(validate_key_id, value)
    if k is not None:
        assert k and len(k) <= 128 and all(c.isprintable() and not c.isspace() for c in k)
    s, _ = one_line_usage(validate_secret, value)
    if s is not None:
        assert s.strip() and len(s) <= 4096 and all(c.isprintable() for c in s)
    n, _ = one_line_usage(validate_name, value)
    if n is not None:
        assert n == value and 1 <= len(n) <= 64 and "/" not in n and not n.startswith(".")


@FUZZ
@given(key_id=st.one_of(junk, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=40)),
       env=st.sampled_from(list(Env)))
def test_key_id_warnings_never_raise(key_id: str, env: Env) -> None:
    # The CLI validates first (validate_key_id rejects whitespace), then asks for warnings.
    checked, _ = one_line_usage(validate_key_id, key_id)
    assume(checked is not None)
    warnings = key_id_warnings(checked, env)
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)


@FUZZ
@given(key_id=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                      min_size=8, max_size=40),
       env=st.sampled_from(list(Env)))
def test_key_id_warnings_never_show_the_whole_key_id(key_id: str, env: Env) -> None:
    assert key_id not in " ".join(key_id_warnings(key_id, env))


iso_dt = st.builds(
    _aware,
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
opt_text = st.one_of(st.none(), st.text(max_size=30))
valid_urls = st.builds(
    lambda s, h, p, pa: f"{s}://{h}{p}{pa}",
    st.sampled_from(["https", "http"]),
    st.sampled_from(["127.0.0.1", "localhost", "[::1]"]),
    st.one_of(st.just(""), st.integers(min_value=0, max_value=65535).map(lambda p: f":{p}")),
    st.from_regex(r"\A(/[a-z0-9._~-]{1,8}){0,3}\Z"),
) | st.builds(lambda h, pa: f"https://{h}{pa}",
              st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}\Z"),
              st.from_regex(r"\A(/[a-z0-9._~-]{1,8}){0,3}\Z"))

profiles = st.builds(
    Profile,
    name=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"),
    env=st.sampled_from(list(Env)),
    flow=st.sampled_from(list(Flow)),
    key_id_masked=st.text(max_size=20),
    access=partial_matrix.map(AccessMatrix),
    expires_at=st.none() | iso_dt,
    created_at=st.none() | iso_dt,
    rotated_at=st.none() | iso_dt,
    last_verified_at=st.none() | iso_dt,
    last_check_ok=st.none() | st.booleans(),
    last_check_error=opt_text,
    endpoints=st.dictionaries(st.sampled_from(list(Api)), valid_urls.map(validate_url), max_size=4),
    alg=st.none() | st.sampled_from(["ES256", "RS256"]),
    public_key_fingerprint=st.none() | st.from_regex(r"\A[0-9a-f]{16}\Z"),
    rotation_state=st.sampled_from([None, "pending", "overlap"]),
    previous_retire_at=st.none() | iso_dt,
    pending_key_id_masked=opt_text,
    note=opt_text,
)


@SMALL
@given(profile=profiles)
def test_profile_dict_round_trip(profile: Profile) -> None:
    d = profile.to_dict()
    via_json = json.loads(json.dumps(d))
    assert Profile.from_dict(via_json) == profile
    assert Profile.from_dict(d).to_dict() == d


# -- private keys -------------------------------------------------------------------------------------

_ES_PEM = keys.generate_private_key("ES256")
_RS_PEM = keys.generate_private_key("RS256")
_PEM_LABELS = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
               "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY", "PUBLIC KEY", "CERTIFICATE", "", "X"]


def _load_ok_or_error(data: str | bytes, alg: str | None = None) -> None:
    try:
        key, key_alg = keys.load_private_key(data, alg)
    except AlpacaTuiError as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert key_alg in keys.ALGORITHMS


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300),
                      st.builds(lambda label, body: f"-----BEGIN {label}-----\n{body}\n"
                                                    f"-----END {label}-----\n",
                                st.sampled_from(_PEM_LABELS),
                                st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n",
                                        max_size=400)),
                      st.builds(lambda label, body: b"-----BEGIN " + label.encode() + b"-----\n" + body
                                + b"\n-----END " + label.encode() + b"-----\n",
                                st.sampled_from(_PEM_LABELS), st.binary(max_size=300))),
       alg=st.one_of(st.none(), st.sampled_from(["ES256", "RS256", "es256", "HS256", ""])))
def test_load_private_key_on_junk(data: str | bytes, alg: str | None) -> None:
    _load_ok_or_error(data, alg)


@st.composite
def mutated_pem(draw: st.DrawFn) -> bytes:
    pem = bytearray(draw(st.sampled_from([_ES_PEM, _RS_PEM])).encode())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "relabel", "dup"]))
        if not pem:
            break
        i = draw(st.integers(min_value=0, max_value=len(pem) - 1))
        if kind == "flip":
            pem[i] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "delete":
            j = draw(st.integers(min_value=i, max_value=min(len(pem), i + 64)))
            del pem[i:j]
        elif kind == "insert":
            pem[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del pem[i:]
        elif kind == "relabel":
            label = draw(st.sampled_from(_PEM_LABELS)).encode()
            text = bytes(pem)
            for old in (b"PRIVATE KEY", ):
                text = text.replace(old, label)
            pem = bytearray(text)
        else:
            pem = bytearray(bytes(pem) * 2)
    return bytes(pem)


@FUZZ
@given(pem=mutated_pem(), as_text=st.booleans(),
       alg=st.one_of(st.none(), st.sampled_from(["ES256", "RS256"])))
def test_load_private_key_on_mutated_real_pems(pem: bytes, as_text: bool, alg: str | None) -> None:
    _load_ok_or_error(pem.decode("utf-8", "replace") if as_text else pem, alg)


def test_real_pems_load() -> None:
    assert keys.load_private_key(_ES_PEM)[1] == "ES256"
    assert keys.load_private_key(_RS_PEM, "rs256")[1] == "RS256"
    with pytest.raises(UsageError):
        keys.load_private_key(_ES_PEM, "RS256")


# -- redaction ------------------------------------------------------------------------------------------


secret_text = st.one_of(st.text(min_size=8, max_size=40),
                        st.text(alphabet="ab…xy", min_size=8, max_size=16))


@FUZZ
@given(s=secret_text, before=st.text(max_size=20), after=st.text(max_size=20), times=st.integers(1, 3))
def test_redact_removes_secret(s: str, before: str, after: str, times: int) -> None:
    # Self-overlapping secrets and secrets containing the mask character included on purpose.
    text = before + (s + after) * times
    out = redact(text, [s])
    assert s not in out


@FUZZ
@given(s=st.text(min_size=1, max_size=60))
def test_mask_never_reveals(s: str) -> None:
    m = mask(s)
    assert m != s
    if len(s) >= 8:
        assert s not in m
        assert len(m) < len(s)


def test_redact_periodic_secret_leaks() -> None:
    for s, text in [("abababab", "ababababababab"), ("abcd" * 4, "abcd" * 7)]:
        assert s not in redact(text, [s])


def test_mask_of_the_mask_character() -> None:
    assert mask(MASK) != MASK


# -- server responses: parsing helpers and error mapping -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["error", "error_description", "message", "msg", "detail", "code", "fields", "name",
                         "access_token", "token_type", "expires_in", "x"]) | st.text(max_size=8),
        children, max_size=6),
    max_leaves=20,
)
SECRET = "S3cr3tValue-xyz-0123456789"  # border-free
CLIENT_ID = "CK0000000000000000000001"

header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.sampled_from(["nan", "inf", "-inf", "1e20", "-1", "0", "1e400", "99999999999999999",
                     "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                     "Mon, 01 Jan 0001 00:00:00 GMT", "", " "]),
)
header_names = st.sampled_from(["x-request-id", "X-Request-ID", "retry-after", "x-ratelimit-limit",
                                "x-ratelimit-remaining", "x-ratelimit-reset", "content-type", "x-other"])
headers_st = st.dictionaries(header_names, header_values, max_size=6)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.sampled_from([b"", b"<html><body>502 Bad Gateway</body></html>", b"null", b"[]", b"{}",
                     b'{"message": "' + SECRET.encode() + b'"}', b"x" * 200_000,
                     b'{"message": "' + b"y\\n" * 50_000 + b'"}', b'{"code": 40110000, "message": "expired"}',
                     b'{"error": "invalid_client", "error_description": "client_secret='
                     + SECRET.encode() + b'"}',
                     b"\xff\xfe\x00garbage", b'{"fields": [{"name": null}, 3, {"name": {"a": 1}}]}']),
)
statuses = st.one_of(st.integers(min_value=100, max_value=599),
                     st.sampled_from([0, 1, 299, 600, 999, 401, 403, 429, 500]))


def _response(status: int, headers: dict[str, str], content: bytes) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=content,
                          request=httpx.Request("GET", "https://broker-api.sandbox.alpaca.markets/v1/x"))


def _cred(env: Env, flow: Flow, key_id: str) -> _Cred:
    profile = Profile(name="fuzz", env=env, flow=flow, key_id_masked=mask(key_id),
                      access=AccessMatrix.read_only(),
                      expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    return _Cred(profile, SecretBundle(Secret(key_id=key_id, secret=SECRET)))


def _check_api_error(err: object) -> None:
    assert isinstance(err, ApiError)
    assert err.message and "\n" not in err.message and "\r" not in err.message
    assert SECRET not in err.message and SECRET not in str(err) and SECRET not in repr(err)
    if err.server_message is not None:
        assert len(err.server_message) <= MAX_MESSAGE and "\n" not in err.server_message


@FUZZ
@given(body=json_values, text=st.text(max_size=300))
def test_server_message_one_line_redacted(body: object, text: str) -> None:
    msg = server_message(body, text + SECRET, [SECRET])
    if msg is not None:
        assert msg and "\n" not in msg and len(msg) <= MAX_MESSAGE and SECRET not in msg


@FUZZ
@given(headers=headers_st, now=st.floats(min_value=0, max_value=4e9), attempt=st.integers(0, 10))
def test_header_parsers(headers: dict[str, str], now: float, attempt: int) -> None:
    delay = retry_delay(headers, now, attempt=attempt, max_wait=60.0)
    assert 0.0 <= delay <= 60.0
    rid = request_id_of(headers)
    assert rid is None or ("\n" not in rid and len(rid) <= 80)
    RateLimit.from_headers(headers)


def test_retry_delay_nan_header() -> None:
    delay = retry_delay({"Retry-After": "nan"}, 1000.0, attempt=0)
    assert 0.0 <= delay <= 60.0


@FUZZ
@given(body=json_values, now=st.floats(min_value=0, max_value=4e9))
def test_parse_token_response_never_raises(body: object, now: float) -> None:
    tok = parse_token_response(body, now=now, token_url="https://authx.sandbox.alpaca.markets/v1/oauth2/token")
    if tok is not None:
        assert tok.value and tok.expires_at > now


def test_parse_token_response_non_finite_lifetime() -> None:
    for bad in ("nan", "NaN", "inf", "1e400"):
        tok = parse_token_response({"access_token": "t", "expires_in": bad}, now=1000.0, token_url="u")
        assert tok is None or math.isfinite(tok.expires_at)


def _api_error_for(resp: httpx.Response, cred: _Cred, api: Api, method: str, path: str) -> ApiError:
    engine = Engine()
    secrets = list(cred.secrets())
    return engine._api_error(cred, api, method, path, resp.status_code, resp.headers,
                             parse_json(resp.text), resp.text, secrets, attempts=2)


creds = st.builds(_cred, st.sampled_from(list(Env)), st.sampled_from(list(Flow)),
                  st.sampled_from(["PK0000000000000000000001", "AK0000000000000000000001", CLIENT_ID, "x"]))


@FUZZ
@given(status=statuses, headers=headers_st, content=bodies, cred=creds,
       api=st.sampled_from(list(Api)), method=st.sampled_from(["GET", "POST", "DELETE", "PATCH"]),
       path=st.sampled_from(["/v1/accounts", "/v2/orders", "/v1/transfers", "/", "", "/v1/accounts/x/y?z=1"]))
def test_engine_maps_any_http_response_to_one_line_api_error(status: int, headers: dict[str, str],
                                                             content: bytes, cred: _Cred, api: Api,
                                                             method: str, path: str) -> None:
    resp = _response(status, headers, content)
    _check_api_error(_api_error_for(resp, cred, api, method, path))


@FUZZ
@given(status=statuses, headers=headers_st, content=bodies, cred=creds)
def test_engine_maps_any_token_response_to_one_line_api_error(status: int, headers: dict[str, str],
                                                              content: bytes, cred: _Cred) -> None:
    resp = _response(status, headers, content)
    err = Engine()._token_error(cred, resp, parse_json(resp.text), list(cred.secrets()))
    _check_api_error(err)


@pytest.mark.parametrize("reset", ["1e20", "inf", "nan"])
def test_engine_429_with_bogus_ratelimit_reset(reset: str) -> None:
    resp = _response(429, {"x-ratelimit-reset": reset}, b'{"message": "too many requests"}')
    _check_api_error(_api_error_for(resp, _cred(Env.PAPER, Flow.LEGACY, "PK0000000000000000000001"),
                                    Api.TRADING, "GET", "/v2/orders"))


# -- public keys registered with the emulator (PEM, JWK, JWKS) ----------------------------------
_EC_PEM = keys.generate_private_key("ES256")
_REAL_JWK = keys.public_jwk(_EC_PEM, kid="CK0000000000000000000001")
jwk_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=60),
                       st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@FUZZ
@given(field=st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg", "d", "keys", "use"]), value=jwk_values,
       as_jwks=st.booleans())
def test_emulator_public_key_parser_on_mutated_jwks(field: str, value: object, as_jwks: bool) -> None:
    """A real JWK with one field replaced by junk: a key or a one-line UsageError, nothing else."""
    from alpaca_tui.emulator.state import load_public_key

    jwk = dict(_REAL_JWK)
    jwk[field] = value
    doc: object = {"keys": [jwk]} if as_jwks else jwk
    try:
        _key, alg = load_public_key(json.dumps(doc))
    except UsageError as exc:
        assert exc.message and "\n" not in exc.message
    else:
        assert alg in ("ES256", "RS256")


_BROKEN_PEMS = ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                keys.public_key_pem(_EC_PEM)[:-40]]


@FUZZ
@given(text=st.one_of(st.text(max_size=300),
                      st.sampled_from(["{", "[]", "{}", '{"keys": []}', "null", *_BROKEN_PEMS])))
def test_emulator_public_key_parser_on_junk(text: str) -> None:
    from alpaca_tui.emulator.state import load_public_key

    try:
        load_public_key(text)
    except UsageError as exc:
        assert exc.message and "\n" not in exc.message


def test_emulator_public_key_parser_accepts_the_real_forms() -> None:
    from alpaca_tui.emulator.state import load_public_key

    assert load_public_key(keys.public_key_pem(_EC_PEM))[1] == "ES256"
    assert load_public_key(json.dumps(_REAL_JWK))[1] == "ES256"
    assert load_public_key(json.dumps({"keys": [_REAL_JWK]}))[1] == "ES256"
