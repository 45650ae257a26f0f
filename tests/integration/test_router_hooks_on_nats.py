"""The router's hook client (forge.router.hooks) against a real plugin-runner over a real
nats-server: it learns the served hooks from the manifest, runs pre and post hooks, and a block
reaches it as a plugin violation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import PluginViolationError
from forge.router.hooks import Hooks
from services.plugin_runner.tests.runner_harness import envelope, running

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


def call(**arguments: Any) -> dict[str, Any]:
    return {"name": "echo", "arguments": arguments}


def result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


async def test_the_routers_hook_client_works_against_the_runner(
    bus: NatsBus, tmp_path: Path
) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text(CONFIG)
    async with running(bus, path):
        hooks = Hooks(bus)
        hooks.on_manifest(
            await bus.request(subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + 5)
        )
        assert hooks.serves("tool_pre_invoke") and hooks.serves("tool_post_invoke")
        sent = envelope(call(text="hello"))
        changed = await hooks.run("tool_pre_invoke", sent)
        assert msgspec.json.decode(changed.params) == call(text="HELLO")
        post = await hooks.run_post("tool_post_invoke", sent, msgspec.json.encode(result("x")))
        assert msgspec.json.decode(post) == result("x")
        with pytest.raises(PluginViolationError):
            await hooks.run("tool_pre_invoke", envelope(call(text="forbidden")))
