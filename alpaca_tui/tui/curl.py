"""The tester's request as a cURL line, and its path + query split (no widgets here)."""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import parse_qsl, urlencode

from alpaca_tui.core.credentials import Profile
from alpaca_tui.core.environments import Api, resolve_endpoints


def split_path(path: str, query: str) -> tuple[str, dict[str, str]]:
    """'/v2/x?a=1' + 'b=2' -> ('/v2/x', {'a': '1', 'b': '2'})."""
    p, _, inline = path.strip().partition("?")
    params = dict(parse_qsl(inline, keep_blank_values=True))
    params.update(parse_qsl(query.strip().lstrip("?"), keep_blank_values=True))
    if not p.startswith("/"):
        p = "/" + p
    return p, params


# The variables ``alpaca-tui exec NAME`` sets (cli/exec_.py), so a copied line runs as it is:
#   alpaca-tui exec NAME -- sh -c '<the copied line>'
PLACEHOLDERS: dict[str, str] = {"key_id": "APCA_API_KEY_ID", "secret": "APCA_API_SECRET_KEY",
                                "token": "APCA_API_OAUTH_TOKEN"}


def curl_command(profile: Profile, api: Api, method: str, path: str, params: dict[str, str], body: Any,
                 *, key_id: str | None = None, secret: str | None = None, token: str | None = None) -> str:
    """A cURL line for the request. Without the secret arguments every secret is a placeholder
    for the variable ``alpaca-tui exec`` sets ($APCA_API_KEY_ID, $APCA_API_SECRET_KEY,
    $APCA_API_OAUTH_TOKEN: :data:`PLACEHOLDERS`)."""
    base = resolve_endpoints(profile.env, profile.endpoints)[api]
    url = base + path + (("?" + urlencode(params)) if params else "")
    parts = ["curl", "-sS", "-X", method, shlex.quote(url)]

    def arg(text: str, real: bool) -> str:
        # Real secrets are single-quoted for the shell (a '"', '$' or '`' in them stays literal);
        # placeholders are double-quoted so the shell expands them.
        return shlex.quote(text) if real else f'"{text}"'

    kid = key_id or f"${PLACEHOLDERS['key_id']}"
    sec = secret or f"${PLACEHOLDERS['secret']}"
    if profile.flow.is_oauth:
        bearer = token or f"${PLACEHOLDERS['token']}"
        parts += ["-H", arg(f"Authorization: Bearer {bearer}", token is not None)]
    elif profile.env.is_broker:
        parts += ["-u", arg(f"{kid}:{sec}", secret is not None)]
    else:
        parts += ["-H", arg(f"APCA-API-KEY-ID: {kid}", key_id is not None),
                  "-H", arg(f"APCA-API-SECRET-KEY: {sec}", secret is not None)]
    if body is not None:
        parts += ["-H", "'Content-Type: application/json'", "--data", shlex.quote(json.dumps(body))]
    return " ".join(parts)


__all__ = ["PLACEHOLDERS", "curl_command", "split_path"]
