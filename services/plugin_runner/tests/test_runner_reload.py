"""Hot reload: a changed file is picked up without restart; a bad one keeps the running config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from runner_harness import Announcements, bare, running

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import PluginViolationError

DENY = "plugins: [{name: deny, kind: deny_list, config: {words: [apple]}}]"
DENY_OTHER = "plugins: [{name: deny, kind: deny_list, config: {words: [pear]}}]"
POST_ONLY = """
plugins:
  - name: cut
    kind: output_length_guard
    config: {max_chars: 2}
"""


def call(**arguments: Any) -> dict[str, Any]:
    return {"name": "echo", "arguments": arguments}


async def test_a_changed_file_is_used_by_the_next_request_and_announced(
    bus: NatsBus, tmp_path: Path
) -> None:
    heard = Announcements()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, heard.on)
    path = tmp_path / "plugins.yaml"
    path.write_text(DENY)
    async with running(bus, path):
        first = await heard.next()
        assert "tool_pre_invoke" in first.hooks
        with pytest.raises(PluginViolationError):
            await bare(bus, "tool_pre_invoke", call(fruit="apple"))
        path.write_text(DENY_OTHER)
        second = await heard.next()
        assert second.version != first.version
        assert await bare(bus, "tool_pre_invoke", call(fruit="apple")) == call(fruit="apple")
        with pytest.raises(PluginViolationError):
            await bare(bus, "tool_pre_invoke", call(fruit="pear"))
        path.write_text(POST_ONLY)
        third = await heard.next()
        assert third.hooks == [
            "tool_post_invoke",
            "prompt_post_fetch",
            "resource_post_fetch",
            "agent_post_invoke",
        ]
        assert await bare(bus, "tool_pre_invoke", call(fruit="pear")) == call(fruit="pear")


async def test_a_bad_file_keeps_the_running_config_and_says_why(
    bus: NatsBus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text(DENY)
    async with running(bus, path, reload_interval_s=3600) as runner:
        version = runner.version
        for bad in (
            "plugins: [{name: deny, kind: deny_list, config: {words: [pear]}",  # YAML
            "plugins: [{name: deny, kind: deny_list, config: {wrods: [pear]}}]",  # config
            "plugins: [{name: deny, kind: no_such_kind}]",  # kind
        ):
            path.write_text(bad)
            with caplog.at_level(logging.ERROR, "forge.plugin_runner"):
                assert not await runner.reload()
            assert "keeping the running one" in caplog.records[-1].getMessage()
            assert runner.version == version
            with pytest.raises(PluginViolationError):
                await bare(bus, "tool_pre_invoke", call(fruit="apple"))
        path.unlink()
        assert not await runner.reload()
        path.write_text(DENY_OTHER)
        assert await runner.reload()
        assert await bare(bus, "tool_pre_invoke", call(fruit="apple")) == call(fruit="apple")


async def test_rewriting_the_same_content_is_not_a_reload(bus: NatsBus, tmp_path: Path) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text(DENY)
    async with running(bus, path, reload_interval_s=3600) as runner:
        version = runner.version
        path.write_text(DENY)
        assert not await runner.reload()
        assert runner.version == version
