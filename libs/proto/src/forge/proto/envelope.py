"""The envelope: one request as it travels between Forge services over NATS."""

from __future__ import annotations

import msgspec


class Principal(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who asks: resolved once at the edge, trusted by every later hop."""

    subject: str
    email: str | None = None
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # roles bound globally
    scopes: tuple[str, ...] = ()
    token_id: str | None = None  # the JWT `jti` or the API token's id
    is_admin: bool = False  # holds platform_admin globally: every permission, sees every entity
    # Effective permissions of the global bindings: held on every team's entries. Narrowed by
    # the API token's scope if any. Ask `forge.proto.access.permits`, never read these directly.
    permissions: tuple[str, ...] = ()
    # What team-scoped bindings add, by team id: held on that team's entries only.
    team_roles: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    team_permissions: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    server_scope: str | None = None  # an API token bound to one virtual server
    auth_method: str | None = None  # "jwt", "session", "api_token"
    # The caller's own bearer token, carried only so that an upstream configured for RFC 8693
    # token exchange can trade it at its authorization server. Never sent to an upstream, never
    # logged (see __repr__).
    subject_token: str | None = None

    def __repr__(self) -> str:
        return (
            f"Principal(subject={self.subject!r}, teams={self.teams!r}, roles={self.roles!r},"
            f" is_admin={self.is_admin!r}, auth_method={self.auth_method!r})"
        )


class Protocol(msgspec.Struct, frozen=True, omit_defaults=True):
    """The client's MCP protocol version and what it declared about itself."""

    version: str
    era: str = "modern"  # "modern" (2026-07-28) or "legacy" (2025-11-25 and earlier)
    capabilities: msgspec.Raw = msgspec.Raw(b"{}")
    client_info: msgspec.Raw = msgspec.Raw(b"{}")
    session_id: str | None = None


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """A request between services: params stay undecoded unless a hop needs them."""

    id: str
    method: str
    params: msgspec.Raw
    principal: Principal
    deadline: float  # absolute UNIX time after which no hop works on it
    protocol: Protocol | None = None
    server_id: str | None = None
    # tools/call only: the `Mcp-Param-*` headers that go with the call. From the edge, what a
    # modern Streamable HTTP client sent, names lower-cased (the router checks them against the
    # tool's schema); None when the transport has no per-request headers (SSE, WebSocket), so
    # there is nothing to check. From the router, what the upstream expects for the arguments it
    # forwards (forge.proto.param_headers).
    param_headers: dict[str, str] | None = None


class ErrorObject(msgspec.Struct, frozen=True, omit_defaults=True):
    """A JSON-RPC error object."""

    code: int
    message: str
    data: msgspec.Raw = msgspec.Raw()


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """A hop's answer: exactly one of result (undecoded JSON) or error."""

    result: msgspec.Raw = msgspec.Raw()
    error: ErrorObject | None = None


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
REPLY_DECODER = msgspec.json.Decoder(Reply)
ENCODER = msgspec.json.Encoder()


def ok(result: bytes) -> bytes:
    """Encode a successful reply around already-encoded JSON."""
    return b'{"result":' + result + b"}"
