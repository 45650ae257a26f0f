"""An agent's sealed credentials opened, as the headers and URL every request to it carries.

The registry seals an `UpstreamAuth` with the agent's id as associated data (forge.core.sealing),
as it does for gateways; only the bridge opens it. The plaintext lives in memory only, never in
a log or an error. Types: none, basic, bearer, headers, query_param, oauth_client_credentials
(forge.a2a_bridge.tokens). The per-user OAuth types (authorization code, token exchange) and
mTLS are refused with a clear error: **not built yet** here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx2

from forge.a2a_bridge.tokens import ClientCredentials
from forge.core.errors import UpstreamUnavailableError
from forge.core.sealing import Keyring
from forge.core.upstream_auth import STATIC, open_sealed, static_part
from forge.proto.agents import Agent
from forge.proto.catalog import UpstreamAuth


@dataclass(frozen=True)
class Access:
    """Where to send an agent's requests and what to send with them."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    tokens: ClientCredentials | None = None  # OAuth client credentials: a bearer per request


class Credentials:
    """Opens agents' credentials; one Access per agent version, rebuilt when it changes."""

    def __init__(self, keyring: Keyring | None, http: httpx2.AsyncClient | None = None) -> None:
        self.keyring = keyring
        self.http = http  # token endpoints are dialled by the agents' guarded client
        self._access: dict[str, tuple[Agent, Access]] = {}

    def access(self, agent: Agent) -> Access:
        cached = self._access.get(agent.id)
        if cached is not None and cached[0] is agent:
            return cached[1]
        built = self._build(agent)
        self._access[agent.id] = (agent, built)
        return built

    def forget(self, agent_id: str) -> None:
        self._access.pop(agent_id, None)

    def open(self, agent: Agent) -> UpstreamAuth:
        return open_sealed(
            agent.auth, agent.auth_type, agent.id, f"agent {agent.name!r}", self._keyring
        )

    def _keyring(self) -> Keyring:
        if self.keyring is None:
            raise UpstreamUnavailableError(
                "this a2a-bridge has no FORGE_SECRET_KEYS (or FORGE_JWT_SECRET) to open agent"
                " credentials with"
            )
        return self.keyring

    def _build(self, agent: Agent) -> Access:
        auth = self.open(agent)
        label = repr(agent.name)
        tokens = None
        if auth.type == "oauth_client_credentials":
            if self.http is None:
                raise UpstreamUnavailableError(f"agent {label} needs a token endpoint client")
            tokens = ClientCredentials(auth, label, self.http)
        elif auth.type not in STATIC:
            raise UpstreamUnavailableError(
                f"agent {label} uses auth type {auth.type!r}, which the a2a-bridge does not"
                " support yet"
            )
        static = static_part(auth, agent.url, f"agent {label}")
        return Access(static.url, static.headers, tokens)
