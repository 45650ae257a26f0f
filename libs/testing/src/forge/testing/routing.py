"""Which process routes a mesh's MCP requests: the edge (FORGE_EDGE_ROUTER=local, the router's
machinery in the edge's process) or the router service (`remote`). Tests that look at the
router's own metrics, logs or spans look there (docs/decisions/0033-edge-local-routing.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from forge.edge.config import EdgeConfig


def edge_router(env: Mapping[str, str] | None = None) -> str:
    """`local` or `remote`: the edges' FORGE_EDGE_ROUTER in `env` (the process's environment,
    which a mesh's services inherit), else its default."""
    env = os.environ if env is None else env
    if "FORGE_EDGE_ROUTER" in env:
        return env["FORGE_EDGE_ROUTER"].lower()
    default = next(f.default for f in msgspec.structs.fields(EdgeConfig) if f.name == "router")
    return str(default)


def router_process(env: Mapping[str, str] | None = None) -> str:
    """The mesh's process (as `forge up` names it) whose metrics and logs are the router's."""
    return "edge" if edge_router(env) == "local" else "router"


def router_service(env: Mapping[str, str] | None = None) -> str:
    """The tracing service name of the router's spans."""
    return f"forge-{router_process(env)}"
