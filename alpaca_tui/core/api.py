"""API calls: one authenticated request to an Alpaca API, and the reading of its answer.

:class:`ApiClient` is what ``check``, the ``request`` command and the TUI's tester use
(through ``Engine.request``) and what the auth proxy builds on:

* :meth:`ApiClient.authorize` — the upstream auth headers for a credential right now
  (:class:`~alpaca_tui.core.auth.signing.UpstreamAuth`: a token refreshed ahead of expiry
  with single flight, or the key pair), and after a 401 one forced refresh shared by every
  caller refused the same token;
* :meth:`ApiClient.call` — validate the call, refuse locally what would be refused anyway
  (an expired credential; with ``preflight`` a scope the matrix forbids), sign, send over
  the :class:`~alpaca_tui.core.wire.Wire` (429 waits live there), on a 401 with a token
  refresh it once and resend, and map the answer (:func:`api_error`).

What a call is made of apart from sending it (its URL, a key pair's headers, the reading
of its answer) is :mod:`alpaca_tui.core.apicall`'s, shared with the one-shot ``check``.

:meth:`ApiClient.call` *returns* an :class:`~alpaca_tui.core.http.ApiResponse` for every
HTTP answer (``error`` set when it is not 2xx) and *raises* ApiError when there is no
answer to show: a network error or timeout, a refused token request, an expired credential
or a scope pre-flight refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alpaca_tui.core import deadline
from alpaca_tui.core.apicall import api_error, infer_api, read_answer, request_parts, resolve_call
from alpaca_tui.core.auth.signing import UpstreamAuth, api_headers
from alpaca_tui.core.clock import Clock
from alpaca_tui.core.environments import Api
from alpaca_tui.core.http import ApiError, ApiResponse
from alpaca_tui.core.pathscopes import normalize_path
from alpaca_tui.core.preflight import scope_preflight
from alpaca_tui.core.wire import Wire

if TYPE_CHECKING:
    from alpaca_tui.core.registry import Credential

__all__ = ["ApiClient", "api_error", "infer_api"]

REFRESH_AFTER_SHARE = 0.25   # a deferred refresh ahead needs at least this part of the deadline


class ApiClient:
    """Authenticated calls for the credentials of one engine."""

    def __init__(self, wire: Wire, clock: Clock) -> None:
        self._wire = wire
        self._clock = clock

    async def authorize(self, cred: Credential, *, refused: UpstreamAuth | None = None,
                        use_cache: bool | None = None, defer_refresh: bool = False) -> UpstreamAuth:
        """The auth headers to send for ``cred`` now. ``refused``: what the API just refused
        (a 401): a new token is fetched, once, unless another caller already replaced it.
        ``defer_refresh``: while the token is still valid but due for its refresh ahead of
        expiry, answer with it at once (``refresh_due``); the caller refreshes after its call."""
        profile = cred.profile
        if not profile.flow.is_oauth:
            secret = cred.secret
            pair = (secret.key_id, secret.secret or "")
            return UpstreamAuth(api_headers(profile, secret, None), key_pair=pair)
        broker = cred.tokens
        ahead = broker.ahead() if defer_refresh and refused is None else None
        if ahead is not None:
            return UpstreamAuth(api_headers(profile, cred.secret, ahead), ahead, broker.epoch,
                                refresh_due=True)
        tok = await broker.token(use_cache=use_cache, refused=refused.epoch if refused is not None else None)
        return UpstreamAuth(api_headers(profile, cred.secret, tok), tok, broker.epoch)

    async def call(self, cred: Credential, method: str, path: str, *, api: Api | None = None,
                   params: Mapping[str, str] | None = None, json_body: Any = None,
                   preflight: bool = False, use_cache: bool | None = None,
                   keep_body: int | None = None) -> ApiResponse:
        """One authenticated call (see the module doc for what is returned vs raised).

        An answer longer than the wire's body cap comes back ``truncated`` (its start in
        ``text``) with an ``error`` when its status was 2xx; ``keep_body`` holds at most that
        many bytes of any answer (a load check keeps statistics, not bodies)."""
        now = self._clock.now
        m, p, target, url = resolve_call(cred.profile, method, path, api, json_body, params, now=now())
        if preflight:
            refusal = scope_preflight(cred.profile, target, m, p)
            if refusal is not None:
                raise refusal
        oauth = cred.profile.flow.is_oauth
        attempts = 0
        auth: UpstreamAuth | None = None
        refreshed = False
        while True:
            auth = await self.authorize(cred, refused=auth if refreshed else None, use_cache=use_cache,
                                        defer_refresh=not refreshed)
            secrets = cred.secrets()
            build = request_parts(auth.headers, params, json_body)
            sent = await self._wire.send(m, url, build=build, secrets=secrets,
                                         what=f"{m} {normalize_path(p)}", profile=cred.name, keep=keep_body)
            attempts += sent.attempts
            if sent.response.status_code == 401 and oauth and not refreshed:
                refreshed = True  # one forced refresh (single flight across callers) and one retry
                continue
            answer = read_answer(cred.profile, cred.secret, target, m, p, url, sent, secrets,
                                 attempts=attempts, refreshed=refreshed, now=now())
            if auth.refresh_due:
                await self._refresh_after(cred, use_cache)
            return answer

    @staticmethod
    async def _refresh_after(cred: Credential, use_cache: bool | None) -> None:
        """The refresh ahead of expiry a call deferred (its token was still valid): after the
        answer, so a slow token endpoint never delays or starves the call itself, in what is
        left of the call's deadline. Too little left: the next call does it. A failure is the
        broker's to record (it backs off); the answer stands."""
        budget = deadline.current()
        if budget is not None and budget.left() < REFRESH_AFTER_SHARE * budget.seconds:
            return
        try:
            await cred.tokens.token(use_cache=use_cache, spend_all=True)
        except ApiError:
            pass
