"""REST plugin API: /plugins (what the plugin-runner has loaded) and /plugins/bindings (per-team,
per-tool bindings, which the catalog registry stores and the plugin-runner follows).

Reading needs `plugins.read`, changing `plugins.manage`; the registry applies the team and
visibility rules. A binding the caller cannot see answers 404 even where they lack the
permission: a 403 would say that it exists.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import subjects
from forge.core.errors import ServiceUnavailableError
from forge.edge import inputs
from forge.edge.auth.guard import require, rest_principal
from forge.edge.registry_calls import registry_call, without_token
from forge.edge.rest.admin import REST_TIMEOUT_S, json_response
from forge.proto import access
from forge.proto.envelope import Principal
from forge.proto.plugins import MANIFEST_DECODER, LoadedPlugin, Manifest

if TYPE_CHECKING:
    from forge.edge.state import Edge

READ = "plugins.read"
MANAGE = "plugins.manage"
ENTITY = "plugin_bindings"
MANIFEST_TIMEOUT_S = 5.0
_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
_FILTERS = ("plugin", "team_id")
_NO_INLINE = msgspec.Raw(b"{}")
# What GET /plugins shows of a manifest (docs/plugins.md).
_SHOWN = ("hooks", "version", "replica", "plugins", "rejected")


class Op(NamedTuple):
    path: str
    method: str
    op: str
    permission: str
    status: int = 200


OPS = (
    Op("/plugins/bindings", "GET", "list", READ),
    Op("/plugins/bindings", "POST", "create", MANAGE, 201),
    Op("/plugins/bindings/{id}", "GET", "get", READ),
    Op("/plugins/bindings/{id}", "PUT", "update", MANAGE),
    Op("/plugins/bindings/{id}", "DELETE", "delete", MANAGE),
)


def _binding_entry(binding: dict[str, Any]) -> str:
    """The name of a binding's entry in the manifest (forge.plugins.config.with_bindings)."""
    return f"{binding['plugin']}@{binding.get('team_id') or '*'}/{binding.get('tool') or '*'}"


def shown(
    principal: Principal, manifest: Manifest, bindings: list[dict[str, Any]] | None = None
) -> Manifest:
    """The manifest as the caller may see it: entries for every team or one of theirs, and of
    the entries made from bindings and the rejected bindings, only those of `bindings` (what the
    registry shows the caller): a binding they cannot see may name another member's private
    tool. Never the inline chains: their entries carry the plugins' config (credentials)."""
    manifest = msgspec.structs.replace(manifest, inline=_NO_INLINE)
    if access.sees_everything(principal):
        return manifest
    mine = set(principal.teams)
    seen_entries = {_binding_entry(b) for b in bindings or []}
    seen_ids = {b["id"] for b in bindings or []}

    def keep(entry: LoadedPlugin) -> bool:
        if entry.teams and not mine & set(entry.teams):
            return False
        return "@" not in entry.name or entry.name in seen_entries  # "@": a binding's entry

    return msgspec.structs.replace(
        manifest,
        plugins=[p for p in manifest.plugins if keep(p)],
        rejected=[r for r in manifest.rejected if r.team_id in mine and r.id in seen_ids],
    )


class Plugins:
    """One handler per route; a bindings route is one catalog registry request."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def call(self, principal: Principal, op: str, params: Any) -> bytes:
        return await registry_call(
            self.edge.bus,
            subjects.CATALOG,
            ENTITY,
            op,
            params,
            without_token(principal),
            REST_TIMEOUT_S,
        )

    async def body(self, request: Request) -> dict[str, Any]:
        return await inputs.read_object(self.edge.config, request.scope, request.receive)

    async def principal(self, request: Request, permission: str) -> Principal:
        """The caller, if they hold `permission`; else 403, or the registry's 404 when the
        binding named in the path is one they cannot see."""
        principal = await rest_principal(self.edge, request, None)
        binding_id = request.path_params.get("id")
        if not access.permits(principal, permission) and binding_id is not None:
            await self.call(principal, "get", {"id": binding_id})
        return require(principal, permission)

    def route(self, spec: Op) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            principal = await self.principal(request, spec.permission)
            params: dict[str, Any] = {}
            if spec.method in ("POST", "PUT"):
                params = await self.body(request)
            elif spec.op == "list":
                params = {k: v for k, v in request.query_params.items() if k in _FILTERS}
            params.update(request.path_params)  # the path's id wins over the body's
            result = await self.call(principal, spec.op, params)
            return json_response(spec.status, result)

        return endpoint

    async def loaded(self, request: Request) -> Response:
        """What the plugin-runner (one replica of it) says it runs."""
        principal = await self.principal(request, READ)
        try:
            data = await self.edge.bus.request(
                subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + MANIFEST_TIMEOUT_S
            )
            manifest = MANIFEST_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            raise ServiceUnavailableError("the plugin-runner sent a malformed manifest") from exc
        bindings = None
        if not access.sees_everything(principal):
            bindings = _ANY.decode(await self.call(principal, "list", {}))
        mine = shown(principal, manifest, bindings)
        return json_response(200, _ENC.encode({f: getattr(mine, f) for f in _SHOWN}))


def routes(edge: Edge) -> list[BaseRoute]:
    plugins = Plugins(edge)
    out: list[BaseRoute] = []
    for prefix in ("", "/v1"):
        out.append(Route(prefix + "/plugins", plugins.loaded, methods=["GET"]))
        for spec in OPS:
            out.append(Route(prefix + spec.path, plugins.route(spec), methods=[spec.method]))
    return out
