"""The manifest's `inline` section (the hooks a router may run in-process, with their entries)
and the wrapped call answered from the target alone when no plugin matches."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from runner_harness import envelope, running, wrapped

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.plugins.config import Binding
from forge.plugins.inline import InlineChain
from forge.proto.plugins import MANIFEST_DECODER

CALLS = ["tool_pre_invoke", "tool_post_invoke"]
_INLINE = msgspec.json.Decoder(dict[str, InlineChain])


def write(path: Path, *entries: dict[str, object]) -> Path:
    path.write_text(json.dumps({"plugins": list(entries), "defaults": {"timeout_s": 3}}))
    return path


async def test_only_hooks_whose_every_plugin_is_pure_and_stateless_are_inline(
    bus: NatsBus, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "plugins.yaml",
        {"name": "pii", "kind": "pii_filter", "hooks": CALLS, "config": {"mask_mode": "partial"}},
        {"name": "limit", "kind": "rate_limiter", "hooks": ["tool_pre_invoke"]},
        {"name": "deny", "kind": "deny_list", "on_error": "disable", "hooks": ["prompt_pre_fetch"]},
        {"name": "shout", "kind": "regex_replace", "hooks": ["prompt_post_fetch"], "priority": 5},
    )
    async with running(bus, path) as runner:
        await runner.set_bindings([Binding(plugin="shout", team="red", mode="disabled")])
        got = MANIFEST_DECODER.decode(runner.manifest())
        assert got.loaded_at > 0
        inline = _INLINE.decode(got.inline)
        assert set(inline) == {"tool_post_invoke", "prompt_post_fetch"}
        (pii,) = inline["tool_post_invoke"].plugins
        assert (pii.name, pii.kind, pii.config) == ("pii", "pii_filter", {"mask_mode": "partial"})
        assert inline["tool_post_invoke"].defaults.timeout_s == 3
        # The binding comes along, as the stand-in that turns the entry off for its team.
        shout = inline["prompt_post_fetch"].plugins
        assert [(e.name, e.overrides, e.conditions.target_teams) for e in shout] == [
            ("shout", None, ()),
            ("shout@red/*", "shout", ("red",)),
        ]


async def test_a_plugin_listening_to_violations_keeps_every_hook_in_the_runner(
    bus: NatsBus, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "plugins.yaml",
        {"name": "pii", "kind": "pii_filter", "hooks": CALLS},
        {"name": "tell", "kind": "webhook_notification", "config": {"url": "http://127.0.0.1:9/"}},
    )
    async with running(bus, path) as runner:
        assert _INLINE.decode(MANIFEST_DECODER.decode(runner.manifest()).inline) == {}


async def test_a_wrapped_call_no_plugin_matches_is_answered_from_its_target(
    bus: NatsBus, tmp_path: Path
) -> None:
    rules = {"rules": [{"pattern": "hello", "replacement": "bye"}]}
    path = write(
        tmp_path / "plugins.yaml",
        {"name": "swap", "kind": "regex_replace", "config": rules, "conditions": {"tools": ["a*"]}},
    )
    result = {"content": [{"type": "text", "text": "hello"}]}
    async with running(bus, path):
        for request in ({"name": "other"}, None, {"name": 7}):
            call = {"payload": result, **({"request": request} if request is not None else {})}
            env = envelope(call)
            data = await rpc.call(bus, subjects.plugins_call("tool_post_invoke"), env)
            assert data == b'{"modified":false}'
        changed = await wrapped(bus, "tool_post_invoke", result, {"name": "alpha"})
        assert changed["payload"]["content"][0]["text"] == "bye"
        pre = await wrapped(bus, "tool_pre_invoke", {"name": "alpha", "arguments": {"q": "hello"}})
        assert pre["payload"]["arguments"] == {"q": "bye"}
        data = await rpc.call(
            bus, subjects.plugins_call("tool_pre_invoke"), envelope({"payload": {"name": "b"}})
        )
        assert data == b'{"modified":false}'
