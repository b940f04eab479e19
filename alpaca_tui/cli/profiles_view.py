"""``alpaca-tui profiles list`` and ``profiles show`` (the index; ``show --public-key`` reads the
secret). Usage and the JSON schema: :mod:`alpaca_tui.cli.profiles`."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from alpaca_tui.core.errors import EXIT_OK, UsageError


def expiry_text(profile: Any, now: datetime, *, short: bool = False) -> str:
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


def list_profiles(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, print_json, profile_json, store_role
    from alpaca_tui.core.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    store = open_store()
    profiles = store.list_profiles()
    role = store_role(store)
    if args.json:
        doc: dict[str, Any] = {"backend": store.backend_kind,
                               "profiles": [profile_json(p, now) for p in profiles]}
        if role is not None:
            doc["role"] = role
        print_json(doc)
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
                     expiry_text(p, now, short=True), _verified_text(p, now)])
    print(_table(rows))
    viewer = "; this token is a viewer: it sees every profile and uses none" if role == "viewer" else ""
    print(f"{len(profiles)} profile(s); secrets in the {store.backend_label}{viewer}")
    return EXIT_OK


def _public_key(store: Any, profile: Any) -> dict[str, Any]:
    from alpaca_tui.cli.profiles import _public_key_info
    from alpaca_tui.core.credentials import Flow
    from alpaca_tui.core.store.access import Action

    if profile.flow is not Flow.PRIVATE_KEY_JWT:
        raise UsageError(f"profile {profile.name!r} uses {profile.flow.value}; only private-key-jwt "
                         "profiles have a public key")
    store.require(Action.REVEAL, profile.name)
    bundle = store.load_bundle(profile.name)
    if not bundle.active.private_key_pem:
        raise UsageError(f"profile {profile.name!r} has no private key in the secret store")
    return _public_key_info(bundle.active.private_key_pem, bundle.active.key_id)


def show_profile(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.common import open_store, print_json, profile_json, secret_version
    from alpaca_tui.core.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    store = open_store()
    profile = store.get_profile(args.name)
    pub = _public_key(store, profile) if args.public_key else None
    version, version_text = secret_version(store, profile.name)
    if args.json:
        out: dict[str, Any] = {"backend": store.backend_kind, "profile": profile_json(profile, now)}
        if version_text:
            out["secret_version"] = version
        if pub is not None:
            out["public_key"] = pub
        print_json(out)
        return EXIT_OK
    lines = _show_lines(profile, now)
    lines.append(("secret store", store.backend_label))
    if version_text:
        lines.append(("secret version", version_text))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"{k.ljust(width)}  {v}")
    if profile.env.is_broker and profile.access.preset_name == "custom":
        print("scopes:")
        for scope, level in profile.access.levels.items():
            print(f"  {scope.label.ljust(12)} {level.label}")
    if pub is not None:
        from alpaca_tui.cli.profiles import _print_public_key

        _print_public_key(pub, profile.key_id_masked)
    return EXIT_OK


def _show_lines(profile: Any, now: datetime) -> list[tuple[str, str]]:
    from alpaca_tui.core.environments import resolve_endpoints

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
        ("expires", f"{ts(profile.expires_at)}, {expiry_text(profile, now)}" if profile.expires_at
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
    return lines
