"""A gateway's credentials: its sealed UpstreamAuth opened, and what sessions send with it.

`Access` is what a session needs: the URL to dial (a query-parameter credential in it), static
headers (basic, bearer, custom), a TLS context (mTLS client certificate, own CA), a stdio child's
environment, and for OAuth types a token source asked on every request. The plaintext lives in
memory only; it is never logged and never put in an error message.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from forge.core.aiohttp_dialer import Dialer
from forge.core.bus import Bus
from forge.core.errors import ForgeError, UpstreamUnavailableError
from forge.core.sealing import Keyring
from forge.core.upstream_auth import STATIC, bearer, open_sealed, static_part
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.proto.envelope import Principal
from forge.upstream_proxy.auth.grants import (
    AuthorizationCode,
    ClientCredentials,
    TokenExchange,
    TokenSource,
)
from forge.upstream_proxy.auth.oauth import TokenClient
from forge.upstream_proxy.auth.usertokens import UserTokens
from forge.upstream_proxy.config import UpstreamProxyConfig

# Auth types whose token depends on who calls: their sessions are never shared between users.
PER_USER = frozenset({"oauth_authorization_code", "token_exchange"})


@dataclass(frozen=True, eq=False)
class Access:
    """How one gateway is reached: what every session of it sends."""

    kind: str  # UpstreamAuth.type
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    tokens: TokenSource | None = None
    query: tuple[str, str] | None = None  # (name, value) of a query-parameter credential

    @property
    def per_user(self) -> bool:
        return self.kind in PER_USER

    async def request_headers(self, caller: Principal | None) -> Mapping[str, str]:
        """The headers of one request: the static ones, plus a bearer token for OAuth types."""
        if self.tokens is None:
            return self.headers
        return {**self.headers, "Authorization": bearer(await self.tokens.token(caller))}

    async def renew(self, caller: Principal | None, refused: str | None) -> bool:
        """After a 401: True if a new token is ready to try once more."""
        return self.tokens is not None and await self.tokens.renew(caller, refused)

    def refused(self, caller: Principal | None, error: ForgeError) -> ForgeError:
        return error if self.tokens is None else self.tokens.refused(caller, error)


def tls_context(auth: UpstreamAuth, label: str) -> ssl.SSLContext:
    """Verifies the upstream (with its own CA if given) and presents the client certificate."""
    try:
        context = ssl.create_default_context(cadata=auth.ca_pem or None)
        if auth.client_cert_pem:
            if not auth.client_key_pem:
                raise UpstreamUnavailableError(
                    f"gateway {label} has a client certificate but no key"
                )
            _load_client_certificate(context, auth.client_cert_pem, auth.client_key_pem)
    except (ssl.SSLError, ValueError, OSError):
        raise UpstreamUnavailableError(
            f"the TLS credentials of gateway {label} do not load (PEM certificate and key expected)"
        ) from None
    return context


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str) -> None:
    # The ssl module loads a certificate chain from files only: they live in a private directory
    # (0700, files 0600, in memory where /dev/shm exists) for as long as loading takes.
    where = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="forge-mtls-", dir=where) as folder:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            paths.append(path)
        # An encrypted key gets an empty password (and fails) rather than a prompt on the tty.
        context.load_cert_chain(paths[0], paths[1], password=lambda: b"")


class Credentials:
    """Opens gateways' credentials and keeps each gateway's Access (and its token caches)."""

    def __init__(self, config: UpstreamProxyConfig, bus: Bus, dialer: Dialer) -> None:
        self.config = config
        # A malformed FORGE_SECRET_KEYS fails at start; none at all only fails sealed gateways.
        self._keyring: Keyring | None = None
        if config.secret_keys.strip() or len(config.jwt_secret) >= 32:
            self._keyring = Keyring.parse(config.secret_keys, fallback_secret=config.jwt_secret)
        self.client = TokenClient(dialer)
        self.users = UserTokens(bus, self.keyring)
        self._access: dict[str, tuple[Gateway, tuple[object, ...], Access]] = {}

    def keyring(self) -> Keyring:
        if self._keyring is None:
            raise UpstreamUnavailableError(
                "this upstream-proxy has no FORGE_SECRET_KEYS (or FORGE_JWT_SECRET) to open"
                " gateway credentials with"
            )
        return self._keyring

    async def start(self) -> None:
        await self.users.start()

    async def release(self) -> None:
        """Stop watching the user-token bucket while the bus still works."""
        await self.users.close()

    async def close(self) -> None:
        await self.client.close()

    def access(self, gateway: Gateway) -> Access:
        """The gateway's Access, built once per version of its endpoint and credentials."""
        cached = self._access.get(gateway.id)
        if cached is not None and cached[0] is gateway:
            return cached[2]
        key = (gateway.url, gateway.auth_type, gateway.auth, tuple(sorted(gateway.env.items())))
        if cached is None or cached[1] != key:
            cached = (gateway, key, self._build(gateway))
        else:
            cached = (gateway, key, cached[2])
        self._access[gateway.id] = cached
        return cached[2]

    def forget(self, gateway_id: str) -> None:
        self._access.pop(gateway_id, None)

    def open(self, gateway: Gateway) -> UpstreamAuth:
        what = f"gateway {gateway.name!r}"
        return open_sealed(gateway.auth, gateway.auth_type, gateway.id, what, self.keyring)

    def _build(self, gateway: Gateway) -> Access:
        auth = self.open(gateway)
        label = repr(gateway.name)
        env = {name: value for name, value in gateway.env.items() if value}  # rows before sealing
        env.update(auth.env)
        kind = auth.type
        if kind not in (*STATIC, "mtls", *PER_USER, "oauth_client_credentials"):
            raise UpstreamUnavailableError(
                f"gateway {label} uses auth type {kind!r}, which this upstream-proxy does not know"
            )
        static = static_part(auth, gateway.url, f"gateway {label}")
        url = static.url
        tls = None
        if (auth.client_cert_pem or auth.ca_pem) and urlsplit(url).scheme in ("https", "wss"):
            tls = tls_context(auth, label)
        # The token endpoint is verified with the gateway's own CA too, when it has one.
        token_tls = tls_context(UpstreamAuth(ca_pem=auth.ca_pem), label) if auth.ca_pem else None
        tokens: TokenSource | None = None
        if kind == "oauth_client_credentials":
            tokens = ClientCredentials(auth, label, self.client, token_tls)
        elif kind == "token_exchange":
            tokens = TokenExchange(auth, label, self.client, token_tls)
        elif kind == "oauth_authorization_code":
            tokens = AuthorizationCode(
                auth,
                label,
                self.client,
                token_tls,
                gateway_id=gateway.id,
                store=self.users,
                authorize_url=self.authorize_url(gateway.id),
            )
        return Access(kind, url, static.headers, tls, env, tokens, static.query)

    def authorize_url(self, gateway_id: str) -> str:
        """Where a user starts authorizing Forge at this gateway's authorization server."""
        return f"{self.config.public_url.rstrip('/')}/gateways/{gateway_id}/oauth/authorize"
