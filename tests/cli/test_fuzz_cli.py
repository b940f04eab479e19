"""Fuzz ``alpaca-tui profiles add`` in-process: junk in every field never yields a traceback.

Whatever is typed, the exit code is 0, 1 or 2 and stderr holds at most one line that
is not a ``warning:`` line (the one-line error), never a Python traceback.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import alpaca_tui.cli.common as common
import alpaca_tui.cli.main as cli_main
from tests.cli.enginecli_support import add_profile, emu

__all__ = ["emu"]

_counter = itertools.count()

# Arguments starting with "-" are argparse's business (exit 2); keep some anyway.
junk = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.text(alphabet="=:/@?#%-_. \t\n…ÄßPKACK0123456789abcdefrwon", max_size=30),
)
envs = st.one_of(st.sampled_from(["live", "paper", "broker-live", "broker-sandbox", "sandbox", "LIVE"]), junk)
flows = st.one_of(st.sampled_from(["legacy", "client-secret", "private-key-jwt", "jwt"]), junk)
key_ids = st.one_of(st.sampled_from(["PKTEST00000000000001", "AKTEST00000000000001",
                                     "CKTEST0000000000000000001", "x"]), junk,
                    st.text(min_size=120, max_size=200))
expiries = st.one_of(st.sampled_from(["never", "1w", "30d", "6m", "1y", "2099-12-31", "2001-01-01",
                                      "2099-02-30"]), junk)
scopes = st.one_of(st.sampled_from(["funding=rw", "data=ro", "SSE events=none", "trading=", "=rw"]), junk)
secrets = st.one_of(st.just("PaperSecret0123456789abcdefghijklmnopqrs"), junk,
                    st.text(min_size=4000, max_size=5000))
names = st.one_of(st.just(""), junk, st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z"))


@pytest.fixture
def quiet_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only command modules that exist (other commands are written in parallel).
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        tuple(m for m in cli_main.COMMAND_MODULES if importlib.util.find_spec(m)))
    monkeypatch.setattr(common, "have_tty", lambda: False)  # never prompt on a real terminal


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str],
         stdin: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = cli_main.main(argv)
    except SystemExit as exc:  # argparse exits 2 on its own usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean(code: int, err: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    if code == 0:
        assert not lines, err
    else:
        # argparse prints its usage line before the one-line error: only the error counts.
        errors = [ln for ln in lines if not ln.startswith("usage:") and not ln.startswith(" ")]
        assert len(errors) <= 1, err


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=names, env=envs, flow=flows, key_id=key_ids, expires=expiries, scope=scopes, secret=secrets)
def test_profiles_add_with_junk_never_tracebacks(alpaca_home: Path, quiet_cli: None,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, name: str, env: str,
                                                 flow: str, key_id: str, expires: str, scope: str,
                                                 secret: str) -> None:
    # Unique valid-looking names keep successful adds from colliding across examples.
    if name and name[0].isalnum() and name.isascii():
        name = f"{name[:40]}-{next(_counter)}"
    argv = ["profiles", "add", name, "--env", env, "--flow", flow, "--key-id", key_id, "--expires", expires,
            "--scope", scope, "--secret-stdin"]
    code, out, err = _run(capsys, monkeypatch, argv, secret + "\n")
    event(f"exit {code}")
    _assert_clean(code, err)
    # A secret that is also part of another argument (the fuzzer can pick the same text for
    # both) legitimately shows up when that argument is quoted back in the error.
    public = " ".join(argv)
    if len(secret.strip()) >= 8 and secret.strip() not in public:
        assert secret.strip() not in err


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(expires=expiries, scope=scopes)
def test_profiles_add_valid_identity_junk_options(alpaca_home: Path, quiet_cli: None,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, expires: str,
                                                  scope: str) -> None:
    """With a valid identity the junk reaches the expiry and scope parsers (not argparse)."""
    name = f"fuzz-{next(_counter)}"
    argv = ["profiles", "add", name, "--env", "broker-sandbox", "--flow", "client-secret",
            "--key-id", "CKTEST0000000000000000001", f"--expires={expires}", f"--scope={scope}",
            "--secret-stdin"]
    code, _out, err = _run(capsys, monkeypatch, argv, "client-secret-" + "Z" * 50 + "\n")
    event(f"exit {code}")
    _assert_clean(code, err)


def _mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values 4 times out of 5, so the junk in one field reaches the engine and the server."""
    return st.sampled_from([valid] * 4 + [odd]).flatmap(lambda strategy: strategy)


methods = _mostly(st.sampled_from(["GET", "get", "POST", "DELETE", "PATCH", "PUT"]),
                  st.one_of(st.sampled_from(["HEAD", "TRACE", "G ET"]), junk))
paths = _mostly(st.sampled_from(["/v2/account", "/v2/orders", "/v2/stocks/AAPL/bars/latest", "/v2/positions",
                                 "/v2/account?x=1#frag", "/v2/nope", "/v2/orders/" + "9" * 300]),
                st.one_of(st.sampled_from(["/", "v2/account", "//evil.example/x", "/%zz",
                                           "http://evil.example/v2/account", "/v2/../../etc/passwd"]), junk))
bodies_json = _mostly(st.one_of(st.none(), st.sampled_from(['{"symbol": "AAPL", "qty": 1}', "[]", "null"])),
                      st.one_of(st.sampled_from(["{", '{"a": NaN}', "1e999", '"' + "x" * 5000 + '"']), junk))
queries = st.lists(_mostly(st.sampled_from(["feed=iex", "a=", "limit=5"]),
                           st.one_of(st.sampled_from(["=b", "noequals"]), junk)), max_size=3)
apis = _mostly(st.one_of(st.none(), st.sampled_from(["trading", "data", "Trading"])),
               st.one_of(st.sampled_from(["broker"]), junk))


@pytest.fixture
def request_world(alpaca_home: Path, emu: Any) -> Any:
    from alpaca_tui.core.environments import Env

    add_profile(emu, "paper", Env.PAPER)
    return emu


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=methods, path=paths, body=bodies_json, query=queries, api=apis, as_json=st.booleans())
def test_request_with_junk_never_tracebacks(request_world: Any, quiet_cli: None,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, method: str, path: str,
                                            body: str | None, query: list[str], api: str | None,
                                            as_json: bool) -> None:
    """Junk method, path, JSON body, query and API against a real emulator: exit 0/1/2, one line."""
    argv = ["request", "paper", method, path, "--timeout", "5"]
    if body is not None:
        argv += ["--data", body]
    for q in query:
        argv += ["--query", q]
    if api is not None:
        argv += ["--api", api]
    if as_json:
        argv.append("--json")
    code, out, err = _run(capsys, monkeypatch, argv, "")
    event(f"exit {code}" + (f": {err.strip().splitlines()[-1][:60]}" if code == 2 and err.strip() else ""))
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        errors = [ln for ln in err.splitlines()
                  if ln.strip() and not ln.startswith(("usage:", " ", "warning:"))]
        assert len(errors) <= 1, err
    if as_json and code in (0, 1) and out.strip():
        import json

        json.loads(out)  # --json output stays machine-readable whatever the server said
