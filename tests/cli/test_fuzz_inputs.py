"""A corpus of hostile inputs to every CLI door (issue 12, item 7): none reaches "internal error".

Each case is argv (+ stdin, + environment) with the exit code it must give: 2 for input
refused at the door, 0/1 where the input is fine. Every case also gives at most one error
line on stderr, no raw control character on either stream, and no traceback; and the
conftest trap turns any "internal error" into a failure of its own (with the traceback).
The hypothesis fuzzers in ``test_fuzz_cli.py`` cover the same doors with random junk; this
corpus holds the inputs the adversarial review used.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import alpaca_tui.cli.common as common
from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.sanitize import UNSAFE
from tests.cli.enginecli_support import add_profile, emu, run_cli

__all__ = ["emu"]

DEEP = "[" * 100_000 + "]" * 100_000
ESC = "\x1b]52;c;ZXZpbA==\x07"
ADD = ["profiles", "add", "x", "--env", "paper", "--flow", "legacy", "--secret-stdin"]
GOOD_KEY = ["--key-id", "PKTEST00000000000001"]
GOOD_SECRET = "S" * 40 + "\n"
REQ = ["request", "paper", "GET", "/v2/account"]
POST = ["request", "paper", "POST", "/v2/orders"]

# (id, argv, stdin, environment, exit code)
CORPUS: list[tuple[str, list[str], str, dict[str, str], int]] = [
    ("key-id non-ASCII", [*ADD, "--key-id", "PKTÉST0000000000001"], GOOD_SECRET, {}, 2),
    ("key-id ESC", [*ADD, "--key-id", "PK\x1b[31mTEST0000000001"], GOOD_SECRET, {}, 2),
    ("key-id C1", [*ADD, "--key-id", "PK\x9bTEST00000000001"], GOOD_SECRET, {}, 2),
    ("secret non-ASCII", [*ADD, *GOOD_KEY], "sécret-" + "x" * 33 + "\n", {}, 2),
    ("secret ESC", [*ADD, *GOOD_KEY], "abc" + ESC + "x" * 20 + "\n", {}, 2),
    ("client secret non-ASCII", ["profiles", "add", "o", "--env", "broker-sandbox", "--flow", "client-secret",
                                 "--key-id", "CKTEST0000000000000000009", "--secret-stdin"],
     "sécret-€-" + "x" * 30 + "\n", {}, 0),                 # a form body carries it fine
    ("client secret C1", ["profiles", "add", "o", "--env", "broker-sandbox", "--flow", "client-secret",
                          "--key-id", "CKTEST0000000000000000009", "--secret-stdin"],
     "secret\x9b" + "x" * 30 + "\n", {}, 2),
    ("secret DEL", [*ADD, *GOOD_KEY], "abc\x7f" + "x" * 36 + "\n", {}, 2),
    ("secret bidi", [*ADD, *GOOD_KEY], "abc\u202e" + "x" * 36 + "\n", {}, 2),
    ("endpoint ESC", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://h\x1b.example"], GOOD_SECRET, {}, 2),
    ("endpoint NUL", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://h.example/\x00"], GOOD_SECRET, {}, 2),
    ("endpoint 100k host", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://" + "a" * 100_000 + ".com"],
     GOOD_SECRET, {}, 2),
    ("endpoint 64-char label", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://" + "a" * 64 + ".com"],
     GOOD_SECRET, {}, 2),
    ("endpoint IDN", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://bücher.example"], GOOD_SECRET, {}, 2),
    ("endpoint punycode", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://xn--bcher-kva.example"],
     GOOD_SECRET, {}, 0),
    ("endpoint percent host", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://ex%41mple.com"],
     GOOD_SECRET, {}, 2),
    ("endpoint broken IPv6", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://[::1"], GOOD_SECRET, {}, 2),
    ("endpoint bad IPv6", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://[::g]"], GOOD_SECRET, {}, 2),
    ("endpoint userinfo", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://a@b.example"], GOOD_SECRET, {}, 2),
    ("endpoint backslash", [*ADD, *GOOD_KEY, "--endpoint", "trading=https://a.example\\@evil.example"],
     GOOD_SECRET, {}, 2),
    ("endpoint plain http", [*ADD, *GOOD_KEY, "--endpoint", "trading=http://evil.example"],
     GOOD_SECRET, {}, 2),
    ("note with escapes", [*ADD, *GOOD_KEY, "--note", ESC + "\u202enote"], GOOD_SECRET, {}, 0),
    ("request deep --data", [*POST, "--data", DEEP], "", {}, 2),
    ("request --data 65 deep", [*POST, "--data", "[" * 65 + "]" * 65],
     "", {}, 2),
    ("request deep --data-file -", [*POST, "--data-file", "-"], DEEP, {}, 2),
    ("request --data-file /dev/zero", [*POST, "--data-file", "/dev/zero"],
     "", {}, 2),
    ("request path ESC", ["request", "paper", "GET", "/v2/acc\x1bount"], "", {}, 2),
    ("request path C1", ["request", "paper", "GET", "/v2/acc\x9bount"], "", {}, 2),
    ("request path 5000", ["request", "paper", "GET", "/v2/" + "a" * 5000], "", {}, 2),
    ("request query 70k", ["request", "paper", "GET", "/v2/account?a=" + "b" * 70_000], "", {}, 2),
    ("request --query ESC value", [*REQ, "--query", "a=" + ESC], "", {}, 0),
    ("request --max-body lots", [*REQ, "--max-body", "lots"], "", {}, 2),
    ("request --max-body 0", [*REQ, "--max-body", "0"], "", {}, 2),
    ("request --max-body 2G", [*REQ, "--max-body", "2G"], "", {}, 2),
    ("request --max-body 99 digits", [*REQ, "--max-body", "9" * 99], "", {}, 2),
    ("request --max-body 64K", [*REQ, "--max-body", "64K"], "", {}, 0),
    ("ALPACA_TUI_MAX_BODY junk", REQ, "", {"ALPACA_TUI_MAX_BODY": "x"}, 2),
    ("request --timeout nan", [*REQ, "--timeout", "nan"], "", {}, 2),
    ("request --timeout inf", [*REQ, "--timeout", "inf"], "", {}, 2),
    ("request --timeout 0", [*REQ, "--timeout", "0"], "", {}, 2),
    ("request --repeat 10001", [*REQ, "--repeat", "10001"], "", {}, 2),
    ("request --repeat 1e9", [*REQ, "--repeat", "1e9"], "", {}, 2),
    ("request --concurrency 201", [*REQ, "--repeat", "2",
                                   "--concurrency", "201"], "", {}, 2),
    ("request method ESC", ["request", "paper", "G\x1bET", "/v2/account"], "", {}, 2),
    ("request name ESC", ["request", "pa\x1bper", "GET", "/v2/account"], "", {}, 2),
    ("check --timeout 1e308", ["check", "paper", "--timeout", "1e308"], "", {}, 2),
    ("check unknown name ESC", ["check", "no\x1b]0;t\x07pe"], "", {}, 2),
    ("token legacy", ["token", "paper"], "", {}, 2),
    ("token --timeout -1", ["token", "bx", "--timeout", "-1"], "", {}, 2),
    ("exec --timeout junk", ["exec", "bx", "--timeout", "soon", "--", "true"], "", {}, 2),
    ("exec --timeout= empty", ["exec", "bx", "--timeout=", "--", "true"], "", {}, 2),
    ("exec unknown option ESC", ["exec", "bx", "--x\x1b", "--", "true"], "", {}, 2),
    ("rotate secret non-ASCII", ["rotate", "paper", "--secret-stdin"], "nöt-ascii-" + "x" * 30 + "\n", {}, 2),
    ("rotate key-id ESC", ["rotate", "paper", "--secret-stdin", "--key-id", "PK\x1b"], GOOD_SECRET, {}, 2),
]


@pytest.fixture
def world(alpaca_home: Path, emu: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    add_profile(emu, "paper", Env.PAPER)
    add_profile(emu, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET)
    monkeypatch.setattr(common, "have_tty", lambda: False)  # never prompt on a real terminal
    return emu


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str],
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_cli(capsys, *argv)


def assert_clean(code: int, out: str, err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [c for c in out + err if ord(c) in UNSAFE], (out[-300:], err[-300:])
    if code != 0:
        errors = [ln for ln in err.splitlines()
                  if ln.strip() and not ln.startswith(("usage:", " ", "warning:"))]
        assert len(errors) == 1, err


@pytest.mark.parametrize(("argv", "stdin", "env", "code"), [c[1:] for c in CORPUS],
                         ids=[c[0] for c in CORPUS])
def test_corpus(world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                argv: list[str], stdin: str, env: dict[str, str], code: int) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    got, out, err = run(capsys, monkeypatch, argv, stdin)
    assert_clean(got, out, err)
    assert got == code, (got, out[-300:], err[-300:])


def test_stored_escapes_are_shown_inert(world: Any, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, alpaca_home: Path) -> None:
    """A note and a last check error with escapes in the index (written by an older version, or
    by hand) are shown by list / show / show --json without a raw control character."""
    path = alpaca_home / "index.json"
    doc = json.loads(path.read_text())
    doc["profiles"]["paper"].update(note=ESC + "\u202enote\x9b", last_check_error="trading: x\x1b[2J\x07",
                                    last_check_ok=False, last_verified_at="2026-01-01T00:00:00+00:00")
    path.write_text(json.dumps(doc))
    for argv in (["profiles", "list"], ["profiles", "show", "paper"], ["profiles", "show", "paper", "--json"],
                 ["profiles", "list", "--json"]):
        code, out, err = run(capsys, monkeypatch, argv)
        assert code == 0 and not err
        assert_clean(code, out, err)
        if "--json" in argv:
            shown = json.loads(out)
            profile = shown.get("profile") or next(p for p in shown["profiles"] if p["name"] == "paper")
            assert profile["note"] == ESC + "\u202enote\x9b"   # the JSON holds the exact data, escaped
        elif "show" in argv:
            assert "\\x1b]52;c;ZXZpbA==\\x07\\u202enote\\x9b" in out and "x\\x1b[2J\\x07" in out


def _pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _huge_rsa_pem(bits: int = 16384) -> bytes:
    """A 16384-bit RSA key in PEM, built without finding primes (it is refused for its size
    before anything checks its numbers)."""
    p = (1 << (bits // 2 - 1)) | (1 << (bits // 2 - 2)) | 1
    q = p + 2
    numbers = rsa.RSAPrivateNumbers(p, q, 3, 1, 1, 1, rsa.RSAPublicNumbers(65537, p * q))
    return _pem(numbers.private_key(unsafe_skip_rsa_key_validation=True))


@pytest.mark.parametrize("kind", ["rsa-16384", "rsa-1024", "ec-p384", "dev-zero", "directory", "encrypted",
                                  "garbage"])
def test_private_key_files_are_refused_fast(world: Any, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            kind: str) -> None:
    path = tmp_path / "key.pem"
    if kind == "rsa-16384":
        path.write_bytes(_huge_rsa_pem())
    elif kind == "rsa-1024":
        path.write_bytes(_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    elif kind == "ec-p384":
        path.write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "directory":
        path = tmp_path
    elif kind == "encrypted":
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"pw")))
    else:
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + ESC.encode() + b"\n-----END PRIVATE KEY-----\n")
    t0 = time.monotonic()
    code, out, err = run(capsys, monkeypatch, ["profiles", "add", "j", "--env", "broker-sandbox", "--flow",
                                               "private-key-jwt", "--key-id", "CKTEST0000000000000000001",
                                               "--private-key-file", str(path)])
    assert time.monotonic() - t0 < 5
    assert_clean(code, out, err)
    assert code == 2, err
    if kind == "rsa-16384":
        assert "too large (16384 bits)" in err


def test_a_key_is_parsed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing an assertion per token request does not validate the key again each time."""
    from alpaca_tui.core.auth.signing import build_assertion

    pem = keys.generate_private_key("RS256")
    calls: list[bool] = []
    real = serialization.load_pem_private_key

    def counting(data: bytes, password: Any = None, **kw: Any) -> Any:
        calls.append(bool(kw.get("unsafe_skip_rsa_key_validation")))
        return real(data, password, **kw)

    monkeypatch.setattr(keys.serialization, "load_pem_private_key", counting)
    for i in range(20):
        build_assertion("CKTEST0000000000000000001", pem, "https://authx.example/v1/oauth2/token",
                        now=1e9 + i)
        keys.public_key_fingerprint(pem)
    assert calls == [True, False]   # sized first (fast), then validated once; cached after that


def test_an_internal_error_in_a_child_reaches_the_trap(tmp_path: Path) -> None:
    """The trap itself: a child's "internal error" is one line for the user and a traceback in
    ALPACA_TUI_INTERNAL_ERRORS (which makes the test that caused it fail, see conftest)."""
    import subprocess

    import alpaca_tui.cli.main as cli_main
    from tests.conftest import subprocess_env

    assert cli_main.internal_error.__name__ == "trapped"  # in this process, the handler is trapped
    log = tmp_path / "internal-errors.log"
    bug = ("import sys, alpaca_tui.cli.profiles as p, alpaca_tui.cli.main as m; "
           "p.run = lambda args: 1 / 0; sys.exit(m.main(['profiles', 'list']))")
    env = subprocess_env({cli_main.INTERNAL_ERRORS_ENV: str(log)})
    r = subprocess.run([sys.executable, "-c", bug], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.strip() == ("alpaca-tui: internal error: ZeroDivisionError "
                                                      "(set ALPACA_TUI_DEBUG=1 for details)")
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text
