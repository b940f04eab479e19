"""``alpaca-tui rotate``: replace a profile's secret with overlap, verification and rollback.

Usage::

    alpaca-tui rotate NAME [--key-id NEW] --secret-stdin        # legacy / client-secret
    alpaca-tui rotate NAME --private-key-file PEM [--key-id NEW] # private-key-jwt, key already registered
    alpaca-tui rotate NAME --generate-key [--alg ES256|RS256]    # private-key-jwt: stage a new key pair,
                                                                 # print its public key to register
    alpaca-tui rotate NAME --pending                             # verify + promote the staged secret
    alpaca-tui rotate NAME --rollback                            # make the previous secret active again
    alpaca-tui rotate NAME --retire-now                          # drop the previous secret now
    common: [--keep-old-for DURATION] [--expires never|1w|30d|90d|6m|1y|YYYY-MM-DD] [--json]

Rotation: the new secret is stored as *pending*, verified live against the profile's
endpoints (token exchange for OAuth + one cheap GET; up to 5 attempts with backoff, since
a new key can take a moment to propagate), then promoted: the old secret becomes the
*previous* one, kept for rollback for ``--keep-old-for`` (default 24h; ``0`` drops it at
once), and the cached access token is cleared. When verification fails nothing changes:
the old secret stays active and the pending one is discarded. The previous secret is
dropped automatically the first time the profile is used after its retirement time.
``--key-id`` defaults to the current key ID (a regenerated secret for the same client).
``--expires`` sets the new credential's expiry (default: keep the current one unless it
has passed). Secrets come from stdin or a hidden prompt, never from arguments.

Exit codes: 0 done (rotated, staged, rolled back, retired); 1 verification failed (old
secret still active) or store/network failure; 2 usage error (wrong options for the
profile's flow, nothing to roll back, bad duration/PEM).

JSON (``--json``; stable, keys only ever added)::

    {"action": "rotate"|"stage"|"rollback"|"retire", "profile": str, "ok": bool, "message": str,
     "key_id_masked": str, "previous_key_id_masked": str|null, "rotated_at": ISO|null,
     "previous_retire_at": ISO|null, "attempts": int,
     "verification": [CHECK_RESULT], "public_key": {...}|null}
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rotate", help="rotate a secret: verify, promote, keep the old for rollback",
                              description="Rotate a credential: new secret -> verify -> promote; the old one "
                                          "is kept for rollback until it retires.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--key-id", help="the new key ID / client ID (default: unchanged)")
    p.add_argument("--secret-stdin", action="store_true", help="read the new secret (one line) from stdin")
    p.add_argument("--generate-key", action="store_true",
                   help="private-key-jwt: generate a new key pair, stage it and print the public key")
    p.add_argument("--private-key-file", metavar="PEM", help="private-key-jwt: the new (registered) key")
    p.add_argument("--alg", help="ES256 (default) | RS256 with --generate-key")
    p.add_argument("--pending", action="store_true", help="verify and promote the staged pending secret")
    p.add_argument("--rollback", action="store_true", help="make the previous secret active again")
    p.add_argument("--retire-now", action="store_true", help="drop the previous secret now (no rollback)")
    p.add_argument("--keep-old-for", default="24h", metavar="DURATION",
                   help="keep the old secret for rollback this long (e.g. 1h, 24h, 7d; 0 = drop now)")
    p.add_argument("--expires", help="the new credential's expiry: never|1w|30d|90d|6m|1y|YYYY-MM-DD")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _print_result(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    from alpaca_tui.cli.common import print_json

    if as_json:
        print_json(data)
    else:
        for line in lines:
            print(line)


def run(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.enginecli import make_engine, open_cli_store, parse_duration, run_engine
    from alpaca_tui.core.clock import SYSTEM_CLOCK
    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.errors import UsageError
    from alpaca_tui.core.expiry import parse_expiry
    from alpaca_tui.core.store.access import Action

    actions = [a for a in ("rollback", "retire_now", "pending") if getattr(args, a)]
    material = bool(args.secret_stdin or args.generate_key or args.private_key_file)
    if len(actions) + (1 if material else 0) > 1:
        raise UsageError("choose one of: new secret material, --pending, --rollback, --retire-now")
    keep = parse_duration(args.keep_old_for)
    expires: Any = "keep"
    if args.expires is not None:
        expires = parse_expiry(args.expires, SYSTEM_CLOCK.now())
    if args.alg and not args.generate_key:
        raise UsageError("--alg goes with --generate-key")

    store = open_cli_store()
    profile = store.get_profile(args.name)
    store.require(Action.ROTATE, profile.name)
    engine = make_engine(store)
    if args.rollback:
        return _rollback(engine, args)
    if args.retire_now:
        done = run_engine(engine, engine.retire(args.name))
        msg = "dropped the previous secret" if done else "there was no previous secret to drop"
        _print_result({"action": "retire", "profile": args.name, "ok": True, "message": msg}, args.json,
                      [f"{args.name}: {msg}"])
        return EXIT_OK
    if args.pending:
        return _rotate(engine, args, None, keep, expires)
    if not material:
        what = ("--generate-key or --private-key-file PEM" if profile.flow is Flow.PRIVATE_KEY_JWT
                else "--secret-stdin (and --key-id NEW for a new key)")
        raise UsageError(f"give the new secret material: {what}; or --pending/--rollback/--retire-now")
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        if args.secret_stdin:
            raise UsageError(f"{profile.name!r} uses private_key_jwt: use --generate-key or "
                             "--private-key-file")
    elif args.generate_key or args.private_key_file:
        raise UsageError(f"--generate-key/--private-key-file are for private-key-jwt profiles; "
                         f"{profile.name!r} uses {profile.flow.value} (--secret-stdin)")
    new = _new_secret(store, profile, args)
    if args.generate_key:
        return _stage(engine, args, new)
    return _rotate(engine, args, new, keep, expires)


def _new_secret(store: Any, profile: Any, args: argparse.Namespace) -> Any:
    from alpaca_tui.cli.common import read_secret
    from alpaca_tui.core import keys
    from alpaca_tui.core.credentials import Flow, Secret, validate_key_id, validate_secret_for
    from alpaca_tui.core.redact import mask

    current = store.load_bundle(profile.name).active
    key_id = validate_key_id(args.key_id) if args.key_id else current.key_id
    if profile.flow is Flow.PRIVATE_KEY_JWT:
        if args.private_key_file:
            from alpaca_tui.cli.profiles import _read_pem_file

            pem = _read_pem_file(args.private_key_file)
            _key, alg = keys.load_private_key(pem)
        else:
            alg = keys.parse_alg(args.alg or "ES256")
            pem = keys.generate_private_key(alg)
        return Secret(key_id=key_id, private_key_pem=pem, alg=alg)
    label = "new API secret" if profile.flow is Flow.LEGACY else "new OAuth client secret"
    value = validate_secret_for(profile.flow, read_secret(args.secret_stdin,
                                                          f"{label} for {profile.name} ({mask(key_id)}): "))
    return Secret(key_id=key_id, secret=value)


def _stage(engine: Any, args: argparse.Namespace, new: Any) -> int:
    from alpaca_tui.cli.enginecli import run_engine
    from alpaca_tui.cli.profiles import _public_key_info
    from alpaca_tui.core.redact import mask

    run_engine(engine, engine.stage(args.name, new))
    pub = _public_key_info(new.private_key_pem, new.key_id)
    msg = (f"staged a new {new.alg} key for {args.name!r}; register its public key with Alpaca for client "
           f"{mask(new.key_id)}, then run: alpaca-tui rotate {args.name} --pending")
    lines = [msg, pub["pem"].rstrip("\n"), "JWK:", _json(pub["jwk"])]
    _print_result({"action": "stage", "profile": args.name, "ok": True, "message": msg,
                   "key_id_masked": mask(new.key_id), "public_key": pub}, args.json, lines)
    return EXIT_OK


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2)


def _rotate(engine: Any, args: argparse.Namespace, new: Any, keep: Any, expires: Any) -> int:
    import sys

    from alpaca_tui.cli.enginecli import fmt_ms, run_engine
    from alpaca_tui.core.engine import RotationError

    try:
        if new is None:
            coro = engine.rotate_pending(args.name, keep_old_for=keep, expires_at=expires)
        else:
            coro = engine.rotate(args.name, new, keep_old_for=keep, expires_at=expires)
        result = run_engine(engine, coro)
    except RotationError as exc:
        if args.json:
            _print_result({"action": "rotate", **exc.result.to_dict()}, True, [])
        else:
            print(f"alpaca-tui: error: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    checks = ", ".join(f"{c.api.value} {c.status or ''} {fmt_ms(c.latency_ms)}".replace("  ", " ")
                       for c in result.verification)
    lines = [f"rotated {args.name}: new key {result.key_id_masked} verified ({checks}) and active"]
    if result.previous_retire_at is not None:
        lines.append(f"old key {result.previous_key_id_masked} kept for rollback until "
                     f"{result.previous_retire_at:%Y-%m-%d %H:%M} UTC "
                     f"(alpaca-tui rotate {args.name} --rollback)")
    else:
        lines.append("old key dropped (no rollback)")
    _print_result({"action": "rotate", **result.to_dict()}, args.json, lines)
    return EXIT_OK


def _rollback(engine: Any, args: argparse.Namespace) -> int:
    from alpaca_tui.cli.enginecli import run_engine

    async def go() -> Any:
        await engine.rollback(args.name)
        return await engine.profile(args.name)

    profile = run_engine(engine, go())
    retire = profile.previous_retire_at
    msg = (f"rolled back {args.name}: key {profile.key_id_masked} is active again"
           + (f"; the newer key is kept until {retire:%Y-%m-%d %H:%M} UTC" if retire else ""))
    _print_result({"action": "rollback", "profile": args.name, "ok": True, "message": msg,
                   "key_id_masked": profile.key_id_masked,
                   "previous_retire_at": retire.isoformat() if retire else None}, args.json, [msg])
    return EXIT_OK
