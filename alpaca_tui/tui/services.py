"""Glue between the TUI and core / emulator that has no Textual in it.

Everything here is blocking or heavy (key generation, emulator admin calls) and is called
from thread workers only. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from alpaca_tui.core.credentials import Flow, Profile, Secret
from alpaca_tui.core.environments import Api, Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.redact import mask, scrub
from alpaca_tui.core.scopes import AccessMatrix

if TYPE_CHECKING:
    from alpaca_tui.core.preflight import ScopeCheck
    from alpaca_tui.core.store import Store
    from alpaca_tui.core.store.index import IndexStamp
    from alpaca_tui.tui.session import DemoIssuer


def one_line(exc: BaseException) -> str:
    """A user-facing one-line message for an exception (scrubbed of credential-looking values)."""
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub(" ".join(str(msg).split()))


def open_store(ask: Callable[[bool, str | None], str]) -> Store:
    """Open the store for ``alpaca-tui`` (no arguments); while the encrypted file is locked, ask
    for the passphrase (``ask(creating, error)``) and retry on a wrong one."""
    from alpaca_tui.core.errors import WrongPassphraseError
    from alpaca_tui.core.store import Store

    store = Store.open()
    error: str | None = None
    while store.needs_unlock():
        passphrase = ask(store.creating_new_store(), error)
        try:
            store.unlock(passphrase)
        except WrongPassphraseError as exc:
            error = exc.message
    try:  # an index entry a killed rotation left behind its secret: repaired before it is listed
        store.reconcile(rotating_only=True)  # notes in store.repair_notes
    except Exception as exc:  # never keeps the app from starting; the profile says so when used
        del exc
    return store


# bytes: an index.json up to this size (some 1,200 profiles; 500 read in ~20 ms) is read on the
# UI thread before the first frame, which then shows the list. In a worker it only competed with
# that frame for the interpreter: 500 profiles came ~45 ms later, after a frame with none.
SMALL_INDEX = 1024 * 1024


def small_index(path: Path) -> bool:
    """Whether ``path`` is a local index file small enough to read on the UI thread, so that the
    first frame already shows the list (a bigger one is read in a worker)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size <= SMALL_INDEX


def default_index_path() -> Path:
    # from the modules that hold them: not the store's (its backends are imported with it)
    from alpaca_tui.core.store.fileindex import INDEX_NAME
    from alpaca_tui.core.store.registry import default_home

    return default_home().expanduser().absolute() / INDEX_NAME


@dataclass(frozen=True)
class Peek:
    """The default home's list read straight from its index file (:func:`peek_profiles`), with the
    file's stamp (``index.index_stamp``) taken *before* that read: when the store has opened, an
    unchanged stamp of the same file means the list is the store's own (a write during the read
    shows as a changed stamp), and the app does not read it again (``app._store_ready``)."""

    path: Path
    stamp: IndexStamp
    profiles: list[Profile]


def peek_profiles() -> Peek | None:
    """The default home's profiles read straight from its index file, before any secret backend
    is opened (keyring discovery, an agent, a passphrase): listing never needs a secret, so the
    list can show while those are dealt with. None when there is nothing to show early (no index
    file, an empty or unreadable one: the store opener reports those)."""
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.index import index_stamp, read_index
    from alpaca_tui.core.store.pin import read_pin

    path = default_index_path()
    home = path.parent
    if not path.is_file() or os.environ.get("ALPACA_TUI_KEYRING", "").strip().lower() == "vault":
        return None  # a shared store's index lives in Vault: the local file is not its list
    try:
        pin = read_pin(home)
        if pin is not None and pin.backend == "vault":
            return None
        stamp = index_stamp(path)  # before the read: a write landing during it changes the stamp
        doc = read_index(path)
    except AlpacaTuiError:
        return None
    profiles = [doc.profiles[k] for k in sorted(doc.profiles)]
    return Peek(path, stamp, profiles) if profiles and stamp is not None else None


class DefaultStoreOpener:
    """``alpaca-tui``'s store opener: the default home (:func:`open_store`); ``peek`` lists it
    from its index file before that (:func:`peek_profiles`)."""

    def __call__(self, ask: Callable[[bool, str | None], str]) -> Store:
        return open_store(ask)

    def peek(self) -> Peek | None:
        return peek_profiles()

    def peek_is_quick(self) -> bool:
        return small_index(default_index_path())


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str
    public_jwk: str
    alg: str
    fingerprint: str

    def __repr__(self) -> str:
        return f"KeyPair(alg={self.alg!r}, fingerprint={self.fingerprint[:16]!r}, private=<redacted>)"


def generate_keypair(alg: str = "ES256", *, kid: str | None = None) -> KeyPair:
    """A new private_key_jwt signing key pair (cryptography is imported here, not at startup)."""
    from alpaca_tui.core import keys

    private_pem = keys.generate_private_key(alg)
    return keypair_from_private(private_pem, kid=kid)


def public_jwk_text(pair: KeyPair, *, kid: str | None = None) -> str:
    """The public key as a JWK (JSON), with ``kid`` = the client ID when it is known."""
    if kid is None:
        return pair.public_jwk
    import json

    from alpaca_tui.core import keys

    return json.dumps(keys.public_jwk(pair.private_pem, kid=kid), indent=2)


def keypair_from_private(private_pem: str, *, kid: str | None = None) -> KeyPair:
    import json

    from alpaca_tui.core import keys

    alg = keys.private_key_alg(private_pem)
    return KeyPair(private_pem=private_pem, public_pem=keys.public_key_pem(private_pem),
                   public_jwk=json.dumps(keys.public_jwk(private_pem, kid=kid), indent=2), alg=alg,
                   fingerprint=keys.public_key_fingerprint(private_pem))


def demo_issue(demo: DemoIssuer, env: Env, flow: Flow, *, access: AccessMatrix, expires_at: datetime | None,
               keypair: KeyPair | None) -> Secret:
    """Really create a credential on the emulator (in-process ``Emulator`` or HTTP ``AdminClient``):
    it issues the key ID and secret, or registers the public key of ``keypair``."""
    if flow is Flow.PRIVATE_KEY_JWT and keypair is None:
        keypair = generate_keypair()
    issued = demo.create_credential(env, flow, access=access, expires_at=expires_at,
                                    public_key=keypair.public_pem if flow is Flow.PRIVATE_KEY_JWT and keypair
                                    else None)
    if flow is Flow.PRIVATE_KEY_JWT:
        assert keypair is not None
        return Secret(key_id=issued.key_id, private_key_pem=keypair.private_pem, alg=keypair.alg)
    return Secret(key_id=issued.key_id, secret=issued.secret)


def demo_endpoints(demo: DemoIssuer, env: Env) -> dict[Api, str]:
    return dict(demo.endpoints_for(env))


@dataclass(frozen=True)
class RotationInput:
    """What the rotation screen collected (None = keep / issue automatically)."""

    key_id: str | None = None
    secret: str | None = None
    keypair: KeyPair | None = None

    def __repr__(self) -> str:
        return f"RotationInput(key_id={mask(self.key_id)!r}, secret=<redacted>, keypair={self.keypair!r})"


def rotation_secret(store: Store, demo: DemoIssuer | None, profile: Profile, given: RotationInput) -> Secret:
    """The new secret for ``Engine.rotate``. Demo mode: a brand-new credential on the emulator
    (same environment, flow, access and expiry; the old one keeps working until retired), like
    creating a new key in the Alpaca dashboard. Otherwise what the user typed or generated; an
    empty key ID keeps the current one (read from the store)."""
    if demo is not None:
        return demo_issue(demo, profile.env, profile.flow, access=profile.access,
                          expires_at=profile.expires_at, keypair=given.keypair)
    key_id = given.key_id or store.load_bundle(profile.name).active.key_id
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        if given.keypair is None:
            raise UsageError("generate a new key pair first (ctrl+g) and register its public key")
        return Secret(key_id=key_id, private_key_pem=given.keypair.private_pem, alg=given.keypair.alg)
    if not given.secret:
        raise UsageError("type or paste the new secret")
    return Secret(key_id=key_id, secret=given.secret)


# -- engine results -> text -------------------------------------------------------------------
def fill_record(rec: Any, resp: Any) -> None:
    """What the tester keeps of an answer: at most ``safe.VIEW_LIMIT`` characters of its text
    (the parsed JSON only for an answer that short), so the history stays small."""
    from alpaca_tui.tui.safe import VIEW_LIMIT

    rec.status = resp.status
    rec.latency_ms = resp.latency_ms
    rec.headers = dict(resp.headers)
    rec.text = resp.text[: VIEW_LIMIT + 1]
    rec.truncated = bool(getattr(resp, "truncated", False))
    rec.json = resp.json if len(resp.text) <= VIEW_LIMIT else None
    rec.request_id = resp.request_id
    rec.rate_limit = resp.rate_limit
    rec.error = getattr(resp.error, "message", None) if resp.error is not None else None
    set_explanation(rec, resp.error)


def status_line(rec: Any) -> Text:
    """The tester's status: what the server said is cleaned (``tui/safe.py``)."""
    from alpaca_tui.tui.safe import plain

    t = Text()
    if rec.status is None:
        t.append("✗ not answered: ", style="bold red")
        t.append(plain(rec.error or "unknown error"), style="red")
        return t
    ok = 200 <= rec.status < 300
    truncated = bool(getattr(rec, "truncated", False))
    mark = "⚠" if ok and truncated else ("✓" if ok else "✗")
    t.append(f"{mark} {rec.status} {_reason(rec.status)}",
             style=("bold yellow" if truncated else "bold green") if ok else "bold red")
    if truncated:  # first, where a one-line status shows it: the body is only the answer's start
        t.append(" · truncated: larger than the body cap", style="bold yellow")
    if rec.latency_ms is not None:
        t.append(f" · {rec.latency_ms:.0f} ms")
    rl = rec.rate_limit
    if rl is not None and rl.remaining is not None:
        low = rl.limit is not None and rl.remaining < max(1, rl.limit // 10)
        t.append(" · rate limit ", style="dim")
        t.append(f"{rl.remaining}/{rl.limit if rl.limit is not None else '?'}",
                 style="bold red" if low else "bold yellow")
    if rec.request_id:
        t.append(f" · req {plain(rec.request_id)}", style="dim")
    if rec.error and (not ok or truncated):
        t.append(f"\n{plain(rec.error)}", style="red")
    return t


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def describe_check(results: list[Any], error: str | None) -> str:
    if error:
        return error
    if not results:
        return "nothing to check"
    parts = []
    for r in results:
        api = getattr(getattr(r, "api", None), "value", str(getattr(r, "api", "?")))
        if getattr(r, "skipped", False):
            parts.append(f"{api}: skipped")
        elif r.ok:
            ms = f" {r.latency_ms:.0f} ms" if r.latency_ms is not None else ""
            parts.append(f"{api}: {r.status} ok{ms}")
        else:
            parts.append(f"{api}: {r.message}")
    return " · ".join(parts)


def describe_rotation(result: Any, *, local: bool = False) -> list[str]:
    from alpaca_tui.tui.format import stamp

    lines = []
    checks = getattr(result, "verification", ()) or ()
    attempts = getattr(result, "attempts", 1)
    if checks:
        lines.append(f"verified the new key ({describe_check(list(checks), None)}; {attempts} attempt"
                     f"{'s' if attempts != 1 else ''})")
    lines.append(f"promoted: {result.key_id_masked} is active")
    if getattr(result, "previous_key_id_masked", None):
        retire = result.previous_retire_at
        when = f" until {stamp(retire, local=local)}" if retire else ""
        lines.append(f"old key {result.previous_key_id_masked} kept for rollback{when}")
    else:
        lines.append("old key dropped (no rollback)")
    return lines


def scope_guard(profile: Profile, api: Api, method: str, path: str) -> ScopeCheck:
    """The scope guard's verdict (core/preflight.py, the same as ``request`` and the proxy): a
    refusal to confirm (like ``--force``) and/or a warning to show; trading keys: neither."""
    from alpaca_tui.core.preflight import scope_check

    return scope_check(profile, api, method, path.split("?", 1)[0])


def refusal_title(check: ScopeCheck) -> str:
    from alpaca_tui.core.pathscopes import Kind

    kind = check.requirement.kind
    if kind is Kind.UNKNOWN:
        return "Not an operation of the Broker API"
    if kind is Kind.AMBIGUOUS:
        return "Ambiguous path"
    return "Outside this credential's access"


def explanation_text(cause: str | None, fix: str | None, warning: str | None = None) -> Text:
    """The tester's and the token panel's lines under an error: cause, fix (core/explain.py).
    They quote paths and server field names: cleaned (``tui/safe.py``)."""
    from alpaca_tui.tui.safe import plain

    t = Text()
    if warning:
        t.append("⚠ ", style="bold yellow")
        t.append(plain(scrub(warning)), style="yellow")
    for label, value in (("cause: ", cause), ("fix:   ", fix)):
        if value:
            if t:
                t.append("\n")
            t.append(label, style="bold")
            t.append(plain(value))
    return t


def set_explanation(rec: Any, error: Any) -> None:
    """Copy an ApiError's explanation (cause, fix) onto a RequestRecord."""
    ex = getattr(error, "explanation", None)
    rec.cause = getattr(ex, "cause", None)
    rec.fix = getattr(ex, "fix", None)


def token_value(token: Any) -> str:
    return str(token.value)


def mask_id(key_id: str) -> str:
    return mask(key_id)
