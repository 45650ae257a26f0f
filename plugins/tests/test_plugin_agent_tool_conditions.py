"""An agent's hook call is a call of its MCP tool too: a tool condition, and so a team's binding
on its agent's tool (`a2a-<slug>`), holds on the agent hooks, whether
the router (an MCP tools/call) or the a2a-bridge (Forge's A2A endpoint) calls them."""

from __future__ import annotations

import pytest
from plugin_testkit import CALLS, load, loader, run

from forge.plugins import config as plugin_config
from forge.plugins.config import Binding
from forge.plugins.loader import build
from forge.plugins.plugin import Host

# The payload both the router and the bridge send: the tool's name beside the agent's.
SENT = {"name": "a2a-helper", "agent": "Helper", "arguments": {"message": "hi"}}


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


async def test_a_binding_on_an_agents_tool_runs_on_its_agent_hook_for_its_team_only() -> None:
    binding = Binding(plugin="scripted", team="blue", tool="a2a-helper")
    merged = plugin_config.with_bindings(plugin_config.PluginsConfig(), [binding])
    plugins = await build(merged, Host(), loader())
    assert (await run(plugins, "agent_pre_invoke", SENT, target_team="blue")).modified
    assert not (await run(plugins, "agent_pre_invoke", SENT, target_team="red")).modified
    other = {**SENT, "name": "a2a-other"}
    assert not (await run(plugins, "agent_pre_invoke", other, target_team="blue")).modified


async def test_an_agents_own_name_condition_still_decides_where_it_is_set() -> None:
    plugins = await load(
        "plugins:\n  - name: p\n    kind: scripted\n"
        '    conditions: {agents: [Stranger], tools: ["a2a-*"]}\n'
    )
    before = len(CALLS)
    await run(plugins, "agent_pre_invoke", SENT)
    assert len(CALLS) == before  # the agents condition names another agent
    await run(plugins, "tool_pre_invoke", {"name": "a2a-helper", "arguments": {}})
    assert len(CALLS) == before + 1


async def test_a_tool_condition_does_not_take_an_agent_hook_without_the_tools_name() -> None:
    plugins = await load(
        "plugins:\n  - name: p\n    kind: scripted\n    conditions: {tools: [Helper]}\n"
    )
    await run(plugins, "agent_pre_invoke", {"name": "Helper"})
    assert CALLS == []
