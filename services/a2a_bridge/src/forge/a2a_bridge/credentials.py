"""An agent's sealed credentials opened, as the headers and URL every request to it carries.

The registry seals an `UpstreamAuth` with the agent's id as associated data (forge.core.sealing),
as it does for gateways; only the bridge opens it. The plaintext lives in memory only, never in
a log or an error. Types: none, basic, bearer, headers, query_param, oauth_client_credentials
(forge.a2a_bridge.tokens). The per-user OAuth types (authorization code, token exchange) and
mTLS are refused with a clear error: **not built yet** here.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx2
import msgspec

from forge.a2a_bridge.tokens import ClientCredentials
from forge.core.errors import UpstreamUnavailableError
from forge.core.sealing import Keyring, SealingError
from forge.proto.agents import Agent
from forge.proto.catalog import UpstreamAuth

_AUTH = msgspec.json.Decoder(UpstreamAuth)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


@dataclass(frozen=True)
class Access:
    """Where to send an agent's requests and what to send with them."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    tokens: ClientCredentials | None = None  # OAuth client credentials: a bearer per request


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    extra = urlencode({name: value})
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


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
        label = repr(agent.name)
        if agent.auth is None:
            if agent.auth_type not in ("", "none"):
                raise UpstreamUnavailableError(
                    f"agent {label} is set for {agent.auth_type} auth but holds no credentials"
                )
            return UpstreamAuth()
        if self.keyring is None:
            raise UpstreamUnavailableError(
                "this a2a-bridge has no FORGE_SECRET_KEYS (or FORGE_JWT_SECRET) to open agent"
                " credentials with"
            )
        try:
            return _AUTH.decode(self.keyring.open(agent.auth, agent.id.encode()))
        except SealingError as exc:
            raise UpstreamUnavailableError(
                f"the credentials of agent {label} do not open: {exc}"
            ) from None
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamUnavailableError(
                f"the credentials of agent {label} are malformed"
            ) from None

    def _build(self, agent: Agent) -> Access:
        auth = self.open(agent)
        label = repr(agent.name)
        url, kind = agent.url, auth.type
        headers: dict[str, str] = {}
        tokens = None
        if kind == "oauth_client_credentials":
            if self.http is None:
                raise UpstreamUnavailableError(f"agent {label} needs a token endpoint client")
            tokens = ClientCredentials(auth, label, self.http)
        elif kind == "basic":
            pair = f"{auth.username or ''}:{auth.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif kind == "bearer":
            if not auth.token:
                raise UpstreamUnavailableError(f"agent {label} has bearer auth but no token")
            headers["Authorization"] = f"Bearer {auth.token}"
        elif kind == "headers":
            headers.update(auth.headers)
        elif kind == "query_param":
            if not auth.query_param:
                raise UpstreamUnavailableError(f"agent {label} has query_param auth but no name")
            url = _with_query(url, auth.query_param, auth.query_value or "")
        elif kind != "none":
            raise UpstreamUnavailableError(
                f"agent {label} uses auth type {kind!r}, which the a2a-bridge does not support yet"
            )
        for name, value in headers.items():
            # Values reach the wire verbatim: no line breaks, no separators in names.
            if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
                raise UpstreamUnavailableError(f"agent {label} has a malformed credential header")
        return Access(url, headers, tokens)
