"""Loading plugin kinds: built-ins, `forge.plugins` entry points, and refusing what cannot load."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from plugin_testkit import call, load, run

from forge.plugins.config import PluginConfigError
from forge.plugins.loader import BUILTINS, Loader


async def test_an_entry_point_plugin_is_loaded_and_runs() -> None:
    plugins = await load("plugins: [{name: ep, kind: scripted}]")
    assert "tool_pre_invoke" in plugins.served()
    outcome = await run(plugins, "tool_pre_invoke", call())
    assert outcome.payload["trail"] == ["ep"]


def test_installed_entry_points_are_read_from_the_group_by_default() -> None:
    loader = Loader()
    assert set(BUILTINS) <= set(loader.kinds())


def test_every_built_in_kind_imports() -> None:
    loader = Loader([])
    for kind in BUILTINS:
        assert callable(loader.factory(kind))


def test_a_built_in_name_wins_over_an_entry_point_of_the_same_name() -> None:
    loader = Loader([EntryPoint("deny_list", "plugin_testkit:Scripted", "forge.plugins")])
    assert loader.factory("deny_list").__name__ == "DenyList"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("plugins: [{name: a, kind: nosuch}]", "unknown plugin kind"),
        ("plugins: [{name: a, kind: missing}]", "cannot be loaded"),
        ("plugins: [{name: a, kind: broken}]", "failed to start"),
        ("plugins: [{name: a, kind: nohooks}]", "implements no hook"),
        ("plugins: [{name: a, kind: scripted, hooks: [tools_post_list]}]", "does not implement"),
        ("plugins: [{name: a, kind: scripted, config: {actoin: block}}]", "actoin"),
        ("plugins: [{name: a, kind: deny_list, config: {patterns: ['(']}}]", "bad pattern"),
    ],
)
async def test_a_plugin_that_cannot_load_fails_the_whole_configuration(
    text: str, says: str
) -> None:
    with pytest.raises(PluginConfigError, match=says):
        await load(text)
