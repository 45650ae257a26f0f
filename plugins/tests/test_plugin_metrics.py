"""Each plugin's run on each hook is timed for the ops port (forge_plugin_duration_seconds)."""

from __future__ import annotations

from plugin_testkit import call, load, run
from prometheus_client import REGISTRY


def runs(plugin: str, hook: str) -> float:
    labels = {"plugin": plugin, "hook": hook}
    return REGISTRY.get_sample_value("forge_plugin_duration_seconds_count", labels) or 0.0


async def test_every_run_of_every_plugin_is_timed_under_its_name_and_hook() -> None:
    plugins = await load(
        "plugins:\n"
        "  - name: timed-a\n    kind: scripted\n    config: {action: modify}\n"
        "  - name: timed-b\n    kind: scripted\n    config: {action: modify}\n    priority: 200\n"
    )
    before = {name: runs(name, "tool_pre_invoke") for name in ("timed-a", "timed-b")}
    for _ in range(3):
        await run(plugins, "tool_pre_invoke", call())
    assert runs("timed-a", "tool_pre_invoke") - before["timed-a"] == 3
    assert runs("timed-b", "tool_pre_invoke") - before["timed-b"] == 3
    assert runs("timed-a", "tool_post_invoke") == 0
