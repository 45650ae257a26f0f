"""The REST plugin API over real NATS, with a real catalog registry (PostgreSQL) and a real
plugin-runner following its bindings: permissions, team rules, the loaded plugins, and a binding
made through REST changing the next call of its team."""

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

from forge.cli.tokens import mint
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import PluginViolationError
from forge.edge.rest.plugins import shown
from forge.edge.state import Edge
from forge.plugin_runner.app import Runner
from forge.plugin_runner.bindings import Follower
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.loader import Loader
from forge.proto.envelope import Envelope, Principal
from forge.proto.plugins import MANIFEST_DECODER, Manifest
from forge.registry.app import Registry
from forge.registry.catalog.store import Store
from forge.registry.config import RegistryConfig
from forge.registry.migrate import migrate
from services.edge.tests.edge_harness import SECRET, IdentityRegistry, client, edge_on, stop, user

ADMIN = user("root@example.com", "platform_admin")
TAMI = user("tami@example.com", "team_admin")  # team-a
DEV = user("dev@example.com", "developer")  # team-a
VERA = user("vera@example.com", "viewer")  # team-a
BO = user("bo@example.com", "team_admin", teams=("team-b", "personal-bo@example.com"))
PLUGINS = "plugins: [{name: deny, kind: deny_list, mode: permissive, config: {words: [nope]}}]"


class Manifests:
    """The runner's announcements, as they come."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Manifest] = asyncio.Queue()

    async def on(self, subject: str, data: bytes) -> None:
        await self.queue.put(MANIFEST_DECODER.decode(data))

    async def until(self, holds: Callable[[set[str]], bool]) -> Manifest:
        """The first announcement from now on whose plugin names satisfy `holds`."""
        async with asyncio.timeout(10):
            while True:
                manifest = await self.queue.get()
                if holds({p.name for p in manifest.plugins}):
                    return manifest


@contextlib.asynccontextmanager
async def plugin_runner(bus: NatsBus, config: Path) -> AsyncIterator[Runner]:
    """A runner with its file, following the catalog's bindings, as `forge run` wires it."""
    settings = PluginRunnerConfig(plugins_config=str(config), drain_s=0, bindings_timeout_s=2)
    runner = Runner(bus, settings, Loader([]))
    await runner.start()
    follower = Follower(bus, runner.bind, settings)
    await follower.start()
    try:
        async with asyncio.timeout(10):
            await follower.loaded.wait()
        yield runner
    finally:
        await follower.close()
        await runner.close()


@pytest.fixture
async def mesh(bus: NatsBus, fresh_database: str, tmp_path: Path) -> AsyncIterator[Edge]:
    """Identity (fixed users), the catalog registry, the plugin-runner and the edge."""
    await IdentityRegistry(bus, [ADMIN, TAMI, DEV, VERA, BO]).start()
    await migrate(fresh_database)
    store = await Store.connect(fresh_database, min_size=1, max_size=4)
    await Registry(bus, store, RegistryConfig()).start()
    path = tmp_path / "plugins.yaml"
    path.write_text(PLUGINS)
    edge = await edge_on(bus)
    try:
        async with plugin_runner(bus, path):
            yield edge
    finally:
        await stop(edge)
        await store.close()


@pytest.fixture
async def manifests(bus: NatsBus) -> Manifests:
    heard = Manifests()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, heard.on)
    await bus.flush()
    return heard


def http(edge: Edge, who: Any) -> Any:
    return client(edge, mint(SECRET, who.email))


async def principal_of(edge: Edge, who: Any) -> Principal:
    """The principal the edge makes of the user's token (what a call carries to the plugins)."""
    return await edge.auth.authenticate(
        f"Bearer {mint(SECRET, who.email)}",
        client_ip="127.0.0.1",
        resource=edge.urls.root,
        server_id=None,
    )


async def blocked_for(edge: Edge, bus: NatsBus, who: Any, tool: str = "echo") -> str | None:
    """The plugin entry that refuses a `tools/call` of `tool` with "nope" by `who` (None: let
    through), asked on the wrapped hook subject as the router asks; the tool is one of the
    caller's first team (a team's binding applies to its own team's tools)."""
    params = {"name": tool, "arguments": {"text": "nope"}}
    call = {"payload": params, "team": who.teams[0]}
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="tools/call",
        params=msgspec.Raw(msgspec.json.encode(call)),
        principal=await principal_of(edge, who),
        deadline=time.time() + 10,
    )
    try:
        await rpc.call(bus, subjects.plugins_call("tool_pre_invoke"), envelope)
    except PluginViolationError as exc:
        return str(exc.data["plugin"])
    return None


ROUTES = [
    ("GET", "/plugins", None, "plugins.read"),
    ("GET", "/plugins/bindings", None, "plugins.read"),
    ("POST", "/plugins/bindings", {"plugin": "deny", "team_id": "team-a"}, "plugins.manage"),
]


@pytest.mark.parametrize(("method", "path", "body", "permission"), ROUTES)
@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_each_route_needs_its_permission(
    mesh: Edge, method: str, path: str, body: Any, permission: str, prefix: str
) -> None:
    for who in (VERA, DEV, TAMI, ADMIN):
        async with http(mesh, who) as h:
            response = await h.request(method, prefix + path, json=body)
        if permission in who.permissions or who.is_admin:
            assert response.status_code in (200, 201), (who.email, response.text)
            if method == "POST":  # one per scope: the next caller finds it made
                async with http(mesh, ADMIN) as h:
                    await h.delete(f"{prefix}{path}/{response.json()['id']}")
        else:
            assert response.status_code == 403, (who.email, response.text)
            assert response.json()["code"] == -32005
            assert response.json()["data"] == {"permission": permission}
    async with client(mesh) as anonymous:
        response = await anonymous.request(method, prefix + path, json=body)
    assert response.status_code == 401 and "www-authenticate" in response.headers


async def test_a_binding_made_through_rest_changes_the_next_call_of_its_team(
    mesh: Edge, bus: NatsBus, manifests: Manifests
) -> None:
    assert await blocked_for(mesh, bus, DEV) is None  # the file's entry only logs
    async with http(mesh, TAMI) as h:
        made = await h.post(
            "/plugins/bindings", json={"plugin": "deny", "team_id": "team-a", "mode": "enforce"}
        )
        assert made.status_code == 201, made.text
        binding = made.json()
        assert (binding["owner"], binding["team_id"], binding["visibility"]) == (
            TAMI.email,
            "team-a",
            "team",
        )
        await manifests.until(lambda names: "deny@team-a/*" in names)
        assert await blocked_for(mesh, bus, DEV) == "deny@team-a/*"
        assert await blocked_for(mesh, bus, BO) is None  # another team's tools are unchanged

        changed = await h.put(f"/v1/plugins/bindings/{binding['id']}", json={"tool": "db_*"})
        assert changed.status_code == 200 and changed.json()["tool"] == "db_*"
        await manifests.until(lambda names: "deny@team-a/db_*" in names)
        assert await blocked_for(mesh, bus, DEV, "echo") is None
        assert await blocked_for(mesh, bus, DEV, "db_query") == "deny@team-a/db_*"

        gone = await h.delete(f"/plugins/bindings/{binding['id']}")
        assert gone.status_code == 200 and gone.json() == {"id": binding["id"], "deleted": True}
        await manifests.until(lambda names: names == {"deny"})
        assert await blocked_for(mesh, bus, DEV, "db_query") is None
        assert (await h.get(f"/plugins/bindings/{binding['id']}")).status_code == 404


async def test_bindings_follow_the_team_and_visibility_rules(mesh: Edge) -> None:
    async with http(mesh, TAMI) as h:
        team = await h.post("/plugins/bindings", json={"plugin": "deny", "team_id": "team-a"})
        private = await h.post(
            "/plugins/bindings",
            json={"plugin": "pii_filter", "team_id": "team-a", "visibility": "private"},
        )
        foreign = await h.post("/plugins/bindings", json={"plugin": "deny", "team_id": "team-b"})
        everyone = await h.post("/plugins/bindings", json={"plugin": "deny", "team_id": None})
    assert team.status_code == 201 and private.status_code == 201
    assert foreign.status_code == 403 and foreign.json()["data"]["field"] == "team_id"
    assert everyone.status_code == 403
    team_id, private_id = team.json()["id"], private.json()["id"]

    async with http(mesh, DEV) as h:  # same team, reads only
        assert [b["id"] for b in (await h.get("/plugins/bindings")).json()] == [team_id]
        assert (await h.get(f"/plugins/bindings/{private_id}")).status_code == 404
        refused = await h.put(f"/plugins/bindings/{team_id}", json={"mode": "audit"})
        assert refused.status_code == 403
        hidden = await h.delete(f"/plugins/bindings/{private_id}")
        assert hidden.status_code == 404 and hidden.json()["code"] == -32006
    async with http(mesh, BO) as h:  # another team's admin
        assert (await h.get("/plugins/bindings")).json() == []
        assert (await h.put(f"/plugins/bindings/{team_id}", json={})).status_code == 404
    async with http(mesh, ADMIN) as h:
        listed = (await h.get("/plugins/bindings", params={"plugin": "deny"})).json()
        assert [b["id"] for b in listed] == [team_id]
        global_ = await h.post("/plugins/bindings", json={"plugin": "deny", "team_id": None})
        assert global_.status_code == 201 and global_.json()["team_id"] is None


async def test_bad_bodies_are_refused(mesh: Edge) -> None:
    async with http(mesh, TAMI) as h:
        not_json = await h.post("/plugins/bindings", content=b"{oops")
        not_object = await h.post("/plugins/bindings", json=["deny"])
        bad_mode = await h.post("/plugins/bindings", json={"plugin": "deny", "mode": "strict"})
        bad_name = await h.post("/plugins/bindings", json={"plugin": "no spaces"})
    assert (not_json.status_code, not_object.status_code) == (400, 400)
    assert bad_mode.status_code == 422 and bad_mode.json()["data"] == {"field": "mode"}
    assert bad_name.status_code == 422 and bad_name.json()["data"] == {"field": "plugin"}


async def test_loaded_plugins_show_what_the_runner_runs_for_the_callers_teams(
    mesh: Edge, manifests: Manifests
) -> None:
    async with http(mesh, ADMIN) as h:
        for team in ("team-a", "team-b"):
            body = {"plugin": "deny", "team_id": team, "mode": "enforce"}
            assert (await h.post("/plugins/bindings", json=body)).status_code == 201
        await h.post("/plugins/bindings", json={"plugin": "nothing_known", "team_id": "team-b"})
    await manifests.until(lambda names: {"deny@team-a/*", "deny@team-b/*"} <= names)
    async with http(mesh, ADMIN) as h:
        everything = (await h.get("/v1/plugins")).json()
    assert {p["name"] for p in everything["plugins"]} == {"deny", "deny@team-a/*", "deny@team-b/*"}
    assert "tool_pre_invoke" in everything["hooks"] and everything["version"]
    [rejected] = everything["rejected"]
    assert rejected["plugin"] == "nothing_known" and "unknown plugin" in rejected["reason"]
    assert all("config" not in p for p in everything["plugins"])
    async with http(mesh, DEV) as h:  # team-a: not team-b's entry, nor its rejected binding
        mine = (await h.get("/plugins")).json()
    assert {p["name"] for p in mine["plugins"]} == {"deny", "deny@team-a/*"}
    assert mine["rejected"] == []
    [shown] = [p for p in mine["plugins"] if p["name"] == "deny@team-a/*"]
    assert (shown["kind"], shown["mode"], shown["teams"]) == ("deny_list", "enforce", ["team-a"])


async def test_loaded_plugins_without_a_runner_is_unavailable(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ADMIN]).start()
    edge = await edge_on(bus)
    try:
        async with http(edge, ADMIN) as h:
            response = await h.get("/plugins")
        assert response.status_code == 503 and response.json()["code"] == -32000
    finally:
        await stop(edge)


def test_loaded_plugins_leave_out_the_entries_of_bindings_the_caller_cannot_see() -> None:
    manifest = MANIFEST_DECODER.decode(
        msgspec.json.encode(
            {
                "plugins": [
                    {"name": "deny", "kind": "deny_list", "mode": "enforce", "priority": 1},
                    {
                        "name": "pii@team-a/*",
                        "kind": "pii",
                        "mode": "enforce",
                        "priority": 1,
                        "teams": ["team-a"],
                    },
                    # Alice's binding on her private tool: its name is hers to know.
                    {
                        "name": "pii@team-a/secret-echo",
                        "kind": "pii",
                        "mode": "enforce",
                        "priority": 1,
                        "teams": ["team-a"],
                        "tools": ["secret-echo"],
                    },
                ],
                "rejected": [
                    {"id": "b1", "plugin": "nope", "team_id": "team-a", "tool": "secret-add"},
                    {"id": "b2", "plugin": "nope", "team_id": "team-a"},
                ],
            }
        )
    )
    principal = Principal(subject="dev@example.com", teams=("team-a",), roles=("developer",))
    seen = [
        {"id": "b0", "plugin": "pii", "team_id": "team-a", "tool": None},
        {"id": "b2", "plugin": "nope", "team_id": "team-a", "tool": None},
    ]
    mine = shown(principal, manifest, seen)
    assert [p.name for p in mine.plugins] == ["deny", "pii@team-a/*"]
    assert [r.id for r in mine.rejected] == ["b2"]
    assert "secret" not in msgspec.json.encode(mine).decode()
    admin = Principal(subject="root@example.com", is_admin=True)
    assert shown(admin, manifest, None) == manifest
