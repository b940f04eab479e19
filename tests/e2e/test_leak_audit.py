"""Leak audit: a whole session with known, distinctive secrets, on both secret backends, then
proof that those secrets appear nowhere except inside the secret store.

The scenario (real ``python -m alpaca_tui`` processes, real loopback HTTP to the emulator):
``profiles add`` for every flow (legacy key + secret for paper and live, OAuth client secret
for broker-sandbox and broker-live, private_key_jwt from a key file and a generated key),
``profiles list/show`` (text and ``--json``), ``check``, ``request`` (2xx and error answers,
and answers from a host that reflects the request: a debug endpoint or chatty proxy echoing
the credential headers back), ``token``, ``exec``, ``rotate`` (new secret on stdin; a staged
generated key + ``--pending``), ``rotate --rollback``, ``doctor``, failures (revoked
credentials, one with ``ALPACA_TUI_DEBUG=1``) and ``profiles remove``; then the TUI, rendered
with Pilot and exported as SVG: home, details of every flow with the secret not revealed, the
live token panel, request tester answers (body and headers tabs of a reflected credential),
"copy as cURL" (placeholders) and "cURL + secrets" (the status line), a keyboard rotation
with a pasted secret. Where a command has a text and a JSON form, one backend runs each.

Secrets enter by stdin or a key file, never argv. Every child gets a fresh ``TMPDIR``,
``HOME`` and ``XDG_*`` directories inside the test's temp dir, so everything it leaves is
scanned.

What is scanned, for every secret (API secrets, client secrets, private keys and their
private numbers, every access token the emulator issued, the store passphrase) in plain form,
base64 / base64url (at all three byte alignments, so embedded encodings such as a Basic
header count), hex, URL-encoded, JSON-escaped and HTML-escaped, plus the last 8 characters
and overlapping 12-character windows of long secrets (more than the 4 + 4 the mask shows):

* every file in the test's temp dir: the store home (``secrets.enc`` included: it must not
  hold any plaintext), the children's TMPDIR/HOME/XDG dirs, the SVGs;
* the argv, stdout and stderr of every command;
* the environment, argv and inherited file descriptors of every ``exec`` child.

Sanctioned exceptions, each checked to hold exactly what it should:
* ``token``'s stdout is the access token (that is its job): it may hold that profile's token
  and nothing else; its stderr is scanned like everything else;
* an ``exec`` child gets its credential in the documented variables (``cli/exec_.py``): key
  ID + secret for key-ID profiles, an access token (never the client secret or private key)
  for OAuth profiles; every other variable is scanned;
* the passphrase file holds the passphrase; the private-key file we import holds that key;
* the confirmed "cURL + secrets" clipboard holds that profile's key ID and secret;
* key IDs are not secret: they are on argv (``--key-id``), in a generated key's JWK ``kid``,
  in ``exec``'s ``APCA_API_KEY_ID``, in the rotation screen's key-ID input where it was typed,
  and in answers from a server that reflects them; everywhere the UI/CLI show one it is masked
  (``prefix…last4``), which is asserted, and the full ID is in no file and no other output.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import secrets as pysecrets
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from alpaca_tui.core import keys
from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.redact import MASK, mask
from alpaca_tui.emulator import Emulator
from tests.conftest import TEST_PASSPHRASE, cli_argv, subprocess_env

MASK_RE = re.compile(r"^[A-Za-z0-9]{2,4}" + MASK + r"[A-Za-z0-9]{2,4}$")
JWT_RE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")  # a client assertion / any JWT
UPPER = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
WINDOW = 12

# The exec child: report the whole environment, argv and every inherited file descriptor.
DUMP_CHILD = (
    "import json, os, sys\n"
    "fds = {}\n"
    "for fd in os.listdir('/proc/self/fd'):\n"
    "    try: fds[fd] = os.readlink('/proc/self/fd/' + fd)\n"
    "    except OSError: pass\n"
    "print(json.dumps({'env': dict(os.environ), 'argv': sys.argv, 'fds': fds}))\n"
)


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(pysecrets.choice(alphabet) for _ in range(n))


# -- needles: a secret and its encodings ------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    group: str   # which secret ("secret:paper", "token:bx", ...): allowances are per group
    form: str    # "plain", "base64+1", "window@8", ... (reported instead of the value)
    value: bytes


def _b64_cores(raw: bytes) -> Iterator[tuple[str, str]]:
    """base64 of ``raw`` as it looks inside a longer base64 stream, at each byte alignment."""
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode()
        start = -(-shift * 8 // 6)
        end = (shift + len(raw)) * 8 // 6
        core = enc[start:end]
        yield f"base64+{shift}", core
        yield f"base64url+{shift}", core.replace("+", "-").replace("/", "_")


def needles(group: str, value: str, *, fragments: bool = True) -> list[Needle]:
    """``value`` in plain form and common encodings; with ``fragments`` also its last 8
    characters and overlapping windows (a partial leak: more than the mask's 4 + 4)."""
    raw = value.encode()
    forms: dict[str, str] = {
        "plain": value,
        "json": json.dumps(value, ensure_ascii=False)[1:-1],
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1],
        "url": quote(value, safe=""),
        "url+": quote_plus(value),
        "html": html.escape(value),
        "html-nbsp": html.escape(value).replace(" ", "&#160;"),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    forms.update(_b64_cores(raw))
    if fragments and len(value) >= 16:
        forms["last8"] = value[-8:]
        for i in range(0, len(value) - WINDOW + 1, 4):
            forms[f"window@{i}"] = value[i:i + WINDOW]
    out: dict[bytes, Needle] = {}
    for form, text in forms.items():
        b = text.encode()
        if len(b) >= 8 and b not in out:
            out[b] = Needle(group, form, b)
    return list(out.values())


def key_needles(group: str, pem: str, public_texts: Iterable[str]) -> list[Needle]:
    """A private key: the PEM (plain, JSON-escaped, joined body), every body line that is not
    also public material, and its private numbers in JWK (base64url), base64, hex, decimal."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    public = "\n".join(public_texts)
    body = [ln for ln in pem.strip().splitlines() if not ln.startswith("-----")]
    out = needles(group, pem, fragments=False)
    out += needles(group, "".join(body), fragments=False)
    out += [Needle(group, f"pem-line{i}", ln.encode()) for i, ln in enumerate(body)
            if len(ln) >= 16 and ln not in public]
    key = load_pem_private_key(pem.encode(), password=None)
    numbers: dict[str, int] = {}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers["d"] = key.private_numbers().private_value
    elif isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        numbers.update(d=n.d, p=n.p, q=n.q, dp=n.dmp1, dq=n.dmq1, qi=n.iqmp)
    for name, num in numbers.items():
        raw = num.to_bytes((num.bit_length() + 7) // 8, "big")
        jwk = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        for form, text in (("jwk", jwk), ("dec", str(num)), ("hex", raw.hex())):
            for nd in needles(group, text):
                out.append(Needle(group, f"{name}-{form}-{nd.form}", nd.value))
        for form, core in _b64_cores(raw):
            out.append(Needle(group, f"{name}-{form}", core.encode()))
    return out


# -- an echo server: a debugging endpoint / proxy that reflects what it receives ---------------


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers everything with 200 and JSON reflecting the request's headers, and reflects the
    credential headers in response headers too (httpbin's /anything, a chatty proxy)."""

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        doc = json.dumps({"path": self.path, "headers": dict(self.headers.items()), "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(doc)))
        for k in ("Authorization", "APCA-API-SECRET-KEY"):
            if self.headers.get(k):
                self.send_header(f"X-Echo-{k}", self.headers[k])
        self.end_headers()
        self.wfile.write(doc)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def echo_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


# -- the world of one test ------------------------------------------------------------------


@dataclass
class Output:
    where: str
    data: bytes
    allow: frozenset[str] = frozenset()   # needle groups that may appear here


@dataclass
class Ctx:
    kind: str                 # "file" | "system"
    root: Path                # the test's temp dir: everything under it is scanned
    home: Path
    emu: Emulator
    env: dict[str, str]
    echo: str                 # base URL of the echo server
    key_ids: dict[str, str] = field(default_factory=dict)        # profile -> full key ID
    secrets: dict[str, str] = field(default_factory=dict)        # group -> secret value
    pems: dict[str, str] = field(default_factory=dict)           # group -> private key PEM
    public_texts: list[str] = field(default_factory=list)        # public keys we printed
    outputs: list[Output] = field(default_factory=list)
    allowed_files: dict[Path, frozenset[str]] = field(default_factory=dict)
    exec_dumps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    token_outs: list[tuple[str, str]] = field(default_factory=list)   # (profile, stdout)
    tokens: dict[str, str] = field(default_factory=dict)  # every access token issued -> client ID
    timings: list[tuple[str, float]] = field(default_factory=list)

    def run(self, *args: str, stdin: str | None = None, code: int = 0, stdout_allow: Iterable[str] = (),
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = cli_argv(*args)
        t0 = time.monotonic()
        proc = subprocess.run(argv, env=self.env | (env or {}), input=stdin, capture_output=True, text=True,
                              timeout=60, start_new_session=True,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
        self.timings.append((" ".join(args[:2]), time.monotonic() - t0))
        self.note_tokens()
        what = " ".join(a for a in args if "://" not in a)
        assert proc.returncode == code, f"{what}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        key_id_groups = frozenset(f"key_id:{n}" for n in self.key_ids)
        self.outputs.append(Output(f"argv of {what}", "\0".join(argv).encode(), key_id_groups))
        self.outputs.append(Output(f"stdout of {what}", proc.stdout.encode(), frozenset(stdout_allow)))
        self.outputs.append(Output(f"stderr of {what}", proc.stderr.encode()))
        return proc

    def note_tokens(self) -> None:
        """Remember every token the emulator issued (it forgets a client's tokens on revoke)."""
        self.tokens.update({t: r.client_id for t, r in self.emu.state.tokens.items()})


def _mkdirs(root: Path, *names: str) -> dict[str, Path]:
    out = {}
    for n in names:
        p = root / n
        p.mkdir(mode=0o700)
        out[n] = p
    return out


@pytest.fixture(params=["file", pytest.param("system", marks=pytest.mark.system_keyring)])
def audit_home(request: pytest.FixtureRequest) -> tuple[str, Path]:
    fixture = "alpaca_home" if request.param == "file" else "system_keyring_home"
    return request.param, request.getfixturevalue(fixture)


@pytest.fixture
def ctx(audit_home: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ctx]:
    kind, home = audit_home
    dirs = _mkdirs(tmp_path, "child-tmp", "child-home", "child-runtime", "test-tmp")
    # the in-process parts (TUI, store reads) get a scanned temp dir too
    monkeypatch.setenv("TMPDIR", str(dirs["test-tmp"]))
    monkeypatch.setattr(tempfile, "tempdir", str(dirs["test-tmp"]))
    xdg = {f"XDG_{k}_HOME": str(dirs["child-home"] / k.lower()) for k in ("CONFIG", "CACHE", "DATA", "STATE")}
    env = subprocess_env({"ALPACA_TUI_HOME": str(home), "TMPDIR": str(dirs["child-tmp"]),
                          "HOME": str(dirs["child-home"]), "XDG_RUNTIME_DIR": str(dirs["child-runtime"]),
                          **xdg})
    for k in ("ALPACA_TUI_DEBUG", "ALPACA_TUI_EXEC_PROFILE"):
        env.pop(k, None)
    with Emulator() as emu, echo_server() as echo:
        c = Ctx(kind, tmp_path, home, emu, env, echo)
        if kind == "file":
            c.secrets["passphrase"] = TEST_PASSPHRASE
            c.allowed_files[Path(os.environ["ALPACA_TUI_PASSPHRASE_FILE"])] = frozenset({"passphrase"})
        try:
            yield c
        finally:
            _cleanup_store(c)


def _cleanup_store(c: Ctx) -> None:
    """Remove what is left in the store (the OS keyring outlives the test otherwise)."""
    from alpaca_tui.core.store import Store

    try:
        store = Store.open(c.home)
        for p in store.list_profiles():
            store.remove_profile(p.name)
    except Exception:  # the test already failed; do not mask its error
        pass


# -- the scenario -----------------------------------------------------------------------------


def endpoint_args(emu: Emulator, env: Env) -> list[str]:
    out = []
    for api, url in emu.endpoints_for(env).items():
        out += ["--endpoint", f"{api.value}={url}"]
    return out


def add_secret_profile(c: Ctx, name: str, env: Env, flow: Flow, key_id: str, secret: str,
                       *extra: str) -> subprocess.CompletedProcess[str]:
    c.emu.create_credential(env, flow, key_id=key_id, secret=secret)
    c.key_ids[name] = key_id
    c.secrets[f"secret:{name}"] = secret
    return c.run("profiles", "add", name, "--env", env.value, "--flow", flow.value, "--key-id", key_id,
                 "--secret-stdin", *endpoint_args(c.emu, env), *extra, stdin=secret + "\n")


def scenario_cli(c: Ctx) -> None:
    emu = c.emu
    # 1. profiles add, every flow. Distinctive secrets with characters that change under
    #    URL/JSON/HTML encoding, so every encoded form is a different needle.
    proc = add_secret_profile(c, "paper", Env.PAPER, Flow.LEGACY, "PK" + rnd(18, UPPER),
                              rnd(16) + "+/" + rnd(10) + "%&" + rnd(10))
    assert f"key {mask(c.key_ids['paper'])}" in proc.stdout  # the add output names the key masked
    add_secret_profile(c, "live", Env.LIVE, Flow.LEGACY, "AK" + rnd(18, UPPER), rnd(40), "--json")
    add_secret_profile(c, "bx", Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, "CK" + rnd(22, UPPER),
                       rnd(20) + '"\\ +=<&>' + rnd(37), "--access", "read-only", "--scope", "trading=rw")
    add_secret_profile(c, "bl", Env.BROKER_LIVE, Flow.CLIENT_SECRET, "CK" + rnd(22, UPPER),
                       rnd(30) + "é€/?" + rnd(30), "--expires", "30d")

    # profiles whose API hosts reflect every request (a debug endpoint, a chatty proxy): a key
    # ID + secret one, and an OAuth one (real token from AuthX, reflected by the broker host)
    c.key_ids["echo"], c.secrets["secret:echo"] = "PK" + rnd(18, UPPER), rnd(16) + '"\\/' + rnd(21)
    c.run("profiles", "add", "echo", "--env", "paper", "--flow", "legacy", "--key-id", c.key_ids["echo"],
          "--secret-stdin", "--endpoint", f"trading={c.echo}", "--endpoint", f"data={c.echo}",
          stdin=c.secrets["secret:echo"] + "\n")
    kid, secret = "CK" + rnd(22, UPPER), rnd(64)
    emu.create_credential(Env.BROKER_SANDBOX, Flow.CLIENT_SECRET, key_id=kid, secret=secret)
    c.key_ids["echo-oauth"], c.secrets["secret:echo-oauth"] = kid, secret
    c.run("profiles", "add", "echo-oauth", "--env", "broker-sandbox", "--flow", "client-secret",
          "--key-id", kid, "--secret-stdin",
          "--endpoint", f"auth={emu.endpoints_for(Env.BROKER_SANDBOX)[Api.AUTH]}",
          "--endpoint", f"broker={c.echo}", "--endpoint", f"data={c.echo}", stdin=secret + "\n")

    # private_key_jwt from a key file (the file is the user's: it may hold its key) ...
    file_pem = keys.generate_private_key("ES256")
    key_file = c.root / "imported-key.pem"
    key_file.write_text(file_pem)
    key_file.chmod(0o600)
    c.allowed_files[key_file] = frozenset({"key:jwt-file"})
    kid = "CK" + rnd(22, UPPER)
    emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, key_id=kid,
                          public_key=keys.public_key_pem(file_pem))
    c.key_ids["jwt-file"] = kid
    c.pems["key:jwt-file"] = file_pem
    proc = c.run("profiles", "add", "jwt-file", "--env", "broker-sandbox", "--flow", "private-key-jwt",
                 "--key-id", kid, "--private-key-file", str(key_file), "--json",
                 *endpoint_args(emu, Env.BROKER_SANDBOX))
    pub = json.loads(proc.stdout)["public_key"]
    assert pub["pem"] == keys.public_key_pem(file_pem)
    c.public_texts += [proc.stdout]
    c.outputs[-2].allow = frozenset({"key_id:jwt-file"})  # the JWK's kid is the client ID

    # ... and a generated one: the public key is printed to register with Alpaca.
    kid = "CK" + rnd(22, UPPER)
    emu.create_credential(Env.BROKER_SANDBOX, Flow.PRIVATE_KEY_JWT, key_id=kid)
    c.key_ids["jwt-gen"] = kid
    proc = c.run("profiles", "add", "jwt-gen", "--env", "broker-sandbox", "--flow", "private-key-jwt",
                 "--key-id", kid, "--generate-key", "--alg", "RS256", *endpoint_args(emu, Env.BROKER_SANDBOX))
    c.outputs[-2].allow = frozenset({"key_id:jwt-gen"})
    public_pem = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----\n", proc.stdout, re.S)
    assert public_pem and "PRIVATE" not in proc.stdout
    emu.register_public_key(kid, public_pem.group(0))
    c.public_texts += [proc.stdout]

    # The two backends share every output path but the store's: where a command has a text
    # and a JSON form, one backend runs one and the other the other (half the processes).
    js = ["--json"] if c.kind == "system" else []
    tx = ["--json"] if c.kind == "file" else []

    # 2. list / show: key IDs masked, no secret.
    proc = c.run("profiles", "list", *js)
    if js:
        doc = json.loads(proc.stdout)
        assert doc["backend"] == c.kind and len(doc["profiles"]) == len(c.key_ids)
        for p in doc["profiles"]:
            assert p["key_id_masked"] == mask(c.key_ids[p["name"]]) and MASK_RE.match(p["key_id_masked"])
    else:
        for name, key_id in c.key_ids.items():
            assert re.search(rf"^{re.escape(name)}\s.*\s{re.escape(mask(key_id))}\s", proc.stdout, re.M), name
    proc = c.run("profiles", "show", "jwt-file", "--public-key", *js)
    c.outputs[-2].allow = frozenset({"key_id:jwt-file"})  # the JWK's kid
    c.public_texts += [proc.stdout]
    shown = json.loads(proc.stdout)["profile"]["key_id_masked"] if js else \
        re.search(r"^key ID\s+(\S+)$", proc.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert shown == mask(c.key_ids["jwt-file"]) and MASK_RE.match(shown)

    # 3. check, request (2xx answers that reflect the credential; a 403 forced past the access
    #    matrix), token, exec.
    c.run("check", "--all", *js)
    for name, path, fmt in (("echo", "/v2/account", tx), ("echo", "/v2/account", js),
                            ("echo-oauth", "/v1/accounts", js)):
        c.run("request", name, "GET", path, *fmt)  # the secret / token must come back masked
        c.outputs[-2].allow = frozenset({f"key_id:{name}"})  # the server may name the key ID
    c.run("request", "bx", "POST", "/v1/journals", "--data", '{"amount": "1"}', "--force", *js, code=1)
    proc = c.run("token", "bx", *tx, stdout_allow={"token:bx"})
    c.token_outs.append(("bx", proc.stdout))
    for name in ("paper", "bx" if c.kind == "file" else "jwt-file"):  # each OAuth flow on one backend
        proc = c.run("exec", name, "--", sys.executable, "-c", DUMP_CHILD)
        c.outputs.pop(-2)  # the child's dump: scanned variable by variable in check_exec_child
        c.exec_dumps.append((name, json.loads(proc.stdout)))

    # 4. rotate (a new key + secret on stdin), roll back; stage a generated key, register it,
    #    promote it with --pending and get a token with it.
    new_id, new_secret = "PK" + rnd(18, UPPER), rnd(40)
    emu.create_credential(Env.PAPER, Flow.LEGACY, key_id=new_id, secret=new_secret)
    c.secrets["secret:paper-rotated"] = new_secret
    c.key_ids["paper-rotated"] = new_id
    proc = c.run("rotate", "paper", "--key-id", new_id, "--secret-stdin", "--keep-old-for", "1h",
                 stdin=new_secret + "\n")
    assert f"new key {mask(new_id)} verified" in proc.stdout
    c.run("rotate", "paper", "--rollback", *js)
    proc = c.run("rotate", "jwt-gen", "--generate-key", "--json")
    c.outputs[-2].allow = frozenset({"key_id:jwt-gen"})
    staged = json.loads(proc.stdout)["public_key"]
    emu.register_public_key(c.key_ids["jwt-gen"], staged["pem"])
    c.public_texts += [proc.stdout]
    c.run("rotate", "jwt-gen", "--pending", *tx)
    proc = c.run("token", "jwt-gen", "--no-cache", *js, stdout_allow={"token:jwt-gen"})
    c.token_outs.append(("jwt-gen", proc.stdout))

    # 5. doctor.
    c.run("doctor", *js)

    # 6. failures: a revoked key; a revoked OAuth client with the debug traceback on.
    emu.revoke(c.key_ids["live"])
    c.run("check", "live", *tx, code=1)
    emu.revoke(c.key_ids["bl"])
    c.run("token", "bl", "--no-cache", code=1, env={"ALPACA_TUI_DEBUG": "1"})


async def scenario_tui(c: Ctx) -> dict[str, str]:
    """Render the app on the store the CLI filled; returns {shot: screen text}; SVGs to disk."""
    from textual.widgets import Input, TabbedContent

    from alpaca_tui.core.store import Store
    from alpaca_tui.tui.app import AlpacaTuiApp
    from alpaca_tui.tui.dialogs.confirm import ConfirmDialog
    from alpaca_tui.tui.screens.details import DetailsScreen
    from alpaca_tui.tui.screens.rotation import RotationScreen
    from alpaca_tui.tui.screens.tester import TesterScreen
    from alpaca_tui.tui.widgets.token_panel import TokenPanel
    from tests.tui.conftest import screen_text, wait_for

    out_dir = c.root / "svg"
    out_dir.mkdir()
    texts: dict[str, str] = {}
    app = AlpacaTuiApp(store=Store.open(c.home), offer_demo=False)
    async with app.run_test(size=(120, 36)) as pilot:
        async def shot(name: str) -> None:
            await pilot.pause()
            svg = app.export_screenshot(title=f"leak audit {name}")
            (out_dir / f"{name}.svg").write_text(svg)
            texts[name] = screen_text(app)

        await wait_for(pilot, lambda: app.engine is not None and app.profiles_loaded, what="engine")
        await shot("home")
        for name in ("paper", "bx", "jwt-gen"):
            app.open_details(name)
            await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
            if name != "paper":  # OAuth: the token panel counts down a real token
                panel = app.screen.query_one(TokenPanel)
                await wait_for(pilot, lambda panel=panel: panel.remaining() is not None, what="token")
            await shot(f"details-{name}")
            app.pop_screen()
        app.open_tester("bx", method="GET", path="/v1/accounts")
        await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="tester")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(app.request_history) == 1, what="answer")
        await shot("tester")
        await pilot.press("ctrl+o")  # copy as cURL: secrets as $ALPACA_* placeholders
        await pilot.pause()
        c.outputs.append(Output("clipboard (copy as cURL)", (app.clipboard or "").encode()))
        assert "curl" in (app.clipboard or "")
        app.pop_screen()
        # an answer that reflects the credential (body and headers) shows it masked
        app.open_tester("echo", method="GET", path="/v2/account")
        await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="tester")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(app.request_history) == 2, what="echo answer")
        await shot("tester-echo-body")
        app.screen.query_one("#resp-tabs", TabbedContent).active = "tab-headers"
        await shot("tester-echo-headers")
        for name in ("tester-echo-body", "tester-echo-headers"):  # the server may name the key ID
            c.allowed_files[out_dir / f"{name}.svg"] = frozenset({"key_id:echo"})
        app.pop_screen()
        # "cURL + secrets" puts the secret into the clipboard after a confirmation (sanctioned);
        # the status line that says so shows it masked.
        app.open_tester("paper", method="GET", path="/v2/account")
        await wait_for(pilot, lambda: isinstance(app.screen, TesterScreen), what="tester")
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: c.secrets["secret:paper"] in (app.clipboard or ""), what="copied")
        await shot("tester-curl-secrets")
        assert "copied with secrets" in texts["tester-curl-secrets"]
        c.outputs.append(Output("clipboard (cURL + secrets, confirmed)", app.clipboard.encode(),
                                frozenset({"secret:paper", "key_id:paper"})))
        app.pop_screen()
        # rotation from the keyboard: a new key ID and a pasted secret (masked input), verified
        # against the emulator and promoted
        new_id, new_secret = "PK" + rnd(18, UPPER), rnd(24) + "<tui>&" + rnd(10)
        c.emu.create_credential(Env.PAPER, Flow.LEGACY, key_id=new_id, secret=new_secret)
        c.key_ids["paper-tui"], c.secrets["secret:paper-tui"] = new_id, new_secret
        app.open_rotation("paper")
        await wait_for(pilot, lambda: isinstance(app.screen, RotationScreen), what="rotation")
        app.screen.query_one("#rot-key-id", Input).value = new_id
        app.screen.query_one("#rot-secret", Input).value = new_secret
        await shot("rotation-typed")
        c.allowed_files[out_dir / "rotation-typed.svg"] = frozenset({"key_id:paper-tui"})  # typed, not secret
        rot = app.screen
        kept = rot.can_rollback(app.profile("paper"))  # rotated before: an old key is still kept
        await pilot.press("ctrl+s")
        if kept:  # rotating again drops that old key: the screen asks first
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="rotate-again question")
            await pilot.press("y")
        await wait_for(pilot, lambda: "Rotated" in str(rot.query_one("#rot-outcome").render()),
                       timeout=20, what="rotated")
        await shot("rotation-done")
        # the typed key ID stays in its input field (not secret); the secret input is emptied
        c.allowed_files[out_dir / "rotation-done.svg"] = frozenset({"key_id:paper-tui"})
        assert f"active key {mask(new_id)}" in texts["rotation-done"]
        assert f"new key {mask(new_id)}" in texts["rotation-done"]
        assert not app.screen.query_one("#rot-secret", Input).value
    return texts


# -- the scan ---------------------------------------------------------------------------------


def all_needles(c: Ctx) -> list[Needle]:
    from alpaca_tui.core.store import Store

    # Every secret the store still holds (generated keys, staged and previous secrets) ...
    store = Store.open(c.home)
    for p in store.list_profiles():
        bundle = store.load_bundle(p.name)
        for i, s in enumerate(x for x in (bundle.active, bundle.pending, bundle.previous) if x is not None):
            if s.private_key_pem:
                c.pems.setdefault(f"key:{p.name}" if i == 0 else f"key:{p.name}#{i}", s.private_key_pem)
            if s.secret and s.secret not in c.secrets.values():
                c.secrets[f"secret:{p.name}#{i}"] = s.secret
    out: list[Needle] = []
    for group, value in c.secrets.items():
        out += needles(group, value, fragments=group != "passphrase")
    for group, pem in c.pems.items():
        out += key_needles(group, pem, c.public_texts)
    # ... every access token the emulator issued (CLI and TUI), by the profile it belongs to ...
    c.note_tokens()
    by_kid = {v: k for k, v in c.key_ids.items()}
    for tok, client_id in c.tokens.items():
        out += needles(f"token:{by_kid.get(client_id, client_id)}", tok)
    # ... and the full key IDs (not secret, but shown masked everywhere).
    for name, kid in c.key_ids.items():
        out.append(Needle(f"key_id:{name}", "plain", kid.encode()))
    return out


def scan(data: bytes, ndl: list[Needle], allow: frozenset[str] = frozenset()) -> list[str]:
    """One line per secret found in ``data``: its group and the forms that matched."""
    forms: dict[str, list[str]] = {}
    for n in ndl:
        if n.group not in allow and n.value in data:
            forms.setdefault(n.group, []).append(n.form)
    hits = [f"{group} ({', '.join(sorted(f)[:6])}{', ...' if len(f) > 6 else ''})"
            for group, f in sorted(forms.items())]
    if JWT_RE.search(data):
        hits.append("a JWT (client assertion?)")
    return hits


def svg_text(data: bytes) -> bytes:
    """The SVG's text as a reader sees it: entities decoded, non-breaking spaces as spaces."""
    text = re.sub(r"<[^>]+>", "", data.decode())
    return html.unescape(text).replace("\xa0", " ").encode()


def check_exec_child(c: Ctx, name: str, dump: dict[str, Any], ndl: list[Needle]) -> list[str]:
    """The intended variables hold exactly the intended credential; nothing else is secret."""
    from alpaca_tui.cli.exec_ import MANAGED_VARS

    env: dict[str, str] = dump["env"]
    found: list[str] = []
    if name in ("paper", "live"):
        intended = {"APCA_API_KEY_ID": f"key_id:{name}", "ALPACA_API_KEY": f"key_id:{name}",
                    "APCA_API_SECRET_KEY": f"secret:{name}", "ALPACA_SECRET_KEY": f"secret:{name}"}
        assert env["APCA_API_KEY_ID"] == env["ALPACA_API_KEY"] == c.key_ids[name]
        assert env["APCA_API_SECRET_KEY"] == env["ALPACA_SECRET_KEY"] == c.secrets[f"secret:{name}"]
    else:
        intended = {"APCA_API_OAUTH_TOKEN": f"token:{name}", "APCA_API_OAUTH": f"token:{name}"}
        token = env["APCA_API_OAUTH_TOKEN"]
        assert env["APCA_API_OAUTH"] == token
        assert c.emu.state.lookup_token(token) is not None
        assert c.emu.state.lookup_token(token).client_id == c.key_ids[name]  # type: ignore[union-attr]
        assert not {"APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY",
                    "ALPACA_SECRET_KEY"} & set(env)
    assert env["ALPACA_TUI_EXEC_PROFILE"] == name
    for var, value in env.items():
        allow = frozenset({intended[var]}) if var in intended else frozenset()
        for hit in scan(f"{var}={value}".encode(), ndl, allow):
            found.append(f"exec {name} child: ${var}: {hit}")
        if var not in MANAGED_VARS and var not in c.env:
            found.append(f"exec {name} child: unexpected variable ${var}")
    for hit in scan("\0".join(dump["argv"]).encode(), ndl):
        found.append(f"exec {name} child argv: {hit}")
    inherited = {fd: t for fd, t in dump["fds"].items() if fd not in ("0", "1", "2") and "/fd" not in t}
    if inherited:
        found.append(f"exec {name} child inherited file descriptors: {inherited}")
    return found


def check_token_stdout(c: Ctx, name: str, stdout: str) -> None:
    """``token``'s sanctioned stdout: exactly one token, issued to this profile's client."""
    text = stdout.strip()
    token = json.loads(text)["access_token"] if text.startswith("{") else text
    rec = c.emu.state.lookup_token(token)
    assert rec is not None and rec.client_id == c.key_ids[name], f"token {name}: not its own token"


def keyring_items(c: Ctx) -> list[Output]:
    """Labels and attributes of our Secret Service items (readable without unlocking)."""
    if c.kind != "system":
        return []
    import secretstorage

    from alpaca_tui.core.store.system import service_name

    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        items = list(collection.search_items({"service": service_name(c.home)}))
        assert items, "no keyring items found for this home: the metadata check would be vacuous"
        return [Output(f"keyring item {i} label/attributes",
                       json.dumps([it.get_label(), it.get_attributes()]).encode())
                for i, it in enumerate(items)]
    finally:
        conn.close()


def audit(c: Ctx) -> list[str]:
    ndl = all_needles(c)
    found: list[str] = []
    # files: everything under the test's temp dir (the home, the children's TMPDIR/HOME, SVGs)
    nfiles = 0
    for path in sorted(c.root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        nfiles += 1
        data = path.read_bytes()
        if path.suffix == ".svg":
            data += b"\n" + svg_text(data)
        for hit in scan(data, ndl, c.allowed_files.get(path, frozenset())):
            found.append(f"file {path.relative_to(c.root)}: {hit}")
    assert nfiles >= 8, "the scan saw too few files"
    assert (c.home / "index.json").is_file()
    assert (c.home / "secrets.enc").is_file() == (c.kind == "file")
    # outputs of every command, the clipboard, the keyring's metadata
    for out in [*c.outputs, *keyring_items(c)]:
        found += [f"{out.where}: {hit}" for hit in scan(out.data, ndl, out.allow)]
    for name, dump in c.exec_dumps:
        found += check_exec_child(c, name, dump, ndl)
    for name, stdout in c.token_outs:
        check_token_stdout(c, name, stdout)
    return found


def check_masks_in_tui(c: Ctx, texts: dict[str, str]) -> None:
    for name in ("paper", "bx", "jwt-gen"):
        assert mask(c.key_ids[name]) in texts["home"], f"home: no masked key for {name}"
        assert re.search(rf"Key ID\s+{re.escape(mask(c.key_ids[name]))}", texts[f"details-{name}"])
    assert "•••••• (v reveals)" in texts["details-bx"]
    assert "Access token" in texts["details-bx"]
    for m in re.findall(r"[A-Z0-9]{2,4}…[A-Za-z0-9]{2,4}", texts["home"]):
        assert MASK_RE.match(m)


async def test_no_secret_leaves_the_store(ctx: Ctx) -> None:
    from alpaca_tui.core.store import Store

    t0 = time.monotonic()
    scenario_cli(ctx)
    texts = await scenario_tui(ctx)
    # removing a profile deletes its secret and its cached token from the store, too
    assert Store.open(ctx.home).load_token("bx") is not None
    ctx.run("profiles", "remove", "bx", "--yes")
    store = Store.open(ctx.home)
    assert store.load_token("bx") is None and store._backend.get("bx") is None

    found = audit(ctx)
    assert not found, "secret material outside the secret store:\n" + "\n".join(found)
    check_masks_in_tui(ctx, texts)
    assert len({ctx.tokens[t] for t in ctx.tokens}) >= 4  # tokens of 4 clients were needles
    print(f"leak audit ({ctx.kind}): {len(ctx.timings)} commands, {len(texts)} screenshots, "
          f"{time.monotonic() - t0:.1f} s")
