"""Which process routes a mesh's MCP requests: the edge (FORGE_EDGE_ROUTER=local, the router's
machinery in the edge's process) or the router service (`remote`). Tests that look at the
router's own metrics, logs or spans look there (docs/decisions/0033-edge-local-routing.md); and
which process calls a gateway with a network transport and no credential: the edge
(FORGE_EDGE_UPSTREAM=local) or the upstream-proxy
(docs/decisions/0035-edge-local-upstream-calls.md)."""

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


def edge_upstream(env: Mapping[str, str] | None = None) -> str:
    """`local` or `remote`: the edges' FORGE_EDGE_UPSTREAM in `env` (as `edge_router`); `local`
    only counts with the router in the edge too."""
    env = os.environ if env is None else env
    if edge_router(env) != "local":
        return "remote"
    if "FORGE_EDGE_UPSTREAM" in env:
        return env["FORGE_EDGE_UPSTREAM"].lower()
    default = next(f.default for f in msgspec.structs.fields(EdgeConfig) if f.name == "upstream")
    return str(default)


def upstream_process(env: Mapping[str, str] | None = None, *, network: bool = True) -> str:
    """The mesh's process whose metrics, logs and spans are the upstream calls of a gateway with a
    network transport and no credential (`network`; a stdio gateway or one with a credential:
    False), docs/decisions/0035-edge-local-upstream-calls.md."""
    return "edge" if network and edge_upstream(env) == "local" else "upstream_proxy"


def upstream_service(env: Mapping[str, str] | None = None, *, network: bool = True) -> str:
    """The tracing service name of those calls' spans."""
    return "forge-" + upstream_process(env, network=network).replace("_", "-")
