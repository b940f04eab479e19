"""``alpaca-tui profiles``: in-process through ``cli.main.main`` against real backends."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import alpaca_tui.cli.common as common
import alpaca_tui.cli.main as cli_main
from alpaca_tui.core import keys
from alpaca_tui.core.store import Store

PAPER_ID = "PKTEST00000000000001"
PAPER_SECRET = "PaperSecret0123456789abcdefghijklmnopqrs"  # 40 characters
BROKER_ID = "CKTEST0000000000000000001"
CLIENT_SECRET = "client-secret-" + "Z" * 50


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    # Only command modules that exist (other commands are written in parallel).
    monkeypatch.setattr(cli_main, "COMMAND_MODULES",
                        tuple(m for m in cli_main.COMMAND_MODULES if importlib.util.find_spec(m)))
    monkeypatch.setattr(common, "have_tty", lambda: False)  # never prompt on a real terminal

    def run(*args: str, stdin: str | io.StringIO = "") -> Result:
        monkeypatch.setattr(sys, "stdin", stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin))
        try:
            code = cli_main.main(list(args))
        except SystemExit as exc:  # argparse's own usage errors exit 2 from parse_args
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(params=["file", pytest.param("system", marks=pytest.mark.system_keyring)])
def any_home(request: pytest.FixtureRequest) -> Path:
    """Both real backends: the encrypted file and the real Secret Service."""
    fixture = "alpaca_home" if request.param == "file" else "system_keyring_home"
    return request.getfixturevalue(fixture)


def _write_pem(path: Path, key: object) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                            serialization.NoEncryption())
    path.write_bytes(pem)
    return path


def _secrets_not_on_disk(home: Path, values: list[str]) -> None:
    for path in home.rglob("*"):
        if path.is_file() and path.name != "secrets.enc":
            data = path.read_bytes()
            for v in values:
                assert v.encode() not in data, f"secret found in {path}"


# -- every flow, both backends ----------------------------------------------------------------


def test_every_flow_round_trips_through_the_cli(cli: Run, any_home: Path, tmp_path: Path) -> None:
    kind = "file" if (any_home.parent / "passphrase").exists() else "system"
    r = cli("profiles", "add", "paper1", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin", stdin=PAPER_SECRET + "\n")
    assert r.code == 0, r.err
    assert r.err == "" and "added profile 'paper1'" in r.out and PAPER_SECRET not in r.out

    r = cli("profiles", "add", "sb-cs", "--env", "broker-sandbox", "--flow", "client-secret",
            "--key-id", BROKER_ID, "--secret-stdin", "--access", "read-only", "--scope", "trading=rw",
            "--expires", "30d", "--endpoint", "broker=http://127.0.0.1:8765", stdin=CLIENT_SECRET)
    assert r.code == 0, r.err

    ec_pem = _write_pem(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    r = cli("profiles", "add", "jwt-file", "--env", "broker-live", "--flow", "private-key-jwt",
            "--key-id", BROKER_ID, "--private-key-file", str(ec_pem), "--json")
    assert r.code == 0, r.err
    assert r.json["public_key"]["alg"] == "ES256" and r.json["profile"]["alg"] == "ES256"

    r = cli("profiles", "add", "jwt-gen", "--env", "broker-sandbox", "--flow", "private-key-jwt",
            "--key-id", BROKER_ID, "--generate-key", "--alg", "RS256")
    assert r.code == 0, r.err
    assert "-----BEGIN PUBLIC KEY-----" in r.out and '"kty": "RSA"' in r.out and "PRIVATE" not in r.out

    store = Store.open()
    assert store.backend_kind == kind
    assert store.load_bundle("paper1").active.secret == PAPER_SECRET
    assert store.load_bundle("paper1").active.key_id == PAPER_ID
    assert store.load_bundle("sb-cs").active.secret == CLIENT_SECRET
    assert store.load_bundle("jwt-file").active.private_key_pem == ec_pem.read_text()
    generated = store.load_bundle("jwt-gen").active
    assert generated.alg == "RS256" and generated.private_key_pem
    p = store.get_profile("sb-cs")
    assert p.access.summary().startswith("custom") and p.access.to_dict()["trading"] == "rw"
    assert p.access.to_dict()["funding"] == "ro" and p.expires_at is not None
    assert p.endpoints and str(next(iter(p.endpoints.values()))) == "http://127.0.0.1:8765"
    assert store.get_profile("jwt-gen").public_key_fingerprint == \
        keys.public_key_fingerprint(generated.private_key_pem)

    _secrets_not_on_disk(any_home, [PAPER_SECRET, CLIENT_SECRET, *[
        ln for pem in (ec_pem.read_text(), generated.private_key_pem) for ln in pem.splitlines()
        if not ln.startswith("-----")]])
    index = (any_home / "index.json").read_text()
    assert PAPER_ID not in index and "PKTE…0001" in index

    r = cli("profiles", "list", "--json")
    assert r.code == 0 and r.json["backend"] == kind
    assert [x["name"] for x in r.json["profiles"]] == ["jwt-file", "jwt-gen", "paper1", "sb-cs"]

    for name in ("paper1", "sb-cs", "jwt-file", "jwt-gen"):
        r = cli("profiles", "remove", name, "--yes")
        assert r.code == 0, r.err
    assert Store.open().list_profiles() == []


def test_generated_key_signs_tokens_the_printed_jwk_verifies(cli: Run, alpaca_home: Path) -> None:
    import jwt

    for alg in ("ES256", "RS256"):
        name = f"gen-{alg.lower()}"
        r = cli("profiles", "add", name, "--env", "broker-sandbox", "--flow", "private-key-jwt",
                "--key-id", BROKER_ID, "--generate-key", "--alg", alg, "--json")
        assert r.code == 0, r.err
        pub = r.json["public_key"]
        assert pub["jwk"]["kid"] == BROKER_ID and pub["jwk"]["use"] == "sig" and pub["jwk"]["alg"] == alg
        private_pem = Store.open().load_bundle(name).active.private_key_pem
        assert private_pem and private_pem not in r.out
        token = jwt.encode({"iss": BROKER_ID, "sub": BROKER_ID, "aud": "x"}, private_pem, algorithm=alg)
        for verifier in (jwt.PyJWK(pub["jwk"]).key, pub["pem"]):
            assert jwt.decode(token, verifier, algorithms=[alg], audience="x")["iss"] == BROKER_ID
        # show --public-key prints the same key again, derived from the stored private key
        again = cli("profiles", "show", name, "--public-key", "--json")
        assert again.code == 0 and again.json["public_key"] == pub
        human = cli("profiles", "show", name, "--public-key")
        assert pub["pem"].strip() in human.out and pub["fingerprint"] in human.out


def test_secret_from_a_hidden_prompt_when_stdin_is_a_tty(cli: Run, alpaca_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    class TtyIn(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr(common, "have_tty", lambda: True)
    monkeypatch.setattr(common, "prompt_hidden", lambda p: prompts.append(p) or PAPER_SECRET)
    r = cli("profiles", "add", "tty", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            stdin=TtyIn())
    assert r.code == 0, r.err
    assert len(prompts) == 1 and "PKTE…0001" in prompts[0]
    assert Store.open().load_bundle("tty").active.secret == PAPER_SECRET
    # --secret-stdin on a terminal would echo what is typed: the hidden prompt is used instead.
    r = cli("profiles", "add", "tty2", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin", stdin=TtyIn("visible-if-read-from-stdin\n"))
    assert r.code == 0, r.err
    assert len(prompts) == 2 and Store.open().load_bundle("tty2").active.secret == PAPER_SECRET


def test_cli_prompts_for_a_new_passphrase_twice(cli: Run, alpaca_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    answers = iter(["first pass", "different"])
    monkeypatch.setattr(common, "have_tty", lambda: True)
    monkeypatch.setattr(common, "prompt_hidden", lambda p: next(answers))
    r = cli("profiles", "add", "x", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin", stdin=PAPER_SECRET)
    assert r.code == 1 and "passphrases differ" in r.err and not (alpaca_home / "index.json").exists()
    answers = iter(["good pass", "good pass"])
    r = cli("profiles", "add", "x", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin", stdin=PAPER_SECRET)
    assert r.code == 0, r.err
    assert Store.open(passphrase="good pass").load_bundle("x").active.secret == PAPER_SECRET


def test_no_tty_and_no_passphrase_file_is_a_clear_error(cli: Run, alpaca_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    r = cli("profiles", "add", "x", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin", stdin=PAPER_SECRET)
    assert r.code == 1
    assert r.err.strip() == ("alpaca-tui: error: encrypted store is locked: set ALPACA_TUI_PASSPHRASE_FILE "
                             "or run interactively")


# -- validation: one line, exit 2, nothing stored --------------------------------------------


BAD_INPUTS: dict[str, tuple[list[str], str, str]] = {
    # name: (extra args after "profiles add", stdin, expected fragment)
    "bad date": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                  "--expires", "2027-02-30"], PAPER_SECRET, "no such day"),
    "past date": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                   "--expires", "2020-01-01"], PAPER_SECRET, "in the past"),
    "bad expiry word": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                         "--expires", "tomorrow"], PAPER_SECRET, "invalid expiry"),
    "unknown scope": (["d", "--env", "broker-sandbox", "--flow", "client-secret", "--key-id", BROKER_ID,
                       "--secret-stdin", "--scope", "moneyprinter=rw"], CLIENT_SECRET, "unknown scope"),
    "bad level": (["d", "--env", "broker-sandbox", "--flow", "client-secret", "--key-id", BROKER_ID,
                   "--secret-stdin", "--scope", "trading=sometimes"], CLIENT_SECRET, "unknown access level"),
    "bad access": (["d", "--env", "broker-sandbox", "--flow", "client-secret", "--key-id", BROKER_ID,
                    "--secret-stdin", "--access", "everything"], CLIENT_SECRET, "unknown access"),
    "scope on paper": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                        "--scope", "trading=ro"], PAPER_SECRET, "always have full access"),
    "empty secret": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin"],
                     "\n", "secret is empty"),
    "two-line secret": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin"],
                        "abc\ndef\n", "single line"),
    "oauth on paper": (["d", "--env", "paper", "--flow", "client-secret", "--key-id", PAPER_ID,
                        "--secret-stdin"], CLIENT_SECRET, "only available for broker"),
    "jwt on live": (["d", "--env", "live", "--flow", "private-key-jwt", "--key-id", PAPER_ID,
                     "--generate-key"], "", "only available for broker"),
    "bad url": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                 "--endpoint", "trading=ftp://example.com"], PAPER_SECRET, "invalid URL"),
    "plain http": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                    "--endpoint", "trading=http://example.com"], PAPER_SECRET, "plain http"),
    "api not in env": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin",
                        "--endpoint", "broker=https://example.com"], PAPER_SECRET, "has no broker API"),
    "no secret, no tty": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID], PAPER_SECRET,
                          "--secret-stdin"),
    "bad name": (["-x", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin"],
                 PAPER_SECRET, "error"),
    "bad name chars": (["a/b", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin"],
                       PAPER_SECRET, "invalid profile name"),
    "unknown env": (["d", "--env", "moon", "--flow", "legacy", "--key-id", PAPER_ID, "--secret-stdin"],
                    PAPER_SECRET, "unknown environment"),
    "unknown flow": (["d", "--env", "paper", "--flow", "magic", "--key-id", PAPER_ID, "--secret-stdin"],
                     PAPER_SECRET, "unknown flow"),
    "key id with space": (["d", "--env", "paper", "--flow", "legacy", "--key-id", "PK 123", "--secret-stdin"],
                          PAPER_SECRET, "malformed key ID"),
    "jwt without key": (["d", "--env", "broker-sandbox", "--flow", "private-key-jwt", "--key-id", BROKER_ID],
                        "", "--private-key-file PEM or --generate-key"),
    "jwt with stdin": (["d", "--env", "broker-sandbox", "--flow", "private-key-jwt", "--key-id", BROKER_ID,
                        "--secret-stdin"], "x", "not --secret-stdin"),
    "key for legacy": (["d", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID, "--generate-key"],
                       "", "are for --flow private-key-jwt"),
    "bad alg": (["d", "--env", "broker-sandbox", "--flow", "private-key-jwt", "--key-id", BROKER_ID,
                 "--generate-key", "--alg", "HS256"], "", "unknown key algorithm"),
    "missing pem file": (["d", "--env", "broker-sandbox", "--flow", "private-key-jwt", "--key-id", BROKER_ID,
                          "--private-key-file", "/nonexistent/key.pem"], "", "cannot read private key file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_stores_nothing(cli: Run, alpaca_home: Path, case: str) -> None:
    args, stdin, fragment = BAD_INPUTS[case]
    r = cli("profiles", "add", *args, stdin=stdin)
    assert r.code == 2, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.err
    assert "Traceback" not in r.err and r.out == ""
    assert not (alpaca_home / "index.json").exists() and not (alpaca_home / "secrets.enc").exists()


def _pem_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    junk = tmp / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    notpem = tmp / "notpem.pem"
    notpem.write_text("hello world\n")
    enc = tmp / "enc.pem"
    enc.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")))
    return {
        "junk": (junk, "could not parse the PEM private key"),
        "not pem": (notpem, "not a PEM private key"),
        "encrypted": (enc, "the private key is encrypted"),
        "p384": (_write_pem(tmp / "p384.pem", ec.generate_private_key(ec.SECP384R1())), "needs P-256"),
        "rsa1024": (_write_pem(tmp / "rsa1024.pem", rsa.generate_private_key(65537, 1024)),
                    "RSA key too small"),
        "binary": (tmp / "bin.pem", "not a PEM file"),
    }


def test_bad_pem_files(cli: Run, alpaca_home: Path, tmp_path: Path) -> None:
    (tmp_path / "bin.pem").write_bytes(b"\x30\x82\x01\xff\x00\xfe")
    for label, (path, fragment) in _pem_cases(tmp_path).items():
        r = cli("profiles", "add", "k", "--env", "broker-sandbox", "--flow", "private-key-jwt",
                "--key-id", BROKER_ID, "--private-key-file", str(path))
        assert r.code == 2, label
        assert len(r.err.strip().splitlines()) == 1 and fragment in r.err, (label, r.err)
    good = _write_pem(tmp_path / "good.pem", ec.generate_private_key(ec.SECP256R1()))
    r = cli("profiles", "add", "k", "--env", "broker-sandbox", "--flow", "private-key-jwt",
            "--key-id", BROKER_ID, "--private-key-file", str(good), "--alg", "RS256")
    assert r.code == 2 and "does not match the key, which is ES256" in r.err
    assert not (alpaca_home / "index.json").exists()


def test_duplicate_name_is_exit_2_and_keeps_the_first(cli: Run, alpaca_home: Path) -> None:
    base = ["profiles", "add", "dup", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
            "--secret-stdin"]
    assert cli(*base, stdin=PAPER_SECRET).code == 0
    index = (alpaca_home / "index.json").read_bytes()
    r = cli(*base, stdin="another-secret-" + "q" * 25)
    assert r.code == 2 and r.err.strip() == "alpaca-tui: error: profile 'dup' already exists"
    assert (alpaca_home / "index.json").read_bytes() == index
    assert Store.open().load_bundle("dup").active.secret == PAPER_SECRET


def test_key_id_shape_warnings_do_not_block(cli: Run, alpaca_home: Path) -> None:
    r = cli("profiles", "add", "mix", "--env", "paper", "--flow", "legacy",
            "--key-id", "AKLIVEKEY00000000001", "--secret-stdin", stdin="short-secret")
    assert r.code == 0
    warnings = r.err.strip().splitlines()
    assert any(w.startswith("warning: key ID starts with AK") for w in warnings)
    assert any("usually 40" in w for w in warnings) and all(w.startswith("warning: ") for w in warnings)
    assert "short-secret" not in r.err


# -- list / show / remove ---------------------------------------------------------------------


def _seed(cli: Run) -> None:
    assert cli("profiles", "add", "b-paper", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
               "--secret-stdin", stdin=PAPER_SECRET).code == 0
    assert cli("profiles", "add", "a-broker", "--env", "broker-sandbox", "--flow", "client-secret",
               "--key-id", BROKER_ID, "--secret-stdin", "--access", "read-only", "--expires", "1w",
               stdin=CLIENT_SECRET).code == 0


def test_list_json_schema_and_table(cli: Run, alpaca_home: Path) -> None:
    _seed(cli)
    store = Store.open()
    store.update_profile("b-paper", expires_at=datetime.now(UTC) - timedelta(days=2),
                         last_verified_at=datetime.now(UTC) - timedelta(hours=3), last_check_ok=True)
    r = cli("profiles", "list", "--json")
    assert r.code == 0
    doc = r.json
    assert set(doc) == {"backend", "profiles"} and doc["backend"] == "file"
    names = [p["name"] for p in doc["profiles"]]
    assert names == ["a-broker", "b-paper"]
    a, b = doc["profiles"]
    expected_keys = set(store.get_profile("a-broker").to_dict()) | {"expiry_state"}
    assert set(a) == expected_keys and set(b) == expected_keys
    assert a["expiry_state"] == "expiring" and b["expiry_state"] == "expired"
    assert a["access_preset"] == "read-only" and a["key_id_masked"] == "CKTE…0001"
    assert b["env"] == "paper" and b["flow"] == "legacy" and b["last_check_ok"] is True

    table = cli("profiles", "list")
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["NAME", "ENV", "FLOW", "KEY", "ID", "ACCESS", "EXPIRES", "VERIFIED"]
    assert lines[1].startswith("a-broker") and "read-only" in lines[1] and "in 6d" in lines[1]
    assert "(expiring)" in lines[1] and "never" in lines[1]
    assert lines[2].startswith("b-paper") and "expired 2d ago" in lines[2] and "ok 3h ago" in lines[2]
    assert all(len(line) <= 100 for line in lines)


def test_list_and_show_never_read_secrets(cli: Run, alpaca_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(cli)
    monkeypatch.delenv("ALPACA_TUI_PASSPHRASE_FILE")
    (alpaca_home / "secrets.enc").write_bytes(b"destroyed")  # any secret read would now fail
    assert cli("profiles", "list").code == 0
    assert cli("profiles", "list", "--json").code == 0
    r = cli("profiles", "show", "a-broker", "--json")
    assert r.code == 0 and r.json["profile"]["name"] == "a-broker" and "public_key" not in r.json


def test_empty_list(cli: Run, alpaca_home: Path) -> None:
    r = cli("profiles", "list")
    assert r.code == 0 and "no profiles yet" in r.out
    assert cli("profiles", "list", "--json").json == {"backend": "file", "profiles": []}


def test_show(cli: Run, alpaca_home: Path) -> None:
    _seed(cli)
    r = cli("profiles", "show", "a-broker")
    assert r.code == 0
    assert "broker-sandbox" in r.out and "CKTE…0001" in r.out and "read-only" in r.out
    assert CLIENT_SECRET not in r.out and BROKER_ID not in r.out
    assert "https://broker-api.sandbox.alpaca.markets" in r.out
    r = cli("profiles", "show", "nope")
    assert r.code == 2 and r.err.strip() == \
        "alpaca-tui: error: no profile named 'nope' (see: alpaca-tui profiles list)"
    r = cli("profiles", "show", "b-paper", "--public-key")
    assert r.code == 2 and "only private-key-jwt" in r.err


def test_remove_needs_confirmation(cli: Run, alpaca_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(cli)
    r = cli("profiles", "remove", "b-paper")
    assert r.code == 2 and "pass --yes" in r.err
    assert [p.name for p in Store.open().list_profiles()] == ["a-broker", "b-paper"]
    monkeypatch.setattr(common, "have_tty", lambda: True)
    monkeypatch.setattr(common, "prompt_line", lambda p: "n")
    r = cli("profiles", "remove", "b-paper")
    assert r.code == 1 and "not removed" in r.err
    monkeypatch.setattr(common, "prompt_line", lambda p: "y")
    r = cli("profiles", "remove", "b-paper")
    assert r.code == 0 and "removed profile 'b-paper'" in r.out
    assert [p.name for p in Store.open().list_profiles()] == ["a-broker"]
    assert cli("profiles", "remove", "b-paper", "--yes").code == 2


def test_wrong_passphrase_via_cli_changes_nothing(cli: Run, alpaca_home: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(cli)
    assert cli("profiles", "add", "jwt", "--env", "broker-sandbox", "--flow", "private-key-jwt",
               "--key-id", BROKER_ID, "--generate-key").code == 0
    files = {p: p.read_bytes() for p in (alpaca_home / "index.json", alpaca_home / "secrets.enc")}
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("definitely wrong\n")
    monkeypatch.setenv("ALPACA_TUI_PASSPHRASE_FILE", str(wrong))
    add_new = ["profiles", "add", "new", "--env", "paper", "--flow", "legacy", "--key-id", PAPER_ID,
               "--secret-stdin"]
    for args, stdin in ((add_new, PAPER_SECRET),
                        (["profiles", "remove", "b-paper", "--yes"], ""),
                        (["profiles", "show", "jwt", "--public-key"], "")):
        r = cli(*args, stdin=stdin)
        assert r.code == 1, args
        assert len(r.err.strip().splitlines()) == 1 and "wrong passphrase" in r.err
    assert {p: p.read_bytes() for p in files} == files


def test_profiles_without_action_prints_help(cli: Run, alpaca_home: Path) -> None:
    r = cli("profiles")
    assert r.code == 2 and "add" in r.err and "list" in r.err
