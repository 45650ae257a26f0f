"""The configuration file, conditions of each type, and per-team / per-tool bindings."""

from __future__ import annotations

import pytest
from plugin_testkit import CALLS, call, load, loader, run

from forge.plugins import config as plugin_config
from forge.plugins.config import Binding, PluginConfigError
from forge.plugins.loader import build
from forge.plugins.plugin import Host


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def test_a_full_entry_reads_with_defaults_filled_in() -> None:
    config = plugin_config.parse(
        """
defaults: {timeout_s: 3}
plugins:
  - name: pii
    kind: pii_filter
    priority: 5
    conditions: {tools: ["db_*"], teams: [blue]}
    config: {action: block}
  - name: other
    kind: deny_list
"""
    )
    pii, other = config.plugins
    assert (pii.priority, pii.mode, pii.on_error) == (5, "enforce", "fail")
    assert pii.conditions.tools == ("db_*",)
    assert pii.config == {"action": "block"}
    assert (other.priority, config.defaults.timeout_s) == (100, 3)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("plugins: [{name: a, kind: x, mood: enforce}]", "mood"),
        ("plugins: [{name: a, kind: x, mode: strict}]", "mode"),
        ("plugins: [{name: a, kind: x, on_error: explode}]", "on_error"),
        ("plugins: [{name: a, kind: x}, {name: a, kind: y}]", "two plugins"),
        ("plugins: [{name: a, kind: x, hooks: [tool_pre_call]}]", "tool_pre_call"),
        ("plugins: [{name: a, kind: x, overrides: b}]", "overrides"),
        ("plugins: [{name: a, kind: x, conditions: {tool: [y]}}]", "tool"),
        ("plugins: [{name: a\n", "YAML"),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(PluginConfigError, match=says):
        plugin_config.parse(text)


def test_an_empty_file_means_no_plugins() -> None:
    assert plugin_config.parse("").plugins == ()


async def only(conditions: str) -> object:
    return await load(
        "plugins:\n  - name: p\n    kind: scripted\n    conditions: " + conditions + "\n"
    )


async def ran(plugins: object, hook: str, payload: object, **kw: object) -> bool:
    before = len(CALLS)
    await run(plugins, hook, payload, **kw)  # type: ignore[arg-type]
    return len(CALLS) > before


async def test_server_condition() -> None:
    plugins = await only("{server_ids: [srv1]}")
    assert await ran(plugins, "tool_pre_invoke", call(), server_id="srv1")
    assert not await ran(plugins, "tool_pre_invoke", call(), server_id="srv2")
    assert not await ran(plugins, "tool_pre_invoke", call(), server_id=None)


async def test_team_condition() -> None:
    plugins = await only("{teams: [blue]}")
    assert await ran(plugins, "tool_pre_invoke", call(), teams=("me", "blue"))
    assert not await ran(plugins, "tool_pre_invoke", call(), teams=("me", "red"))


async def test_user_pattern_condition() -> None:
    plugins = await only('{users: ["*@example.com"]}')
    assert await ran(plugins, "tool_pre_invoke", call(), user="bob@example.com")
    assert not await ran(plugins, "tool_pre_invoke", call(), user="eve@evil.test")


async def test_tool_name_condition_matches_only_tool_calls_of_those_tools() -> None:
    plugins = await only('{tools: ["db_*", echo]}')
    assert await ran(plugins, "tool_pre_invoke", call("db_query"))
    assert await ran(plugins, "tool_pre_invoke", call("echo"))
    assert not await ran(plugins, "tool_pre_invoke", call("shell"))
    assert not await ran(plugins, "prompt_pre_fetch", {"name": "echo"})
    assert not await ran(plugins, "http_pre_request", {"path": "/mcp", "headers": {}})


async def test_prompt_name_condition() -> None:
    plugins = await only("{prompts: [greet]}")
    assert await ran(plugins, "prompt_pre_fetch", {"name": "greet"})
    assert not await ran(plugins, "prompt_pre_fetch", {"name": "other"})
    assert not await ran(plugins, "tool_pre_invoke", call("greet"))


async def test_resource_uri_pattern_condition() -> None:
    plugins = await only('{resources: ["file:///secret/*"]}')
    assert await ran(plugins, "resource_pre_fetch", {"uri": "file:///secret/key.pem"})
    assert not await ran(plugins, "resource_pre_fetch", {"uri": "file:///public/a.txt"})


async def test_agent_name_condition() -> None:
    plugins = await only("{agents: [helper]}")
    assert await ran(plugins, "agent_pre_invoke", {"name": "helper"})
    assert not await ran(plugins, "agent_pre_invoke", {"name": "stranger"})


async def test_conditions_of_several_kinds_must_all_hold() -> None:
    plugins = await only("{teams: [blue], tools: [echo]}")
    assert await ran(plugins, "tool_pre_invoke", call("echo"), teams=("me", "blue"))
    assert not await ran(plugins, "tool_pre_invoke", call("echo"), teams=("me",))
    assert not await ran(plugins, "tool_pre_invoke", call("add"), teams=("me", "blue"))


BASE = """
plugins:
  - name: guard
    kind: scripted
    mode: permissive
    config: {action: block}
"""


async def test_a_binding_overrides_an_entry_for_its_team_and_tool_only() -> None:
    base = plugin_config.parse(BASE)
    merged = plugin_config.with_bindings(
        base, [Binding(plugin="guard", team="blue", tool="echo", mode="enforce")]
    )
    plugins = await build(merged, Host(), loader())
    with pytest.raises(Exception) as raised:
        await run(plugins, "tool_pre_invoke", call("echo"), target_team="blue")
    assert getattr(raised.value, "data", {})["plugin"] == "guard@blue/echo"
    # elsewhere the file's permissive entry runs (and only it)
    for elsewhere in ({"payload": call("add"), "target_team": "blue"}, {"payload": call("echo")}):
        CALLS.clear()
        outcome = await run(plugins, "tool_pre_invoke", **elsewhere)
        assert [name for name, _ in outcome.violations] == ["guard"]
        assert [name for name, _, _ in CALLS] == ["guard"]


@pytest.mark.parametrize("hook", ["tool_pre_invoke", "prompt_pre_fetch", "resource_pre_fetch"])
async def test_a_team_binding_changes_its_teams_entries_whoever_calls_and_no_others(
    hook: str,
) -> None:
    merged = plugin_config.with_bindings(
        plugin_config.PluginsConfig(), [Binding(plugin="scripted", team="blue")]
    )
    plugins = await build(merged, Host(), loader())
    payload = {"name": "echo", "uri": "file:///a"}
    # A member of blue (and red) calling red's entry: blue's binding does not reach it.
    assert not (await run(plugins, hook, payload, teams=("me", "blue"), target_team="red")).modified
    # An entry of no team, or an unknown one, is not blue's either.
    assert not (await run(plugins, hook, payload, teams=("me", "blue"))).modified
    # Blue's entry is changed for anyone who calls it, a member of blue or not.
    assert (await run(plugins, hook, payload, teams=("me", "red"), target_team="blue")).modified
    assert (await run(plugins, hook, payload, teams=("me", "blue"), target_team="blue")).modified


async def test_the_most_specific_binding_wins() -> None:
    base = plugin_config.parse(BASE)
    merged = plugin_config.with_bindings(
        base,
        [
            Binding(plugin="guard", team="blue", config={"action": "allow"}),
            Binding(plugin="guard", team="blue", tool="echo", config={"action": "modify"}),
        ],
    )
    plugins = await build(merged, Host(), loader())
    outcome = await run(plugins, "tool_pre_invoke", call("echo"), target_team="blue")
    assert outcome.payload["trail"] == ["guard@blue/echo"]
    outcome = await run(plugins, "tool_pre_invoke", call("add"), target_team="blue")
    assert not outcome.modified and not outcome.violations


async def test_a_binding_of_an_unconfigured_kind_runs_only_where_it_matches() -> None:
    merged = plugin_config.with_bindings(
        plugin_config.PluginsConfig(), [Binding(plugin="scripted", tool="echo")]
    )
    plugins = await build(merged, Host(), loader())
    assert (await run(plugins, "tool_pre_invoke", call("echo"))).modified
    assert not (await run(plugins, "tool_pre_invoke", call("add"))).modified
