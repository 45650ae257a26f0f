"""The plugin-runner over real NATS: both hook subjects, violations as JSON-RPC errors, the
manifest, bindings, and the router's hook client talking to it."""

from __future__ import annotations

import time
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from runner_harness import Announcements, bare, envelope, running, wrapped

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.config import ConfigError
from forge.core.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    PLUGIN_VIOLATION,
    ForgeError,
    PluginViolationError,
)
from forge.plugins.config import Binding
from forge.plugins.hookspec import hookimpl
from forge.plugins.loader import Loader
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult
from forge.proto.plugins import MANIFEST_DECODER

CONFIG = """
plugins:
  - name: shout
    kind: regex_replace
    priority: 20
    config: {rules: [{pattern: hello, replacement: HELLO}]}
  - name: deny
    kind: deny_list
    priority: 10
    config: {words: [forbidden]}
  - name: echo-only
    kind: output_length_guard
    hooks: [tool_post_invoke]
    conditions: {tools: [echo]}
    config: {max_chars: 3}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.yaml"
    path.write_text(text)
    return path


def call(name: str = "echo", **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


async def test_a_pre_hook_on_the_bare_subject_answers_the_modified_params(
    bus: NatsBus, tmp_path: Path
) -> None:
    async with running(bus, write(tmp_path, CONFIG)):
        answer = await bare(bus, "tool_pre_invoke", call(text="hello there"))
        assert answer == call(text="HELLO there")
        untouched = await bare(bus, "tool_pre_invoke", call(text="nothing"))
        assert untouched == call(text="nothing")


async def test_a_violation_is_a_json_rpc_error_with_the_plugin_and_code(
    bus: NatsBus, tmp_path: Path
) -> None:
    async with running(bus, write(tmp_path, CONFIG)):
        with pytest.raises(PluginViolationError) as raised:
            await bare(bus, "tool_pre_invoke", call(text="a forbidden word"))
    assert raised.value.code == PLUGIN_VIOLATION
    assert raised.value.data == {
        "plugin": "deny",
        "code": "denied_content",
        "reason": "the request contains denied content",
    }


async def test_a_wrapped_post_hook_knows_its_tool_and_says_whether_it_changed(
    bus: NatsBus, tmp_path: Path
) -> None:
    async with running(bus, write(tmp_path, CONFIG)):
        cut = await wrapped(bus, "tool_post_invoke", result("abcdef"), call("echo"))
        assert cut == {"modified": True, "payload": result("abc…")}
        other = await wrapped(bus, "tool_post_invoke", result("abcdef"), call("add"))
        assert other == {"modified": False}
        # on the bare subject the tool is unknown: a tool condition does not match
        assert await bare(bus, "tool_post_invoke", result("abcdef")) == result("abcdef")


async def test_a_cached_result_comes_back_in_place_of_the_call(
    bus: NatsBus, tmp_path: Path
) -> None:
    text = "plugins: [{name: cache, kind: cached_tool_result, config: {tools: [weather]}}]"
    async with running(bus, write(tmp_path, text)):
        request = call("weather", city="Paris")
        assert await wrapped(bus, "tool_pre_invoke", request) == {"modified": False}
        await wrapped(bus, "tool_post_invoke", result("sunny"), request)
        again = await wrapped(bus, "tool_pre_invoke", request)
        assert again == {"modified": False, "result": result("sunny")}


async def test_a_hook_no_plugin_serves_passes_the_payload_through(
    bus: NatsBus, tmp_path: Path
) -> None:
    async with running(bus, write(tmp_path, CONFIG)):
        listed = {"tools": [{"name": "x"}]}
        assert await bare(bus, "tools_post_list", listed) == listed
        assert await wrapped(bus, "tools_post_list", listed) == {"modified": False}


async def test_malformed_wrapped_params_are_invalid_params(bus: NatsBus, tmp_path: Path) -> None:
    async with running(bus, write(tmp_path, CONFIG)):
        with pytest.raises(ForgeError) as raised:
            await rpc.call(bus, subjects.plugins_call("tool_pre_invoke"), envelope([1, 2]))
    assert raised.value.code == INVALID_PARAMS


async def test_the_manifest_is_announced_at_start_and_answered_on_request(
    bus: NatsBus, tmp_path: Path
) -> None:
    heard = Announcements()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, heard.on)
    async with running(bus, write(tmp_path, CONFIG), manifest_interval_s=0.05) as runner:
        first = await heard.next()
        assert first.hooks == runner.plugins.served()
        assert "tool_pre_invoke" in first.hooks and "tools_post_list" not in first.hooks
        assert first.wrapped
        again = await heard.next()  # the periodic announcement
        assert again.version == first.version
        reply = await bus.request(subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + 5)
        assert MANIFEST_DECODER.decode(reply).hooks == first.hooks


async def test_no_config_file_means_no_hooks(bus: NatsBus) -> None:
    heard = Announcements()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, heard.on)
    async with running(bus, None):
        assert (await heard.next()).hooks == []
        assert await bare(bus, "tool_pre_invoke", call(text="hello")) == call(text="hello")


async def test_a_bad_or_missing_file_at_start_is_a_config_error(
    bus: NatsBus, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="mood"):
        async with running(bus, write(tmp_path, "plugins: [{name: a, kind: deny_list, mood: x}]")):
            pass
    with pytest.raises(ConfigError, match="cannot read"):
        async with running(bus, tmp_path / "absent.yaml"):
            pass


class Crashy(Plugin):
    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: Any) -> PluginResult | None:
        raise RuntimeError("crash")


CRASHY = [EntryPoint("crashy", "test_runner_service:Crashy", "forge.plugins")]


async def test_a_plugin_disabled_by_its_failure_leaves_the_manifest(
    bus: NatsBus, tmp_path: Path
) -> None:
    heard = Announcements()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, heard.on)
    text = "plugins: [{name: c, kind: crashy, on_error: disable}]"
    async with running(bus, write(tmp_path, text), Loader(CRASHY)):
        assert (await heard.next()).hooks == ["tool_pre_invoke"]
        assert await bare(bus, "tool_pre_invoke", call()) == call()
        assert (await heard.until([])).hooks == []


async def test_a_crash_with_on_error_fail_is_an_internal_error(
    bus: NatsBus, tmp_path: Path
) -> None:
    text = "plugins: [{name: c, kind: crashy}]"
    async with running(bus, write(tmp_path, text), Loader(CRASHY)):
        with pytest.raises(ForgeError) as raised:
            await bare(bus, "tool_pre_invoke", call())
    assert raised.value.code == INTERNAL_ERROR
    assert "crash" not in raised.value.message.replace("(error id", "")


async def test_bindings_merge_over_the_file(bus: NatsBus, tmp_path: Path) -> None:
    text = "plugins: [{name: deny, kind: deny_list, mode: permissive, config: {words: [nope]}}]"
    async with running(bus, write(tmp_path, text)) as runner:
        assert await bare(bus, "tool_pre_invoke", call(t="nope")) == call(t="nope")
        await runner.set_bindings([Binding(plugin="deny", team="blue", mode="enforce")])
        with pytest.raises(PluginViolationError) as raised:
            await wrapped(bus, "tool_pre_invoke", call(t="nope"), team="blue")
        assert raised.value.data["plugin"] == "deny@blue/*"
        # A call that names no target team (the bare subject cannot) is no team's.
        assert await bare(bus, "tool_pre_invoke", call(t="nope")) == call(t="nope")
