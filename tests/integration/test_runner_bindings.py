"""The catalog's plugin bindings in a running plugin-runner, over real NATS with a real catalog
registry on PostgreSQL: loaded at start, followed by events, re-read, and left out when unusable."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import PluginViolationError
from forge.plugin_runner.app import Runner
from forge.plugin_runner.bindings import Follower
from forge.plugins.builtin.webhook import WebhookNotification
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Envelope, Principal
from forge.proto.plugins import Manifest, PluginBinding
from forge.registry.app import Registry
from forge.registry.catalog.store import Store
from forge.registry.config import RegistryConfig
from forge.registry.migrate import migrate
from forge.testing.listener import Listener
from services.plugin_runner.tests.runner_harness import Announcements, bare, running, wrapped

ADMIN = Principal(subject="admin@test", is_admin=True)
TEAM_ADMIN = BUILTIN_ROLES["team_admin"]
ALICE = Principal(
    subject="alice@x", teams=("p-alice", "team-a"), roles=("team_admin",), permissions=TEAM_ADMIN
)
CAROL = Principal(
    subject="carol@x", teams=("p-carol", "team-b"), roles=("team_admin",), permissions=TEAM_ADMIN
)
PERMISSIVE = """
plugins:
  - name: deny
    kind: deny_list
    mode: permissive
    config: {words: [nope]}
"""
ENFORCED = "plugins: [{name: deny, kind: deny_list, config: {words: [nope]}}]"
_ENC = msgspec.json.Encoder()


def call(tool: str = "echo", **arguments: Any) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments}


async def blocked(
    bus: NatsBus, principal: Principal, tool: str = "echo", team: str | None = None
) -> str | None:
    """The plugin entry that blocks `nope` sent by `principal` to `tool` of `team` (by default
    the principal's shared team, listed last), or None."""
    team = team or principal.teams[-1]
    try:
        await wrapped(bus, "tool_pre_invoke", call(tool, t="nope"), principal=principal, team=team)
    except PluginViolationError as exc:
        return str(exc.data["plugin"])
    return None


class Catalog:
    """The catalog registry's plugin binding operations, asked over the bus."""

    def __init__(self, bus: NatsBus, store: Store) -> None:
        self.bus = bus
        self.store = store

    async def __call__(self, op: str, params: Any, as_: Principal = ADMIN) -> Any:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"catalog.plugin_bindings.{op}",
            params=msgspec.Raw(_ENC.encode(params)),
            principal=as_,
            deadline=time.time() + 10,
        )
        subject = subjects.registry(subjects.CATALOG, "plugin_bindings", op)
        return msgspec.json.decode(await rpc.call(self.bus, subject, envelope))


@pytest.fixture
async def store(fresh_database: str) -> AsyncIterator[Store]:
    await migrate(fresh_database)
    opened = await Store.connect(fresh_database, min_size=1, max_size=4)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def catalog(bus: NatsBus, store: Store) -> Catalog:
    await Registry(bus, store, RegistryConfig()).start()
    await bus.flush()
    return Catalog(bus, store)


@contextlib.asynccontextmanager
async def following(runner: Runner, bus: NatsBus, **settings: Any) -> AsyncIterator[Follower]:
    follower = Follower(
        bus, runner.bind, msgspec.structs.replace(runner.settings, bindings_timeout_s=2, **settings)
    )
    await follower.start()
    try:
        yield follower
    finally:
        await follower.close()


async def until(heard: Announcements, holds: Callable[[Manifest], bool]) -> Manifest:
    """The first manifest announced from now on for which `holds` is true."""
    async with asyncio.timeout(10):
        while True:
            manifest = await heard.next()
            if holds(manifest):
                return manifest


def names(manifest: Manifest) -> set[str]:
    return {p.name for p in manifest.plugins}


@pytest.fixture
async def heard(bus: NatsBus) -> Announcements:
    announcements = Announcements()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, announcements.on)
    await bus.flush()
    return announcements


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.yaml"
    path.write_text(text)
    return path


async def test_a_binding_changes_the_next_call_of_its_teams_tools_only_and_follows_changes(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    async with running(bus, config_file(tmp_path, PERMISSIVE)) as runner:
        async with following(runner, bus) as follower:
            await asyncio.wait_for(follower.loaded.wait(), 10)
            assert await blocked(bus, ALICE) is None  # the file's entry only logs
            made = await catalog(
                "create", {"plugin": "deny", "team_id": "team-a", "mode": "enforce"}, ALICE
            )
            await until(heard, lambda m: "deny@team-a/*" in names(m))
            assert await blocked(bus, ALICE) == "deny@team-a/*"
            assert await blocked(bus, CAROL) is None
            # Team-a's binding is about team-a's tools, whoever calls them, and no others:
            # not team-b's tool called by a member of team-a, nor a tool of no team.
            assert await blocked(bus, CAROL, team="team-a") == "deny@team-a/*"
            assert await blocked(bus, ALICE, team="team-b") is None
            assert await blocked(bus, ALICE, team="p-alice") is None
            with_no_team = call(t="nope")
            await bare(bus, "tool_pre_invoke", with_no_team, principal=ALICE)
            await wrapped(bus, "tool_pre_invoke", with_no_team, principal=ALICE)

            await catalog("update", {"id": made["id"], "tool": "db_*"}, ALICE)
            await until(heard, lambda m: "deny@team-a/db_*" in names(m))
            assert await blocked(bus, ALICE, "echo") is None
            assert await blocked(bus, ALICE, "db_query") == "deny@team-a/db_*"

            await catalog("delete", {"id": made["id"]}, ALICE)
            await until(heard, lambda m: names(m) == {"deny"})
            assert await blocked(bus, ALICE, "db_query") is None


async def test_a_runner_started_before_the_registry_loads_the_bindings_once_it_answers(
    bus: NatsBus, store: Store, heard: Announcements, tmp_path: Path
) -> None:
    async with running(bus, config_file(tmp_path, PERMISSIVE)) as runner:
        async with following(runner, bus) as follower:
            # No registry yet: the runner serves its file and waits for the bindings.
            assert await blocked(bus, ALICE) is None
            assert not follower.loaded.is_set()
            made = PluginBinding(
                id="b1", plugin="deny", team_id="team-a", tool=None, mode="enforce",
                config={}, priority=None, owner="alice@x", visibility="team",
            )  # fmt: skip
            await store.insert_plugin_binding(made)  # stored while no registry announced it
            await Registry(bus, store, RegistryConfig()).start()
            await until(heard, lambda m: "deny@team-a/*" in names(m))
            assert follower.loaded.is_set()
            assert await blocked(bus, ALICE) == "deny@team-a/*"


async def test_a_lost_event_is_caught_up_by_the_periodic_read(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    async with running(bus, config_file(tmp_path, PERMISSIVE)) as runner:
        async with following(runner, bus, bindings_resync_s=0.2) as follower:
            await asyncio.wait_for(follower.loaded.wait(), 10)
            silent = PluginBinding(
                id="b2", plugin="deny", team_id="team-b", tool=None, mode="enforce",
                config={}, priority=None, owner="carol@x", visibility="team",
            )  # fmt: skip
            await catalog.store.insert_plugin_binding(silent)  # no event is published
            await until(heard, lambda m: "deny@team-b/*" in names(m))
            assert await blocked(bus, CAROL) == "deny@team-b/*"


async def test_a_disabled_binding_turns_the_entry_off_where_it_matches(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    async with running(bus, config_file(tmp_path, ENFORCED)) as runner:
        async with following(runner, bus) as follower:
            await asyncio.wait_for(follower.loaded.wait(), 10)
            assert await blocked(bus, ALICE) == "deny"
            params = {"plugin": "deny", "team_id": "team-a", "tool": "ech?", "mode": "disabled"}
            await catalog("create", params, ADMIN)  # only platform admins may disable one
            manifest = await until(heard, lambda m: "deny@team-a/ech?" in names(m))
            [shown] = [p for p in manifest.plugins if p.name == "deny@team-a/ech?"]
            assert (shown.kind, shown.mode, shown.active) == ("deny_list", "disabled", False)
            assert manifest.hooks == runner.plugins.served()
            assert "tool_pre_invoke" in manifest.hooks
            assert await blocked(bus, ALICE, "echo") is None
            assert await blocked(bus, ALICE, "db_query") == "deny"
            assert await blocked(bus, CAROL, "echo") == "deny"


async def test_unusable_bindings_are_left_out_and_reported_while_the_others_apply(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    async with running(bus, config_file(tmp_path, PERMISSIVE)) as runner:
        async with following(runner, bus) as follower:
            await asyncio.wait_for(follower.loaded.wait(), 10)
            unknown = await catalog("create", {"plugin": "no_such_plugin", "team_id": "team-a"})
            bad = await catalog(
                "create", {"plugin": "deny", "team_id": "team-b", "config": {"words": 5}}
            )
            good = await catalog(
                "create", {"plugin": "deny", "team_id": "team-a", "mode": "enforce"}
            )
            manifest = await until(heard, lambda m: "deny@team-a/*" in names(m))
            assert {r.id for r in manifest.rejected} == {unknown["id"], bad["id"]}
            reasons = {r.id: r.reason for r in manifest.rejected}
            assert "unknown plugin" in reasons[unknown["id"]]
            assert "bad config" in reasons[bad["id"]]
            assert await blocked(bus, ALICE) == "deny@team-a/*"
            assert good["id"] not in reasons


async def test_a_file_reload_keeps_the_bindings_that_still_fit(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    path = config_file(tmp_path, PERMISSIVE)
    async with running(bus, path) as runner:
        async with following(runner, bus) as follower:
            await asyncio.wait_for(follower.loaded.wait(), 10)
            made = await catalog(
                "create", {"plugin": "deny", "team_id": "team-a", "mode": "enforce"}
            )
            first = await until(heard, lambda m: "deny@team-a/*" in names(m))
            path.write_text(PERMISSIVE.replace("nope", "nope, nah"))
            second = await until(heard, lambda m: m.version != first.version)
            assert names(second) == {"deny", "deny@team-a/*"}
            assert await blocked(bus, ALICE) == "deny@team-a/*"
            # The entry it overrides is gone: the binding is left out, the new file loads.
            path.write_text("plugins: [{name: other, kind: deny_list, config: {words: [x]}}]")
            manifest = await until(heard, lambda m: names(m) == {"other"})
            assert [r.id for r in manifest.rejected] == [made["id"]]
            assert await blocked(bus, ALICE) is None


async def test_the_runner_process_loads_bindings_at_start(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path, nats_url: str
) -> None:
    from services.plugin_runner.tests.test_runner_main import start

    await catalog("create", {"plugin": "deny", "team_id": "team-a", "mode": "enforce"})
    path = config_file(tmp_path, PERMISSIVE)
    proc = start({"FORGE_NATS_URL": nats_url, "FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG": str(path)})
    try:
        await until(heard, lambda m: "deny@team-a/*" in names(m))
        assert await blocked(bus, ALICE) == "deny@team-a/*"
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0


# -- plugins that dial out


def webhook_file(tmp_path: Path, url: str) -> Path:
    return config_file(
        tmp_path,
        f'plugins: [{{name: notify, kind: webhook_notification, config: {{url: "{url}"}}}}]',
    )


async def test_a_binding_may_not_change_where_an_operators_entry_connects_to(
    bus: NatsBus, catalog: Catalog, heard: Announcements, tmp_path: Path
) -> None:
    with Listener() as listener:
        path = webhook_file(tmp_path, listener.url)
        async with running(bus, path, upstream_allowed_networks="127.0.0.0/8") as runner:
            async with following(runner, bus) as follower:
                await asyncio.wait_for(follower.loaded.wait(), 10)
                # The registry cannot tell a file entry's kind: the runner keeps the rule
                # (for everyone: a platform admin binds the kind itself instead).
                moved = await catalog(
                    "create",
                    {"plugin": "notify", "team_id": "team-a", "config": {"url": "http://x/"}},
                )
                scoped = await catalog("create", {"plugin": "notify", "team_id": "team-b"})
                manifest = await until(heard, lambda m: "notify@team-b/*" in names(m))
                assert [r.id for r in manifest.rejected] == [moved["id"]]
                assert scoped["id"] not in {r.id for r in manifest.rejected}


@pytest.mark.parametrize(("allowed", "reaches"), [("", False), ("127.0.0.0/8", True)])
async def test_the_runner_dials_plugins_through_its_ssrf_guard(
    bus: NatsBus, tmp_path: Path, allowed: str, reaches: bool
) -> None:
    with Listener() as listener:
        path = webhook_file(tmp_path, listener.url)
        async with running(bus, path, upstream_allowed_networks=allowed) as runner:
            failed = {"content": [], "isError": True}
            await wrapped(bus, "tool_post_invoke", failed, call(), principal=ALICE)
            webhook = next(iter(runner.plugins.plugins.values()))
            assert isinstance(webhook, WebhookNotification)
            async with asyncio.timeout(10):
                await asyncio.gather(*webhook.pending)
            assert (webhook.sent, listener.received) == ((1, 1) if reaches else (0, 0))


async def test_a_bad_allow_list_stops_the_runner_naming_the_setting(bus: NatsBus) -> None:
    from forge.core.config import ConfigError

    with pytest.raises(ConfigError, match="FORGE_UPSTREAM_ALLOWED_NETWORKS"):
        async with running(bus, None, upstream_allowed_networks="10.0.0.0/8,nope"):
            pass
