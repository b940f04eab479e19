"""``alpaca-tui profiles``: add, list, show and remove credential profiles.

Usage::

    alpaca-tui profiles add NAME --env ENV --flow FLOW --key-id ID [--secret-stdin]
            [--private-key-file PEM | --generate-key [--alg ES256|RS256]]
            [--expires never|1w|30d|90d|6m|1y|YYYY-MM-DD]
            [--access read-only|full|custom] [--scope SCOPE=rw|ro|none ...]
            [--endpoint trading|data|broker|auth=URL ...] [--json]
    alpaca-tui profiles list [--json]
    alpaca-tui profiles show NAME [--json] [--public-key]
    alpaca-tui profiles remove NAME [--yes]

Secrets never come from the command line. ``legacy`` and ``client-secret`` read the
secret from stdin with ``--secret-stdin`` (one line; the trailing newline is stripped)
or from a hidden prompt on the terminal when stdin is a TTY. ``private-key-jwt`` takes
``--private-key-file`` (unencrypted PEM: EC P-256 -> ES256, RSA >= 2048 -> RS256) or
``--generate-key``, which creates a key pair, keeps the private key only in the secret
store and prints the public key (PEM and JWK, ``kid`` = the client ID) to register with
Alpaca. ``show --public-key`` prints it again.

``--access``/``--scope`` set the broker credential's access matrix (10 scopes x
rw/ro/none; ``custom`` starts from no access); live and paper trading keys always have
full access, so those options are refused for them. ``--endpoint`` overrides a base URL
(proxies, the local emulator); plain http:// is accepted for loopback only.

Exit codes: 0 ok; 1 store failure (keyring unavailable, wrong passphrase, I/O);
2 usage error (bad name/env/flow/scope/level/date/URL/PEM, empty secret, duplicate or
unknown profile, no secret source). Errors are one line on stderr; key-ID shape
warnings are printed as ``warning: ...`` on stderr and do not block.

JSON (``--json``; stable, keys only ever added)::

    profiles list --json   -> {"backend": "system"|"file",
                               "profiles": [PROFILE, ...]}          # sorted by name
    profiles show --json   -> {"backend": ..., "profile": PROFILE,
                               "public_key": PUBLIC_KEY}            # only with --public-key
    profiles add --json    -> {"backend": ..., "profile": PROFILE, "warnings": [str, ...],
                               "public_key": PUBLIC_KEY | null}     # set for private-key-jwt
    PROFILE    = Profile.to_dict() + {"expiry_state": "ok"|"expiring"|"expired"}:
                 name, env, flow, key_id_masked, access {scope: rw|ro|none}, access_preset,
                 expires_at, created_at, rotated_at, last_verified_at (ISO-8601 or null),
                 last_check_ok, last_check_error, endpoints {api: url}, alg,
                 public_key_fingerprint, rotation_state, previous_retire_at,
                 pending_key_id_masked, note
    PUBLIC_KEY = {"alg": "ES256"|"RS256", "pem": str, "jwk": {...}, "fingerprint": str}

``profiles list`` reads only the index: it never touches a secret or asks for a passphrase.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("profiles", help="add, list, show and remove credential profiles",
                              description="Manage credential profiles (secrets live in the secret store).")
    p.set_defaults(func=run, action=None, _profiles_parser=p)
    sub = p.add_subparsers(dest="action", metavar="ACTION")

    add = sub.add_parser("add", help="add a credential profile (secret from stdin, a prompt or a key file)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--env", required=True, help="live | paper | broker-live | broker-sandbox")
    add.add_argument("--flow", required=True, help="legacy | client-secret | private-key-jwt")
    add.add_argument("--key-id", required=True, help="API key ID or OAuth client ID (not secret)")
    add.add_argument("--secret-stdin", action="store_true",
                     help="read the secret (one line) from stdin; never pass secrets as arguments")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--private-key-file", metavar="PEM", help="private_key_jwt: unencrypted PEM private key")
    key.add_argument("--generate-key", action="store_true",
                     help="private_key_jwt: generate a key pair and print the public key to register")
    add.add_argument("--alg", help="ES256 (default) | RS256 for --generate-key")
    add.add_argument("--expires", default="never", help="never | 1w | 30d | 90d | 6m | 1y | YYYY-MM-DD")
    add.add_argument("--access", help="broker access preset: read-only | full | custom")
    add.add_argument("--scope", action="append", default=[], metavar="SCOPE=LEVEL",
                     help="broker scope level, repeatable: e.g. funding=none trading=rw data=ro")
    add.add_argument("--endpoint", action="append", default=[], metavar="API=URL",
                     help="override a base URL: trading|data|broker|auth=URL (repeatable)")
    add.add_argument("--note", help="free-text note shown in the UI (not secret)")
    add.add_argument("--json", action="store_true", help="machine-readable output")

    ls = sub.add_parser("list", help="list profiles (never reads secrets)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    show = sub.add_parser("show", help="show one profile")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--public-key", action="store_true",
                      help="private_key_jwt: print the public key (PEM and JWK) to register with Alpaca")

    rm = sub.add_parser("remove", help="remove a profile and its secret")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    action = args.action
    if action is None:
        args._profiles_parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = {"add": _add, "list": _list, "show": _show, "remove": _remove}[action]
    return handler(args)


# -- add ---------------------------------------------------------------------------------------


def _read_pem_file(path_str: str) -> str:
    from alpaca_tui.core.keys import MAX_PEM_BYTES
    from alpaca_tui.core.store.safefile import FileTooLargeError, UnsafeFileError, read_file

    path = Path(path_str).expanduser()
    try:  # a regular file (never a FIFO or device), opened without blocking, at most 64 KiB
        data = read_file(path, cap=MAX_PEM_BYTES, label=f"private key file {path}", in_home=False)
    except FileTooLargeError:
        raise UsageError(f"private key file {path} is too large to be a PEM key") from None
    except UnsafeFileError as exc:
        raise UsageError(exc.message) from None
    if data is None:
        raise UsageError(f"cannot read private key file {path}: No such file or directory")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a PEM file (binary content; DER keys are not supported)") from None


def _public_key_info(private_pem: str, client_id: str) -> dict[str, Any]:
    from alpaca_tui.core import keys

    jwk = keys.public_jwk(private_pem, kid=client_id)
    return {"alg": jwk["alg"], "pem": keys.public_key_pem(private_pem), "jwk": jwk,
            "fingerprint": keys.public_key_fingerprint(private_pem)}


def _print_public_key(info: dict[str, Any], client_id_masked: str) -> None:
    print(f"Public key ({info['alg']}, fingerprint {info['fingerprint']}) to register with Alpaca for "
          f"client {client_id_masked}:")
    print(info["pem"].rstrip("\n"))
    print("JWK:")
    print(json.dumps(info["jwk"], indent=2))


def _add(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, print_json, profile_json, read_secret, warn
    from alpaca_tui.core import keys
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.credentials import (
        Flow,
        Profile,
        Secret,
        SecretBundle,
        check_flow_env,
        key_id_warnings,
        parse_flow,
        validate_key_id,
        validate_name,
    )
    from alpaca_tui.core.environments import parse_endpoint_spec, parse_env, resolve_endpoints
    from alpaca_tui.core.expiry import parse_expiry
    from alpaca_tui.core.redact import mask
    from alpaca_tui.core.scopes import AccessMatrix

    clock = SYSTEM_CLOCK
    now = clock.now()
    # 1. Everything that needs no secret and no store, so bad input fails fast.
    name = validate_name(args.name)
    env = parse_env(args.env)
    flow = parse_flow(args.flow)
    check_flow_env(flow, env)
    key_id = validate_key_id(args.key_id)
    expires_at = parse_expiry(args.expires, now)
    if not env.is_broker and (args.scope or (args.access and AccessMatrix.preset(args.access).preset_name
                                             != "full")):
        raise UsageError(f"--access/--scope set a broker credential's access matrix; {env.value} trading "
                         "keys always have full access")
    access = AccessMatrix.build(args.access, args.scope)
    overrides = dict(parse_endpoint_spec(spec) for spec in args.endpoint)
    resolve_endpoints(env, overrides)  # each override must be an API this environment has
    if flow is Flow.PRIVATE_KEY_JWT:
        if args.secret_stdin:
            raise UsageError("private-key-jwt takes --private-key-file PEM or --generate-key, "
                             "not --secret-stdin")
        if not args.private_key_file and not args.generate_key:
            raise UsageError("private-key-jwt needs --private-key-file PEM or --generate-key")
        if args.alg and args.private_key_file is None and not args.generate_key:
            raise UsageError("--alg goes with --generate-key or --private-key-file")
    elif args.private_key_file or args.generate_key or args.alg:
        raise UsageError(f"--private-key-file/--generate-key/--alg are for --flow private-key-jwt, "
                         f"not {flow.value}")

    warnings = key_id_warnings(key_id, env)
    private_pem: str | None = None
    alg: str | None = None
    if args.private_key_file:
        private_pem = _read_pem_file(args.private_key_file)
        _key, alg = keys.load_private_key(private_pem, args.alg)
    elif args.generate_key:
        alg = keys.parse_alg(args.alg or "ES256")

    # 2. The store (may probe the keyring); fail on a duplicate before asking for a secret.
    store = open_store()
    if store.has_profile(name):
        raise UsageError(f"profile {name!r} already exists")

    # 3. The secret.
    secret_value: str | None = None
    if flow is Flow.PRIVATE_KEY_JWT:
        if private_pem is None:
            assert alg is not None
            private_pem = keys.generate_private_key(alg)
    else:
        label = "API secret" if flow is Flow.LEGACY else "OAuth client secret"
        secret_value = read_secret(args.secret_stdin, f"{label} for {name} ({mask(key_id)}): ")
        if flow is Flow.LEGACY and not env.is_broker and len(secret_value) != 40:
            # alpaca-auth.md §5: trading secrets seen so far are 40 characters (heuristic only).
            warnings.append(f"the secret is {len(secret_value)} characters; Alpaca trading secrets "
                            "are usually 40")
    for w in warnings:
        warn(w)

    profile = Profile(
        name=name, env=env, flow=flow, key_id_masked=mask(key_id), access=access, expires_at=expires_at,
        created_at=now, endpoints=overrides, alg=alg,
        public_key_fingerprint=keys.public_key_fingerprint(private_pem) if private_pem else None,
        note=args.note,
    )
    bundle = SecretBundle(active=Secret(key_id=key_id, secret=secret_value, private_key_pem=private_pem,
                                        alg=alg))
    store.add_profile(profile, bundle)

    pub = _public_key_info(private_pem, key_id) if private_pem else None
    if args.json:
        print_json({"backend": store.backend_kind, "profile": profile_json(profile, now),
                    "warnings": warnings, "public_key": pub})
        return EXIT_OK
    print(f"added profile {name!r}: {env.value}, {flow.label}, key {profile.key_id_masked}, "
          f"expires {_expiry_text(profile, now)}; secret stored in the {store.backend_label}")
    if pub is not None:
        if args.generate_key:
            print(f"generated an {alg} key pair; the private key is kept only in the secret store.")
        _print_public_key(pub, profile.key_id_masked)
    return EXIT_OK


# -- list / show -------------------------------------------------------------------------------


def _expiry_text(profile: Any, now: datetime, *, short: bool = False) -> str:
    from alpaca_tui.core.expiry import ExpiryState, describe_expiry, expiry_state, humanize_delta

    text = describe_expiry(profile.expires_at, now)
    if short and profile.expires_at is not None:  # one unit: "in 6d", "expired 2d ago"
        if profile.expires_at > now:
            text = f"in {humanize_delta(profile.expires_at - now).split(' ')[0]}"
        else:
            text = f"expired {humanize_delta(now - profile.expires_at).split(' ')[0]} ago"
    state = expiry_state(profile.expires_at, now)
    if state is ExpiryState.EXPIRING:
        text += " (expiring)"
    return text


def _verified_text(profile: Any, now: datetime) -> str:
    from alpaca_tui.core.expiry import humanize_delta

    if profile.last_verified_at is None:
        return "never"
    delta = now - profile.last_verified_at
    when = "just now" if delta.total_seconds() < 60 else f"{humanize_delta(delta).split(' ')[0]} ago"
    if profile.last_check_ok is False:
        return f"failed {when}"
    return f"ok {when}" if profile.last_check_ok else when


def _access_text(profile: Any) -> str:
    return str(profile.access.summary()) if profile.env.is_broker else "full (trading)"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, print_json, profile_json
    from alpaca_tui.core.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    store = open_store()
    profiles = store.list_profiles()
    if args.json:
        print_json({"backend": store.backend_kind, "profiles": [profile_json(p, now) for p in profiles]})
        return EXIT_OK
    if not profiles:
        print("no profiles yet; add one with: alpaca-tui profiles add NAME --env paper --flow legacy "
              "--key-id ID --secret-stdin")
        return EXIT_OK
    rows = [["NAME", "ENV", "FLOW", "KEY ID", "ACCESS", "EXPIRES", "VERIFIED"]]
    for p in profiles:
        access = _access_text(p)
        if len(access) > 20:
            access = access[:19] + "…"
        rows.append([p.name, p.env.value, p.flow.value, p.key_id_masked, access,
                     _expiry_text(p, now, short=True), _verified_text(p, now)])
    print(_table(rows))
    print(f"{len(profiles)} profile(s); secrets in the {store.backend_label}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, print_json, profile_json
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.environments import resolve_endpoints

    now = SYSTEM_CLOCK.now()
    store = open_store()
    profile = store.get_profile(args.name)
    pub: dict[str, Any] | None = None
    if args.public_key:
        if profile.flow is not Flow.PRIVATE_KEY_JWT:
            raise UsageError(f"profile {profile.name!r} uses {profile.flow.value}; only private-key-jwt "
                             "profiles have a public key")
        bundle = store.load_bundle(profile.name)
        if not bundle.active.private_key_pem:
            raise UsageError(f"profile {profile.name!r} has no private key in the secret store")
        pub = _public_key_info(bundle.active.private_key_pem, bundle.active.key_id)
    if args.json:
        out: dict[str, Any] = {"backend": store.backend_kind, "profile": profile_json(profile, now)}
        if pub is not None:
            out["public_key"] = pub
        print_json(out)
        return EXIT_OK

    def ts(dt: datetime | None) -> str:
        return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "-"

    custom = profile.env.is_broker and profile.access.preset_name == "custom"
    lines = [
        ("name", profile.name),
        ("environment", f"{profile.env.value} ({profile.env.label}"
                        f"{', real money' if profile.env.is_live else ''})"),
        ("flow", f"{profile.flow.value} ({profile.flow.label})"),
        ("key ID", profile.key_id_masked),
        ("access", "custom (see scopes below)" if custom else _access_text(profile)),
        ("expires", f"{ts(profile.expires_at)}, {_expiry_text(profile, now)}" if profile.expires_at
         else "never"),
        ("created", ts(profile.created_at)),
        ("rotated", ts(profile.rotated_at)),
        ("last check", _verified_text(profile, now)
         + (f": {profile.last_check_error}" if profile.last_check_error else "")),
    ]
    if profile.alg:
        lines.append(("algorithm", profile.alg))
    if profile.public_key_fingerprint:
        lines.append(("public key", f"sha256 {profile.public_key_fingerprint}"))
    if profile.rotation_state:
        lines.append(("rotation", profile.rotation_state
                      + (f", old secret kept until {ts(profile.previous_retire_at)}"
                         if profile.previous_retire_at else "")))
    for api, url in resolve_endpoints(profile.env, profile.endpoints).items():
        mark = " (override)" if api in profile.endpoints else ""
        lines.append((f"{api.value} URL", url + mark))
    if profile.note:
        lines.append(("note", profile.note))
    lines.append(("secret store", store.backend_label))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"{k.ljust(width)}  {v}")
    if custom:
        print("scopes:")
        for scope, level in profile.access.levels.items():
            print(f"  {scope.label.ljust(12)} {level.label}")
    if pub is not None:
        _print_public_key(pub, profile.key_id_masked)
    return EXIT_OK


# -- remove ------------------------------------------------------------------------------------


def _remove(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import confirm, have_tty, open_store

    store = open_store()
    profile = store.get_profile(args.name)
    if not args.yes:
        if not have_tty():
            raise UsageError(f"refusing to remove {profile.name!r} without confirmation: pass --yes")
        if not confirm(f"Remove profile {profile.name!r} ({profile.env.value}, {profile.key_id_masked}) "
                       "and delete its secret?"):
            print("not removed", file=sys.stderr)
            return EXIT_FAILURE
    store.remove_profile(profile.name)
    print(f"removed profile {profile.name!r} and its secret from the {store.backend_label}")
    return EXIT_OK
