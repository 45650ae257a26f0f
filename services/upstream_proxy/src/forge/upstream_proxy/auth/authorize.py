"""A user authorizing Forge at an upstream (OAuth authorization code + PKCE), proxy side.

The edge runs the browser side (`forge.edge.rest.upstream_oauth`) but cannot read a gateway's sealed
OAuth settings, so it asks here on `forge.upstream.<gateway>.oauth`:

- `upstream.oauth.authorize` `{redirect_uri, state, code_challenge}` → `{"location": url}`: the
  authorization server's authorize URL for the caller (who must be able to see the gateway);
- `upstream.oauth.callback` `{gateway_id, user, code, verifier, redirect_uri}` → the code traded
  at the token endpoint; the user's tokens are stored sealed (usertokens) and never returned.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from forge.core import operations
from forge.core.errors import (
    DeadlineExceededError,
    ForbiddenError,
    InvalidParamsError,
    MethodNotFoundError,
    NotFoundError,
    UpstreamTimeoutError,
)
from forge.proto import access
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope
from forge.proto.upstream import AuthorizeParams, CallbackParams
from forge.upstream_proxy.auth.credentials import Credentials
from forge.upstream_proxy.auth.grants import AuthorizationCode
from forge.upstream_proxy.gateways import Gateways

AUTHORIZE = "upstream.oauth.authorize"
CALLBACK = "upstream.oauth.callback"
REPLY_MARGIN_S = 0.1


def _source(gateway: Gateway, credentials: Credentials) -> AuthorizationCode:
    source = credentials.access(gateway).tokens
    if not isinstance(source, AuthorizationCode):
        raise InvalidParamsError(
            f"gateway {gateway.name!r} does not use per-user OAuth (authorization code)",
            {"auth_type": gateway.auth_type},
        )
    return source


async def oauth(
    envelope: Envelope, gateway_id: str, gateways: Gateways, credentials: Credentials
) -> bytes:
    """Serve one step of a user's authorization of `gateway_id`."""
    if envelope.method not in (AUTHORIZE, CALLBACK):
        raise MethodNotFoundError(f"unknown upstream OAuth step {envelope.method!r}")
    gateway = gateways.get(gateway_id) or await gateways.fetch(gateway_id, envelope.deadline)
    caller = envelope.principal
    if envelope.method == AUTHORIZE:
        p = operations.decode(AuthorizeParams, envelope.params)
        if not access.can_see(caller, gateway.owner, gateway.team_id, gateway.visibility):
            raise NotFoundError(f"gateway {gateway_id} not found")
        location = _source(gateway, credentials).location(
            redirect_uri=p.redirect_uri, state=p.state, code_challenge=p.code_challenge
        )
        return msgspec.json.encode({"location": location})
    # The callback's user comes from the edge's sealed state, which the authorize step made.
    q = operations.decode(CallbackParams, envelope.params)
    if q.gateway_id != gateway.id or q.user != caller.subject:
        raise ForbiddenError("the authorization does not belong to this gateway and user")
    source = _source(gateway, credentials)
    budget = envelope.deadline - time.time() - REPLY_MARGIN_S
    if budget <= 0:
        raise DeadlineExceededError("no time left to finish the authorization")
    try:
        async with asyncio.timeout(budget):
            token = await source.redeem(q.user, q.code, q.verifier, q.redirect_uri)
    except TimeoutError:
        raise UpstreamTimeoutError(
            f"the authorization server of gateway {gateway.name!r} did not answer in time"
        ) from None
    return msgspec.json.encode(
        {
            "authorized": True,
            "gateway_id": gateway.id,
            "gateway": gateway.name,
            "scope": token.scope,
        }
    )
