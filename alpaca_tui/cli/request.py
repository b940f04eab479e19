"""``alpaca-tui request``: one authenticated call (or a quick load check) through the auth engine.

Usage::

    alpaca-tui request NAME METHOD PATH [--api trading|data|broker]
            [--data JSON | --data-file FILE] [--query K=V ...] [--json]
            [--repeat N] [--concurrency K] [--force] [--yes] [--no-cache] [--timeout S]

The host comes from the profile's environment (PATH is only a path, e.g. ``/v2/account``
or ``/v1/accounts?query=x``); ``--api`` picks the API (default: market-data paths such as
``/v2/stocks/...`` and ``/v1beta*/...`` go to the data host, everything else to the
profile's trading or broker API). ``--data-file -`` reads the JSON body from stdin.

Prints the status, latency, rate-limit headers, request id and the pretty-printed JSON
body (``--json``: one machine-readable object). ``--repeat N --concurrency K`` sends the
request N times, K at a time, through one engine (one token) and prints a summary:
count, ok/errors by status, p50/p95 latency and how many token requests were made.

Safety: a write (POST/PUT/PATCH/DELETE) to a live environment (live, broker-live) needs
``--yes`` or an interactive "y" on the terminal. For broker credentials the path is
checked against the credential's access matrix before sending (the scope guard:
``core/pathscopes.py`` over every operation of Alpaca's Broker API, ``docs/scopes.md``);
when the matrix forbids it, or it is a write to a path the Broker API does not have, nothing
is sent unless ``--force``; a read of an unknown path is sent with a warning.

Errors are one line on stderr; at a terminal (or with ``ALPACA_TUI_EXPLAIN=1``) a ``cause:``
and a ``fix:`` line follow it (``core/explain.py``).

Exit codes: 0 2xx answer(s); 1 non-2xx answer, network error, timeout, refused token or
expired credential; 2 usage error (bad method/path/JSON/option, unknown profile, live
write without --yes, call outside the access matrix without --force).

JSON (``--json``, single request; stable, keys only ever added)::

    {"profile", "api", "method", "url", "status", "ok", "latency_ms", "request_id",
     "attempts", "rate_limit": {"limit", "remaining", "reset"} | null,
     "error": {"category", "status", "request_id", "message", "server_message", "cause", "fix"} | null,
     "json": <body> | null, "text": str | null, "warnings": [str]}

With ``--repeat`` the JSON is ``{"count", "ok", "errors", "by_status": {status: n},
"by_category": {category: n}, "p50_ms", "p95_ms", "max_ms", "wall_ms", "token_requests"}``.
"""

from __future__ import annotations

import argparse
from typing import Any

from alpaca_tui.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY_BYTES = 1024 * 1024


def register(subparsers: Any) -> None:
    from alpaca_tui.cli.enginecli import positive_float, positive_int

    p = subparsers.add_parser("request", help="send one authenticated request (or a quick load check)",
                              description="Send an authenticated request with a profile and show the answer.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("method", metavar="METHOD", help="GET | POST | PUT | PATCH | DELETE")
    p.add_argument("path", metavar="PATH", help="path on the API host, e.g. /v2/account")
    p.add_argument("--api", help="trading | data | broker (default: from the path and the profile)")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--data", metavar="JSON", help="JSON request body")
    body.add_argument("--data-file", metavar="FILE", help="read the JSON body from FILE ('-' = stdin)")
    p.add_argument("--query", action="append", default=[], metavar="K=V", help="query parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="N", help="send N times (load check)")
    p.add_argument("--concurrency", type=positive_int, default=1, metavar="K",
                   help="with --repeat: K requests in flight at once (max 200)")
    p.add_argument("--force", action="store_true", help="send even if the access matrix forbids the path")
    p.add_argument("--yes", "-y", action="store_true", help="confirm a write to a live environment")
    p.add_argument("--no-cache", action="store_true", help="do not reuse a cached access token")
    p.add_argument("--timeout", type=positive_float, default=10.0, metavar="S",
                   help="per-request timeout in seconds (default 10)")
    p.set_defaults(func=run)


def _parse_body(args: argparse.Namespace) -> Any:
    import json
    import sys
    from pathlib import Path

    from alpaca_tui.core.errors import UsageError

    raw: str | None = None
    if args.data is not None:
        raw = args.data
    elif args.data_file is not None:
        try:
            if args.data_file == "-":
                raw = sys.stdin.read(MAX_BODY_BYTES + 1)
            else:
                with Path(args.data_file).expanduser().open(encoding="utf-8") as fh:
                    raw = fh.read(MAX_BODY_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"cannot read {args.data_file}: {reason}") from None
        if len(raw) > MAX_BODY_BYTES:
            raise UsageError("request body is larger than 1 MiB")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"the request body is not valid JSON: {exc.args[0] if exc.args else exc}") from None


def _parse_query(specs: list[str]) -> dict[str, str]:
    from alpaca_tui.core.errors import UsageError

    out: dict[str, str] = {}
    for spec in specs:
        k, sep, v = spec.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"invalid --query {spec!r}: expected KEY=VALUE")
        out[k.strip()] = v
    return out


def _confirm_live_write(profile: Any, method: str, path: str, yes: bool, count: int) -> None:
    from alpaca_tui.cli.common import confirm, have_tty
    from alpaca_tui.core.errors import UsageError

    if yes:
        return
    what = f"{method} {path} on {profile.env.label} with {profile.name!r}"
    if count > 1:
        what += f" ({count} times)"
    if have_tty():
        try:
            ok = confirm(f"This is a write to a LIVE environment (real money): {what}. Send?")
        except OSError:
            ok = False
        if ok:
            return
        raise UsageError(f"not sent: {what} was not confirmed")
    raise UsageError(f"refusing to send {what} — writes to a live environment need --yes "
                     "(or an interactive confirmation)")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return s[int(k)]


def run(args: argparse.Namespace) -> int:
    from alpaca_tui.cli.enginecli import make_engine, open_cli_store, run_engine
    from alpaca_tui.core.environments import parse_api
    from alpaca_tui.core.errors import UsageError

    method = args.method.strip().upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        raise UsageError(f"unsupported HTTP method {args.method!r} (GET, POST, PUT, PATCH, DELETE)")
    api = parse_api(args.api) if args.api else None
    if api is not None and api.value == "auth":
        raise UsageError("--api auth is the token endpoint; use: alpaca-tui token NAME")
    if args.concurrency > 200:
        raise UsageError("--concurrency is at most 200")
    if not args.path.startswith("/"):
        raise UsageError(f"PATH must start with '/', e.g. /v2/account (got {args.path[:60]!r})")
    path, _, query_string = args.path.partition("?")
    params: dict[str, str] = {}
    if query_string:
        from urllib.parse import parse_qsl

        params.update(parse_qsl(query_string, keep_blank_values=True))
    params.update(_parse_query(args.query))
    body = _parse_body(args)
    if body is not None and method in ("GET", "HEAD"):
        raise UsageError(f"{method} takes no request body")

    store = open_cli_store()
    profile = store.get_profile(args.name)
    if profile.env.is_live and method in WRITE_METHODS:
        _confirm_live_write(profile, method, path, args.yes, args.repeat)
    engine = make_engine(store, no_cache=args.no_cache, timeout=args.timeout)
    if args.repeat > 1:
        return run_engine(engine, _repeat(engine, args, method, path, api, params, body))
    return run_engine(engine, _single(engine, args, method, path, api, params, body))


async def _single(engine: Any, args: argparse.Namespace, method: str, path: str, api: Any,
                  params: dict[str, str], body: Any) -> int:
    import sys

    from alpaca_tui.cli.common import print_json
    from alpaca_tui.cli.hints import print_explanation
    from alpaca_tui.core.http import ApiError, ErrorCategory

    warnings = await _scope_guard(engine, args, method, path, api)
    if warnings is None:
        return EXIT_USAGE
    try:
        resp = await engine.request(args.name, method, path, api=api, params=params or None, json_body=body,
                                    preflight=True, force=args.force)
    except ApiError as exc:
        if exc.category is ErrorCategory.FORBIDDEN_SCOPE and exc.status is None:
            print(f"alpaca-tui: error: {exc.message}", file=sys.stderr)
            print_explanation(exc.explanation)
            return EXIT_USAGE
        raise
    if args.json:
        print_json({**resp.to_dict(), "warnings": warnings})
    else:
        _print_response(resp)
    if resp.error is not None:
        if not args.json:
            print(f"alpaca-tui: error: {resp.error.message}", file=sys.stderr)
            print_explanation(resp.error.explanation)
        return EXIT_FAILURE
    return EXIT_OK


async def _scope_guard(engine: Any, args: argparse.Namespace, method: str, path: str,
                       api: Any) -> list[str] | None:
    """The scope guard before sending (core/preflight.py): None when the call is refused (the
    error and its explanation are printed), else the warnings to show (printed on stderr)."""
    import sys

    from alpaca_tui.cli.common import warn
    from alpaca_tui.cli.hints import print_explanation
    from alpaca_tui.core.engine import infer_api
    from alpaca_tui.core.preflight import scope_check

    prof = await engine.profile(args.name)
    check = scope_check(prof, api or infer_api(prof.env, path), method, path)
    warnings = [check.warning] if check.warning else []
    if check.refusal is not None:
        if not args.force:
            print(f"alpaca-tui: error: {check.refusal.message}", file=sys.stderr)
            print_explanation(check.refusal.explanation)
            return None
        warnings.append(f"sent with --force: {method} {check.requirement.path} "
                        f"{check.requirement.describe()}")
    for w in warnings:
        warn(w)
    return warnings


def _print_response(resp: Any) -> None:
    import json

    from alpaca_tui.cli.enginecli import fmt_ms
    from alpaca_tui.core.http import epoch_to_utc

    reason = ""
    try:
        from http import HTTPStatus

        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = ""
    print(f"{resp.status} {reason}".rstrip() + f"  {fmt_ms(resp.latency_ms)}  {resp.method} {resp.url}")
    if resp.request_id:
        print(f"request-id: {resp.request_id}")
    rl = resp.rate_limit
    if rl is not None:
        reset_at = epoch_to_utc(rl.reset)
        reset = f", resets {reset_at:%H:%M:%S} UTC" if reset_at else ""
        print(f"rate limit: {rl.remaining if rl.remaining is not None else '?'}/"
              f"{rl.limit if rl.limit is not None else '?'} left{reset}")
    for k, v in resp.headers.items():
        if k.lower() == "retry-after":
            print(f"retry-after: {v}")
    if resp.attempts > 1:
        note = " (token refreshed after a 401)" if resp.token_refreshed else ""
        print(f"attempts: {resp.attempts}{note}")
    print()
    if resp.json is not None:
        print(json.dumps(resp.json, indent=2, ensure_ascii=False))
    elif resp.text:
        print(resp.text.rstrip("\n")[:20000])


async def _repeat(engine: Any, args: argparse.Namespace, method: str, path: str, api: Any,
                  params: dict[str, str], body: Any) -> int:
    import asyncio
    import sys
    import time
    from collections import Counter

    from alpaca_tui.cli.common import print_json
    from alpaca_tui.core.http import ApiError

    # Pre-flight once (also loads the credential) so a refusal does not happen N times.
    if await _scope_guard(engine, args, method, path, api) is None:
        return EXIT_USAGE
    sem = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    by_status: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    first_error: list[str] = []

    async def one() -> None:
        async with sem:
            try:
                resp = await engine.request(args.name, method, path, api=api, params=params or None,
                                            json_body=body, force=True)
            except ApiError as exc:
                by_status[str(exc.status) if exc.status else "error"] += 1
                by_category[exc.category.value] += 1
                if not first_error:
                    first_error.append(exc.message)
                return
            latencies.append(resp.latency_ms)
            by_status[str(resp.status)] += 1
            if resp.error is not None:
                by_category[resp.error.category.value] += 1
                if not first_error:
                    first_error.append(resp.error.message)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(args.repeat)))
    wall_ms = (time.perf_counter() - t0) * 1000
    state = engine.token_state(args.name)
    token_requests = state.token_requests if state is not None else 0
    ok_count = sum(n for s, n in by_status.items() if s.isdigit() and 200 <= int(s) < 300)
    summary = {
        "count": args.repeat, "ok": ok_count, "errors": args.repeat - ok_count,
        "by_status": dict(sorted(by_status.items())), "by_category": dict(sorted(by_category.items())),
        "p50_ms": _round(_percentile(latencies, 0.50)), "p95_ms": _round(_percentile(latencies, 0.95)),
        "max_ms": _round(max(latencies) if latencies else None), "wall_ms": round(wall_ms, 1),
        "token_requests": token_requests, "concurrency": args.concurrency,
    }
    if args.json:
        print_json(summary)
    else:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items()))
        print(f"{args.repeat} requests ({method} {path}), concurrency {args.concurrency}: "
              f"{ok_count} ok, {args.repeat - ok_count} failed  [{statuses}]")
        print(f"latency p50 {_fmt(summary['p50_ms'])}  p95 {_fmt(summary['p95_ms'])}  "
              f"max {_fmt(summary['max_ms'])}  wall {wall_ms:.0f} ms  "
              f"({args.repeat / (wall_ms / 1000):.0f} req/s)")
        print(f"token requests: {token_requests}")
        if by_category:
            print("errors: " + ", ".join(f"{c}: {n}" for c, n in sorted(by_category.items())))
        if first_error:
            print(f"alpaca-tui: error (first): {first_error[0]}", file=sys.stderr)
    return EXIT_OK if ok_count == args.repeat else EXIT_FAILURE


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.0f} ms"
