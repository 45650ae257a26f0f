"""Where Forge is reached and what it protects: resource URLs (RFC 8707), protected-resource
metadata (RFC 9728), and the `WWW-Authenticate` challenge that points clients at it."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.edge.config import EdgeConfig
from forge.proto.access import PERMISSIONS

WELL_KNOWN = "/.well-known/oauth-protected-resource"
_ENC = msgspec.json.Encoder()
_MEMO_MAX = 4096


def public_url(config: EdgeConfig) -> str:
    """The URL clients reach Forge at, without a trailing slash."""
    return (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")


class PublicUrls:
    """The edge's canonical URLs, computed once per virtual server."""

    def __init__(self, config: EdgeConfig) -> None:
        self.base = public_url(config)
        parts = urlsplit(self.base)
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self._path = parts.path  # RFC 9728: the well-known part goes before the resource's path
        self.issuer = config.jwt_issuer if _absolute(config.jwt_issuer) else self.base
        self.root = self.base + "/mcp"
        self._resources: dict[str, str] = {}

    def resource(self, server_id: str | None) -> str:
        """The canonical resource URL of an MCP endpoint (every transport of one server)."""
        if server_id is None:
            return self.root
        url = self._resources.get(server_id)
        if url is None:
            url = f"{self.base}/servers/{server_id}/mcp"
            if len(self._resources) >= _MEMO_MAX:
                self._resources.clear()
            self._resources[server_id] = url
        return url

    def metadata_url(self, server_id: str | None, *, rest: bool = False) -> str:
        """The metadata document of an endpoint; REST routes point at the root document."""
        if rest:
            return self.origin + WELL_KNOWN + self._path
        suffix = "/mcp" if server_id is None else f"/servers/{server_id}/mcp"
        return self.origin + WELL_KNOWN + self._path + suffix

    def challenge(self, server_id: str | None, *, token_sent: bool, rest: bool = False) -> str:
        """The `WWW-Authenticate` value of a 401 (RFC 6750 §3, RFC 9728 §5.1)."""
        where = self.metadata_url(server_id, rest=rest)
        value = f'Bearer realm="forge", resource_metadata="{where}"'
        if token_sent:
            value += ', error="invalid_token"'
        return value

    def document(self, server_id: str | None) -> bytes:
        return _ENC.encode(
            {
                "resource": self.resource(server_id),
                "authorization_servers": [self.issuer],
                "bearer_methods_supported": ["header"],
                "scopes_supported": list(PERMISSIONS),
                "resource_name": "Forge",
            }
        )


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def routes(urls: PublicUrls) -> list[BaseRoute]:
    """The metadata documents of `urls`: public, like the rest of `/.well-known`."""

    def respond(body: bytes) -> Response:
        headers = {"cache-control": "public, max-age=300", "access-control-allow-origin": "*"}
        return Response(body, 200, headers, media_type="application/json")

    async def root(request: Request) -> Response:
        return respond(urls.document(None))

    async def server(request: Request) -> Response:
        return respond(urls.document(request.path_params["server_id"]))

    return [
        Route(WELL_KNOWN, root, methods=["GET"]),
        Route(WELL_KNOWN + "/mcp", root, methods=["GET"]),
        Route(WELL_KNOWN + "/servers/{server_id}/mcp", server, methods=["GET"]),
    ]
