"""Upstream-proxy wire types: the params of its own operations (discovery, the steps of a
user's OAuth authorization) and the per-user tokens its replicas share. MCP calls it forwards
keep their params raw (forge.proto.envelope)."""

from __future__ import annotations

import msgspec

from forge.proto.catalog import Gateway


class DiscoverParams(msgspec.Struct, frozen=True):
    """`upstream.discover` (from the catalog registry): the gateway to handshake and list.

    The whole discovery works to the envelope's deadline; the handshake and each page of a list
    to `page_timeout_s` (and the gateway's own `timeout_s`), so a large catalog is limited by
    neither one page's deadline nor one message.

    `streamed`: the lists are sent as `forge.proto.catalog.DiscoverPage` requests on
    `forge.discover.<envelope id>` (one at a time, each answered once the caller has taken it:
    flow control), and the reply (a `DiscoverResult`) counts them; else the reply holds them
    (by claim check when large)."""

    gateway: Gateway
    page_timeout_s: float | None = None
    streamed: bool = False


class AuthorizeParams(msgspec.Struct, frozen=True):
    """`upstream.oauth.authorize` (from the edge): where the authorization server sends the
    user back, and the PKCE challenge."""

    redirect_uri: str
    state: str
    code_challenge: str


class CallbackParams(msgspec.Struct, frozen=True):
    """`upstream.oauth.callback` (from the edge): the code to redeem for `user`'s tokens."""

    gateway_id: str
    user: str
    code: str
    verifier: str
    redirect_uri: str


class UserToken(msgspec.Struct, frozen=True, omit_defaults=True):
    """One user's tokens for one gateway (per-user OAuth), as the upstream-proxy replicas share
    them: sealed, in the `forge-upstream-user-tokens` KV bucket."""

    access_token: str
    refresh_token: str | None = None
    # UNIX time shortly before it expires, when it is refreshed; None: once the upstream refuses it
    renew_at: float | None = None
    scope: str | None = None


# Published by the upstream-proxy on `forge.stream.<envelope id>` when the upstream closed a
# call's SSE stream before its answer (SSE polling, MCP 2025-11-25): the upstream-proxy resumes
# it with GET + Last-Event-ID, and the edge closes its own client's stream the same way (a
# resumable one; see docs/streams.md). Never sent to a client.
STREAM_PAUSED = b'{"forge":"paused"}'
