"""An A2A agent's one tool (forge.proto.agents): what MCP clients call to message the agent.

The tool's `gateway_id` is the agent's id (the router sends its calls to the a2a-bridge); it
has the agent's placement, is named `a2a-<agent slug>` (unique across the catalog, as every
exposed tool name) and exists while the agent is enabled. The SQL the store runs inside its
transactions, and the tool's definition.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from forge.proto.agents import Agent
from forge.proto.mcp import Tool
from forge.registry.catalog import ownership
from forge.registry.catalog.offers import NewTool

PREFIX = "a2a-"
_ENC = msgspec.json.Encoder()
_AFFECTED = "SELECT DISTINCT server_id FROM server_tools WHERE tool_id = $1"
# What the tool takes: the message's text, optional structured data (a data part), and the ids
# that continue a conversation (context_id) or an input-required task (task_id).
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "data": {"type": "object"},
        "context_id": {"type": "string"},
        "task_id": {"type": "string"},
    },
    "required": ["message"],
}


def tool_name(agent: Agent) -> str:
    return f"{PREFIX}{agent.slug}"


def definition(agent: Agent) -> Tool:
    """The tool as MCP lists it: named after the agent's slug, described by the agent."""
    description = agent.description or f"Send a message to the A2A agent {agent.name}"
    # A call may be a task (2025-11-25 `taskSupport`; decision 0025): the a2a-bridge follows
    # the agent's A2A task for the client. Migration 011 gave it to the tools of agents
    # registered before.
    return Tool(
        name=agent.slug,
        title=agent.name,
        description=description,
        inputSchema=INPUT_SCHEMA,
        execution={"taskSupport": "optional"},
    )


def new_tool(agent: Agent) -> NewTool | None:
    """The tool the agent should have now: one while it is enabled, none otherwise."""
    if not agent.enabled:
        return None
    return NewTool(uuid.uuid4().hex, tool_name(agent), definition(agent))


async def put(conn: Any, agent: Agent, tool: NewTool | None) -> list[str]:
    """Make the agent's stored tool `tool` (keeping the stored one's id), or none; returns the
    servers that lost it."""
    old = await conn.fetchrow("SELECT id FROM tools WHERE agent_id = $1", agent.id)
    if tool is None:
        if old is None:
            return []
        servers = [r["server_id"] for r in await conn.fetch(_AFFECTED, old["id"])]
        await conn.execute("DELETE FROM tools WHERE id = $1", old["id"])
        return servers
    at = ownership.of(agent)
    encoded = _ENC.encode(tool.tool).decode()
    if old is None:
        await conn.execute(
            "INSERT INTO tools (id, gateway_id, agent_id, name, original_name, definition, owner,"
            " team_id, visibility) VALUES ($1, $2, $2, $3, $4, $5::jsonb, $6, $7, $8)",
            *(tool.id, agent.id, tool.name, tool.tool.name, encoded, *at),
        )
        return []
    await conn.execute(
        "UPDATE tools SET name = $2, original_name = $3, definition = $4::jsonb, owner = $5,"
        " team_id = $6, visibility = $7, updated_at = CASE WHEN name = $2 AND original_name = $3"
        " AND definition = $4::jsonb THEN updated_at ELSE now() END WHERE id = $1",
        *(old["id"], tool.name, tool.tool.name, encoded, *at),
    )
    return []
