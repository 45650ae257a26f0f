"""An external plugin for the plugin e2e tests: an MCP server whose tools are named after the
hooks no built-in plugin serves (list hooks, user resolution, permission checks, an answer in
an agent's place).

`python tests/e2e/plugins/probe_server.py --port 0` prints `PORT <n>` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from forge.servers.ports import announce, bind_loopback

PROXY_SECRET = "probe-proxy-secret"  # what the trusted proxy sends alongside the user header
probe = MCPServer("forge-plugin-probe", version="0.1.0")


def _without(payload: dict[str, Any], member: str, key: str, ending: str) -> dict[str, Any]:
    kept = [e for e in payload.get(member, []) if not str(e.get(key, "")).endswith(ending)]
    if len(kept) == len(payload.get(member, [])):
        return {}
    return {"payload": {**payload, member: kept}}


@probe.tool()
def tools_post_list(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Hide tools whose name ends with `-pid`."""
    return _without(payload, "tools", "name", "-pid")


@probe.tool()
def prompts_post_list(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Hide prompts whose name ends with `-summarize`."""
    return _without(payload, "prompts", "name", "-summarize")


@probe.tool()
def resources_post_list(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Hide resources whose uri ends with `/readme`."""
    return _without(payload, "resources", "uri", "/readme")


@probe.tool()
def http_auth_resolve_user(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A trusted proxy's user header counts only with the proxy's shared secret."""
    headers = payload.get("headers") or {}
    user = headers.get("x-forwarded-user")
    if not user or headers.get("x-proxy-secret") != PROXY_SECRET:
        return {}
    return {"payload": {**payload, "user": {"email": user}}}


@probe.tool()
def http_auth_check_permission(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Users named grant-* may execute tools whatever their role; deny-* may not list tools."""
    user = str(context.get("user") or "")
    permission = payload.get("permission")
    if user.startswith("grant-") and permission == "tools.execute":
        return {"payload": {**payload, "granted": True}}
    if user.startswith("deny-") and permission == "tools.read":
        return {"payload": {**payload, "granted": False}}
    if user.startswith("block-") and permission == "tools.read":
        return {"violation": {"code": "probe_refused", "reason": "the probe says no"}}
    return {}


PROBE_ANSWER = "answered by the probe"


@probe.tool()
def agent_pre_invoke(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Answer in the agent's place (the agent is not asked): a tool result, as on the MCP path.
    Which agents, the entry's `agents` condition says (agent_answer.yaml)."""
    return {"result": {"content": [{"type": "text", "text": PROBE_ANSWER}]}}


async def serve(port: int) -> None:
    sock = bind_loopback("127.0.0.1", port)
    app = probe.streamable_http_app(json_response=True, host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    announce(sock)
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))
