"""Talking to an SSO provider: authorize URLs, the code exchange, and who signed in.

OIDC providers: discovery and JWKS (cached per replica, JWKS fetched again once on an unknown
key id), id_token checked for signature, iss, aud (and azp), exp, sub and nonce. GitHub: OAuth2,
then the REST user API for the verified primary email, orgs and teams (`org` and `org/team`
become groups). Every provider failure becomes a ForgeError here; no token is ever logged.
Every request to a provider (discovery, JWKS, token, userinfo, GitHub's API) is dialled through
the SSRF guard (forge.core.httpx_dialer), as upstreams are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from forge.core import httpx_dialer
from forge.core.errors import (
    UnauthorizedError,
    UpstreamBadResponseError,
    UpstreamUnavailableError,
)
from forge.core.netguard import NetGuard
from forge.edge.auth.sso_providers import Provider

log = logging.getLogger("forge.edge.rest.sso")
HTTP_TIMEOUT_S = 10.0
METADATA_TTL_S = 3600.0
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
_REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class SignedIn:
    email: str
    full_name: str | None
    groups: list[str]


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`), or None."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


async def _get_json(client: AsyncOAuth2Client, url: str, *, token: bool = False) -> Any:
    headers = {"Accept": "application/json"}
    response = await client.request("GET", url, withhold_token=not token, headers=headers)
    response.raise_for_status()
    return response.json()


@asynccontextmanager
async def _talking_to(provider: Provider, guard: NetGuard) -> AsyncIterator[AsyncOAuth2Client]:
    """An OAuth2 client for one exchange; provider failures become ForgeErrors."""
    cfg = provider.config
    client = AsyncOAuth2Client(
        cfg.client_id,
        cfg.client_secret,
        scope=provider.scopes,
        redirect_uri=provider.redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_S,
        transport=httpx_dialer.GuardedTransport(guard),
        trust_env=False,
    )
    try:
        async with client:
            yield client
    except OAuthError as exc:
        raise UnauthorizedError(f"the identity provider refused the code ({exc.error})") from exc
    except httpx2.HTTPError as exc:
        if (refused := httpx_dialer.refusal(exc)) is not None:
            log.error("SSO provider refused by the SSRF guard", extra={"provider": provider.id})
            raise refused from exc
        log.warning("SSO provider unreachable", extra={"provider": provider.id, "error": str(exc)})
        raise UpstreamUnavailableError("the identity provider could not be reached") from exc
    except (KeyError, TypeError, ValueError) as exc:  # a malformed answer from the provider
        log.warning("SSO provider answer malformed", extra={"provider": provider.id})
        raise UpstreamBadResponseError("the identity provider sent a malformed answer") from exc


class Exchange:
    """The provider side of sign-in; discovery documents and JWKS cached per provider."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard
        self.metadata: dict[str, tuple[dict[str, Any], float]] = {}
        self.keys: dict[str, KeySet] = {}

    async def authorize_url(self, provider: Provider, state: str, nonce: str, verifier: str) -> str:
        async with _talking_to(provider, self.guard) as client:
            if provider.oidc:
                url = (await self._discover(provider, client))["authorization_endpoint"]
                extra = {"nonce": nonce}
            else:
                url, extra = provider.authorize_url, {}
            location, _ = client.create_authorization_url(
                url, state=state, code_verifier=verifier, **extra
            )
        return str(location)

    async def sign_in(self, provider: Provider, code: str, nonce: str, verifier: str) -> SignedIn:
        async with _talking_to(provider, self.guard) as client:
            if not provider.oidc:
                return await _github(provider, client, code, verifier)
            meta = await self._discover(provider, client)
            token = await client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=provider.redirect_uri,
            )
            if not isinstance(token.get("id_token"), str):
                raise UnauthorizedError("the identity provider sent no id_token")
            claims = await self._verify(provider, meta, token["id_token"], nonce, client)
            userinfo = meta.get("userinfo_endpoint")
            groups_claim = provider.config.groups_claim
            if userinfo and (not claims.get("email") or claim(claims, groups_claim) is None):
                info = await _get_json(client, str(userinfo), token=True)
                if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                    claims = {**info, **{k: v for k, v in claims.items() if v is not None}}
        email = claims.get("email")
        if not email and provider.config.preset == "entra":
            email = claims.get("preferred_username")
        if not isinstance(email, str) or "@" not in email:
            raise UnauthorizedError("the identity provider did not share an email address")
        if claims.get("email_verified") is False:
            raise UnauthorizedError("the identity provider has not verified this email address")
        name = claims.get("name")
        groups = _strings(claim(claims, groups_claim))
        return SignedIn(email, name if isinstance(name, str) else None, groups)

    async def _discover(self, provider: Provider, client: AsyncOAuth2Client) -> dict[str, Any]:
        cached = self.metadata.get(provider.id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        meta = await _get_json(client, provider.issuers[0] + "/.well-known/openid-configuration")
        if not isinstance(meta, dict) or not all(
            isinstance(meta.get(k), str) for k in _REQUIRED_METADATA
        ):
            raise UpstreamBadResponseError("the identity provider's discovery document is invalid")
        # Entra's multi-tenant documents name a {tenantid} template instead of the issuer.
        if provider.config.preset != "entra" and meta["issuer"].rstrip("/") not in provider.issuers:
            raise UpstreamBadResponseError("the identity provider names another issuer")
        self.metadata[provider.id] = (meta, time.monotonic() + METADATA_TTL_S)
        return meta

    async def _keyset(self, provider: Provider, url: str, client: AsyncOAuth2Client) -> KeySet:
        try:
            keys = KeySet.import_key_set(await _get_json(client, url))
        except JoseError as exc:
            raise UpstreamBadResponseError("the identity provider's JWKS is invalid") from exc
        self.keys[provider.id] = keys
        return keys

    async def _verify(
        self,
        provider: Provider,
        meta: dict[str, Any],
        id_token: str,
        nonce: str,
        client: AsyncOAuth2Client,
    ) -> dict[str, Any]:
        jwks = meta["jwks_uri"]
        keys = self.keys.get(provider.id) or await self._keyset(provider, jwks, client)
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
            except InvalidKeyIdError:  # the provider rotated its keys: fetch them once more
                keys = await self._keyset(provider, jwks, client)
                token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
            claims = token.claims
            issuers = list(provider.issuers)
            if provider.config.preset == "entra":
                issuers.append(str(meta["issuer"]).replace("{tenantid}", str(claims.get("tid"))))
            JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "values": issuers},
                aud={"essential": True, "value": provider.config.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            reason = getattr(exc, "error", "malformed")
            raise UnauthorizedError(f"the id_token is not valid ({reason})") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.config.client_id:
            raise UnauthorizedError("the id_token was issued to another party (azp)")
        return claims


async def _github(
    provider: Provider, client: AsyncOAuth2Client, code: str, verifier: str
) -> SignedIn:
    """GitHub is OAuth2 without id_tokens: the user, verified email, orgs and teams by REST."""
    await client.fetch_token(
        provider.token_url,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri=provider.redirect_uri,
    )
    api = provider.api_url
    user = await _get_json(client, api + "/user", token=True)
    emails = await _get_json(client, api + "/user/emails", token=True)
    primary = [e["email"] for e in emails if e.get("primary") and e.get("verified")]
    if not primary or not isinstance(primary[0], str):
        raise UnauthorizedError("the GitHub account has no verified primary email address")
    orgs = await _get_json(client, api + "/user/orgs", token=True)
    teams = await _get_json(client, api + "/user/teams", token=True)
    groups = [str(o["login"]) for o in orgs]
    groups += [f"{t['organization']['login']}/{t['slug']}" for t in teams]
    name = user.get("name")
    return SignedIn(primary[0], name if isinstance(name, str) else None, groups)
