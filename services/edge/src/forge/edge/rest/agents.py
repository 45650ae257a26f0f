"""The REST API of A2A agents: ContextForge's `/a2a` paths (and `/v1/a2a`), answered by the
catalog registry's `agents.*` operations, with the same authentication, permission checks,
body limits and errors as the other admin routes (rest/admin).

ContextForge's shapes are accepted too: a create body wrapped as `{"agent": {...}}` (its other
top-level members, such as `team_id` and `visibility`, join it), `endpoint_url` for `url`,
`auth_value`, and `?activate=true|false` on toggle. `POST /a2a/{name}/invoke` is the
a2a-bridge's (it calls the agent), not served here.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from forge.edge.rest.admin import Admin, Op
from forge.edge.state import Edge

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def agent_view(record: dict[str, Any]) -> dict[str, Any]:
    """An agent without its sealed credentials (`auth_type` says which kind it has), with
    ContextForge's name of its URL too."""
    view = {k: v for k, v in record.items() if k != "auth"}
    if "url" in view:
        view["endpoint_url"] = view["url"]
    return view


OPS: tuple[Op, ...] = (
    Op("/a2a", ["POST"], "agents", "create", "a2a.create", True, 201, agent_view),
    Op("/a2a", ["GET"], "agents", "list", "a2a.read", view=agent_view),
    Op("/a2a/{id}", ["GET"], "agents", "get", "a2a.read", view=agent_view),
    Op("/a2a/{id}", ["PUT"], "agents", "update", "a2a.update", True, view=agent_view),
    Op("/a2a/{id}", ["DELETE"], "agents", "delete", "a2a.delete"),
    Op(
        "/a2a/{id}/toggle",
        ["POST"],
        "agents",
        "toggle",
        "a2a.update",
        True,
        view=agent_view,
        optional_body=True,
    ),
    Op(
        "/a2a/{id}/card/refresh",
        ["POST"],
        "agents",
        "refresh",
        "a2a.update",
        view=agent_view,
    ),
)


def _unwrapped(body: dict[str, Any]) -> dict[str, Any]:
    """ContextForge's `{"agent": {...}, "team_id": ..., "visibility": ...}` as one object."""
    inner = body.get("agent")
    if isinstance(inner, dict) and "name" not in body:
        return {**{k: v for k, v in body.items() if k != "agent"}, **inner}
    return body


class Agents(Admin):
    """The `/a2a` routes: Admin's handling, ContextForge's body and query shapes."""

    async def _body(self, request: Request, optional: bool = False) -> Any:
        body = _unwrapped(await super()._body(request, optional))
        activate = request.query_params.get("activate")
        if activate is not None and "activate" not in body:
            body["activate"] = _BOOLEANS.get(activate.strip().lower(), activate)
        return body

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                prefix + spec.path,
                self.route(spec),
                methods=spec.methods,
                name=f"{prefix}{spec.entity}.{spec.op}",
            )
            for prefix in ("", "/v1")
            for spec in OPS
        ]


def routes(edge: Edge) -> list[BaseRoute]:
    return Agents(edge).routes()
