"""The addresses a gateway gives Forge, checked at registration: its URL, which the
upstream-proxy dials, and its OAuth endpoints: the token URL, which it dials with the client
secret, and the authorize URL, to which the edge redirects users' browsers."""

from __future__ import annotations

from urllib.parse import urlsplit

from forge.core.errors import InvalidParamsError
from forge.core.netguard import SETTING, NetGuard
from forge.proto.catalog import Gateway, UpstreamAuth


async def check_oauth_endpoint(guard: NetGuard, url: str, field: str) -> None:
    """The SSRF guard's refusal (403) of a special-purpose address the operator has not allowed,
    and https (422) unless every address of the host is on a network the operator allows: the
    code, the PKCE challenge and the client secret must not cross other networks in clear."""
    addresses = await guard.check_url(url, field)
    if urlsplit(url).scheme == "https":
        return
    if not addresses or not all(guard.on_allowed_network(a) for a in addresses):
        raise InvalidParamsError(
            f"{field} must be an https URL (http only to a network {SETTING} allows)",
            {"field": field},
        )


async def check_addresses(guard: NetGuard, gateway: Gateway, auth: UpstreamAuth | None) -> None:
    """Refuse the upstream's and the OAuth endpoints' addresses the operator has not allowed."""
    if gateway.transport != "stdio":
        await guard.check_url(gateway.url)
    if auth is None:
        return
    if auth.token_url is not None:
        await check_oauth_endpoint(guard, auth.token_url, "auth.token_url")
    if auth.authorize_url is not None:
        await check_oauth_endpoint(guard, auth.authorize_url, "auth.authorize_url")
