"""The chain: modes, priority order, chaining of changes, error policies, answers in place."""

from __future__ import annotations

import logging

import pytest
from plugin_testkit import CALLS, call, load, run

from forge.core.errors import INTERNAL_ERROR, PLUGIN_VIOLATION, InternalError, PluginViolationError


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def entry(name: str, action: str = "modify", **fields: object) -> str:
    lines = [f"  - name: {name}", "    kind: scripted", f"    config: {{action: {action}}}"]
    lines += [f"    {key}: {value}" for key, value in fields.items()]
    return "\n".join(lines)


def yaml(*entries: str) -> str:
    return "plugins:\n" + "\n".join(entries) + "\n"


async def test_plugins_run_in_priority_order_and_each_sees_the_previous_change() -> None:
    plugins = await load(
        yaml(entry("late", priority=50), entry("early", priority=10), entry("b-tie", priority=50))
    )
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.modified
    assert outcome.payload["trail"] == ["early", "b-tie", "late"]
    assert [trail for _, _, trail in CALLS] == [[], ["early"], ["early", "b-tie"]]


async def test_enforce_blocks_with_a_violation_naming_plugin_and_code() -> None:
    plugins = await load(yaml(entry("first"), entry("guard", "block", priority=200)))
    with pytest.raises(PluginViolationError) as raised:
        await run(plugins, "tool_pre_invoke", call())
    error = raised.value
    assert error.code == PLUGIN_VIOLATION
    assert error.data["plugin"] == "guard"
    assert error.data["code"] == "scripted"
    assert error.data["details"] == {"by": "guard"}


async def test_permissive_logs_the_violation_and_the_request_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugins = await load(
        yaml(entry("soft", "block", mode="permissive"), entry("after", priority=200))
    )
    with caplog.at_level(logging.WARNING, "forge.plugins.chain"):
        outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.payload["trail"] == ["after"]
    assert [name for name, _ in outcome.violations] == ["soft"]
    assert any(getattr(r, "plugin", None) == "soft" for r in caplog.records)


async def test_audit_never_changes_the_payload_nor_blocks() -> None:
    plugins = await load(
        yaml(entry("watcher", mode="audit"), entry("auditor", "block", mode="audit", priority=5))
    )
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert not outcome.modified
    assert "trail" not in outcome.payload
    assert [name for name, _ in outcome.violations] == ["auditor"]
    assert {name for name, _, _ in CALLS} == {"watcher", "auditor"}


async def test_a_disabled_plugin_never_runs_and_serves_no_hook() -> None:
    plugins = await load(yaml(entry("dormant", "block", mode="disabled")))
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert not outcome.modified
    assert CALLS == []
    assert plugins.served() == []


async def test_enforce_ignore_error_blocks_on_violation_but_ignores_a_crash() -> None:
    plugins = await load(
        yaml(entry("crashy", "crash", mode="enforce_ignore_error"), entry("after", priority=200))
    )
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.payload["trail"] == ["after"]
    strict = await load(yaml(entry("strict", "block", mode="enforce_ignore_error")))
    with pytest.raises(PluginViolationError):
        await run(strict, "tool_pre_invoke", call())


async def test_on_error_fail_answers_an_internal_error_without_details() -> None:
    plugins = await load(yaml(entry("crashy", "crash", on_error="fail")))
    with pytest.raises(InternalError) as raised:
        await run(plugins, "tool_pre_invoke", call())
    assert raised.value.code == INTERNAL_ERROR
    assert "scripted crash" not in raised.value.message


async def test_on_error_ignore_skips_the_plugin() -> None:
    plugins = await load(yaml(entry("crashy", "crash", on_error="ignore"), entry("after")))
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.payload["trail"] == ["after"]


async def test_on_error_disable_turns_the_plugin_off_until_reload() -> None:
    plugins = await load(yaml(entry("crashy", "crash", on_error="disable")))
    changes: list[bool] = []
    plugins.on_change = lambda: changes.append(True)
    assert "tool_pre_invoke" in plugins.served()
    await run(plugins, "tool_pre_invoke", call())
    await run(plugins, "tool_pre_invoke", call())
    assert [name for name, _, _ in CALLS] == ["crashy"]
    assert plugins.served() == []
    assert changes == [True]


async def test_a_plugin_slower_than_its_timeout_counts_as_failing() -> None:
    text = yaml(
        "  - name: slow\n    kind: scripted\n    config: {action: sleep, sleep_s: 5}\n"
        "    timeout_s: 0.05\n    on_error: fail"
    )
    plugins = await load(text)
    with pytest.raises(InternalError):
        await run(plugins, "tool_post_invoke", {"content": []})


async def test_a_pre_hook_answer_in_place_of_the_call_ends_the_chain() -> None:
    plugins = await load(yaml(entry("cache", "respond", priority=1), entry("after", "block")))
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.result == {"content": [{"type": "text", "text": "from cache"}]}
    assert [name for name, _, _ in CALLS] == ["cache"]


async def test_an_entry_restricted_to_some_hooks_serves_only_those() -> None:
    plugins = await load(yaml(entry("narrow", hooks="[prompt_pre_fetch]")))
    assert plugins.served() == ["prompt_pre_fetch"]
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert not outcome.modified
