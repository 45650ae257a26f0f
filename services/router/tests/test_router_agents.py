"""The router's catalog holds A2A agents: an agent's tool (gateway_id = agent id) is live while
the agent is known and enabled, and `agent` / `is_agent` tell its calls apart from gateways'."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core import subjects
from forge.proto.access import BUILTIN_ROLES
from forge.proto.agents import Agent, AgentsChanged
from forge.proto.catalog import Deleted, Gateway, Snapshot, ToolRecord, ToolsChanged
from forge.proto.envelope import Principal
from forge.proto.mcp import Tool
from forge.router.catalog import Catalog

_ENC = msgspec.json.Encoder()
ALICE = Principal(subject="alice@x", teams=("team-a",), permissions=BUILTIN_ROLES["developer"])
CAROL = Principal(subject="carol@x", teams=("team-b",), permissions=BUILTIN_ROLES["developer"])
PLACE: dict[str, Any] = {"owner": "alice@x", "team_id": "team-a", "visibility": "team"}
AGENT = Agent(id="a1", name="Echo", slug="echo", url="http://127.0.0.1:1/", **PLACE)
GATEWAY = Gateway(id="g1", name="G", slug="g", url="http://127.0.0.1:2/mcp", **PLACE)
AGENT_TOOL = ToolRecord(
    id="t-a",
    name="a2a-echo",
    original_name="echo",
    gateway_id="a1",
    tool=Tool(name="echo"),
    **PLACE,
)
GATEWAY_TOOL = ToolRecord(
    id="t-g", name="g-add", original_name="add", gateway_id="g1", tool=Tool(name="add"), **PLACE
)


def event(entity: str, kind: str) -> str:
    return subjects.event(subjects.CATALOG, entity, kind)


def listed(catalog: Catalog, principal: Principal = ALICE) -> list[str]:
    return [t.name for t in catalog.listing("tools", None, principal).items]


def test_an_agents_tool_is_listed_and_resolved_and_told_apart_from_a_gateways() -> None:
    catalog = Catalog()
    catalog.load(
        Snapshot(gateways=[GATEWAY], tools=[AGENT_TOOL, GATEWAY_TOOL], servers=[], agents=[AGENT])
    )
    assert listed(catalog) == ["a2a-echo", "g-add"]
    assert listed(catalog, CAROL) == []
    found = catalog.resolve("a2a-echo", None, ALICE)
    assert found is not None and found.gateway_id == "a1"
    assert catalog.is_agent("a1") and catalog.agent("a1") == AGENT
    assert not catalog.is_agent("g1") and catalog.agent("g1") is None
    assert not catalog.is_agent("nobody")


def test_agent_events_make_its_tool_live_disabled_and_gone() -> None:
    catalog = Catalog()
    catalog.load(Snapshot(gateways=[], tools=[], servers=[]))
    # The tool before its agent: not live until the agent is heard of.
    catalog.apply(event("tools", "changed"), _ENC.encode(ToolsChanged("a1", [AGENT_TOOL])))
    assert listed(catalog) == []
    catalog.apply(event("agents", "changed"), _ENC.encode(AgentsChanged(agent=AGENT)))
    assert listed(catalog) == ["a2a-echo"] and catalog.is_agent("a1")
    disabled = msgspec.structs.replace(AGENT, enabled=False)
    catalog.apply(event("agents", "changed"), _ENC.encode(AgentsChanged(agent=disabled)))
    assert listed(catalog) == [] and catalog.resolve("a2a-echo", None, ALICE) is None
    catalog.apply(event("agents", "changed"), _ENC.encode(AgentsChanged(agent=AGENT)))
    assert listed(catalog) == ["a2a-echo"]
    catalog.apply(event("agents", "deleted"), _ENC.encode(Deleted(id="a1")))
    assert listed(catalog) == [] and not catalog.is_agent("a1")
    assert catalog.tools_by_id == {}
