"""Auth: how a credential becomes something a server accepts.

* :mod:`~alpaca_tui.core.auth.signing` — per-flow signing: APCA headers, HTTP Basic, the
  ``client_secret_post`` form, the RFC 7523 ``private_key_jwt`` assertion; ``UpstreamAuth``.
* :mod:`~alpaca_tui.core.auth.state` — ``BrokerState``: one token's explicit state, its
  phases and transitions (tables in the module doc); ``RefreshPolicy``.
* :mod:`~alpaca_tui.core.auth.broker` — ``TokenBroker``: one per credential; single flight,
  refresh ahead, backoff, cache, around the state's rules.
* :mod:`~alpaca_tui.core.auth.endpoint` — ``TokenEndpoint``: one token request and the
  reading of its answer (``token_error``).
* :mod:`~alpaca_tui.core.auth.cache` — ``TokenCache`` (the cross-process seam: load / save /
  clear) and ``StoreTokenCache`` over the secret store.
"""

from alpaca_tui.core.auth.broker import TokenBroker, TokenService, TokenSubject
from alpaca_tui.core.auth.cache import StoreTokenCache, TokenCache
from alpaca_tui.core.auth.endpoint import TokenEndpoint, token_error
from alpaca_tui.core.auth.signing import UpstreamAuth, api_headers, token_form
from alpaca_tui.core.auth.state import BrokerState, Phase, RefreshPolicy

__all__ = ["BrokerState", "Phase", "RefreshPolicy", "StoreTokenCache", "TokenBroker", "TokenCache",
           "TokenEndpoint", "TokenService", "TokenSubject", "UpstreamAuth", "api_headers", "token_error",
           "token_form"]
