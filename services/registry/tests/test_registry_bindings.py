"""Plugin bindings in the catalog: validation, team and visibility rules, conflicts, events, and
the snapshot the plugin-runner loads at start."""

from __future__ import annotations

from typing import Any

import pytest
from registry_harness import ADMIN, Client, code_of, error_of, person

from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND

ALICE = person("alice@x", "p-alice", "team-a", role="team_admin")
BOB = person("bob@x", "p-bob", "team-a", role="developer")
CAROL = person("carol@x", "p-carol", "team-b", role="team_admin")
DANA = person("dana@x", "p-dana", "team-a", role="team_admin")
VIEWER = person("vic@x", role="platform_viewer")
LONER = person("loner@x", role="team_admin")  # a member of no team
WHO = {"owner": ALICE, "same team": BOB, "other team": CAROL, "team admin": DANA}
WHO |= {"admin": ADMIN, "platform viewer": VIEWER}
SEES = {
    "private": {"owner", "admin", "platform viewer"},
    "team": {"owner", "same team", "team admin", "admin", "platform viewer"},
    "public": set(WHO),
}
MANAGES = {
    "private": {"owner", "admin"},
    "team": {"owner", "team admin", "admin"},
    "public": {"owner", "team admin", "admin"},
}


def binding(**given: Any) -> dict[str, Any]:
    return {"plugin": "pii", "team_id": "team-a", **given}


async def test_a_binding_is_created_listed_fetched_updated_and_deleted_with_events(
    client: Client,
) -> None:
    created = await client(
        "plugin_bindings",
        "create",
        binding(tool="db_*", mode="enforce", config={"action": "block"}, priority=5),
        as_=ALICE,
    )
    assert created["plugin"] == "pii" and created["team_id"] == "team-a"
    assert (created["tool"], created["mode"], created["priority"]) == ("db_*", "enforce", 5)
    assert created["config"] == {"action": "block"}
    assert (created["owner"], created["visibility"]) == ("alice@x", "team")
    assert created["created_at"].endswith("Z")
    assert client.events("plugin_bindings", "changed") == [created]
    assert await client("plugin_bindings", "list", as_=ALICE) == [created]
    assert await client("plugin_bindings", "get", {"id": created["id"]}, as_=BOB) == created

    updated = await client(
        "plugin_bindings",
        "update",
        {"id": created["id"], "mode": "enforce", "tool": None, "config": {"mask_mode": "hash"}},
        as_=ALICE,
    )
    assert (updated["mode"], updated["tool"], updated["config"]) == (
        "enforce",
        None,
        {"mask_mode": "hash"},
    )
    assert updated["priority"] == 5 and updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    reset = await client("plugin_bindings", "update", {"id": created["id"], "mode": None})
    assert reset["mode"] is None and reset["priority"] == 5
    assert client.events("plugin_bindings", "changed")[1:] == [updated, reset]

    gone = await client("plugin_bindings", "delete", {"id": created["id"]}, as_=ALICE)
    assert gone == {"id": created["id"], "deleted": True}
    assert client.events("plugin_bindings", "deleted") == [{"id": created["id"]}]
    assert await client("plugin_bindings", "list") == []
    assert await code_of(client("plugin_bindings", "get", {"id": created["id"]})) == NOT_FOUND


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"plugin": ""}, "plugin"),
        ({"plugin": "pii filter"}, "plugin"),
        ({"plugin": "x" * 101}, "plugin"),
        ({"mode": "block"}, "mode"),
        ({"tool": "bad\nname"}, "tool"),
        ({"tool": ""}, "tool"),
        ({"visibility": "everyone"}, "visibility"),
        ({"config": {"blob": "x" * 70_000}}, "config"),
    ],
)
async def test_bad_params_are_refused_naming_the_field(
    client: Client, given: dict[str, Any], field: str
) -> None:
    error = await error_of(client("plugin_bindings", "create", binding(**given), as_=ALICE))
    assert error.code == INVALID_PARAMS
    assert error.data["field"] == field
    assert await client("plugin_bindings", "list") == []


@pytest.mark.parametrize(
    "given",
    [
        {"config": ["not", "an", "object"]},
        {"priority": "high"},
        {"priority": 10**9},
        {"plugin": None},
        {"team_id": 7},
    ],
)
async def test_mistyped_params_are_invalid(client: Client, given: dict[str, Any]) -> None:
    assert await code_of(client("plugin_bindings", "create", binding(**given))) == INVALID_PARAMS


async def test_tool_is_an_exposed_name_of_the_bindings_team_the_caller_sees_or_a_pattern(
    client: Client,
) -> None:
    url = "http://127.0.0.1:9000/mcp"
    gateway = {"name": "Alpha", "url": url, "team_id": "team-b", "visibility": "team"}
    await client("gateways", "create", gateway, as_=CAROL)
    theirs = binding(team_id="team-b", tool="alpha-echo")
    made = await client("plugin_bindings", "create", theirs, as_=CAROL)
    assert made["tool"] == "alpha-echo"
    everyone = await client("plugin_bindings", "create", {**theirs, "team_id": None}, as_=ADMIN)
    assert everyone["tool"] == "alpha-echo"
    # A team's binding applies to its own team's tools only: naming another team's is refused,
    # 403 to who sees that tool (even a platform admin), 404 to who does not (as unknown).
    assert (
        await code_of(client("plugin_bindings", "create", binding(tool="alpha-echo"), as_=ADMIN))
        == FORBIDDEN
    )
    hidden = await error_of(
        client("plugin_bindings", "create", binding(tool="alpha-echo", plugin="x"), as_=ALICE)
    )
    unknown = await error_of(
        client("plugin_bindings", "create", binding(tool="no-such-tool"), as_=ALICE)
    )
    assert (hidden.code, hidden.data["field"]) == (unknown.code, unknown.data["field"])
    assert (hidden.code, hidden.data["field"]) == (NOT_FOUND, "tool")
    for pattern in ("alpha-*", "*", "db_[ab]?"):
        await client("plugin_bindings", "create", binding(plugin="x", tool=pattern), as_=ALICE)


async def test_a_team_admin_who_is_a_member_of_another_team_cannot_bind_its_tools(
    client: Client,
) -> None:
    both = person("xena@x", "p-xena", "team-a", "team-b", role="team_admin")
    url = "http://127.0.0.1:9000/mcp"
    gateway = {"name": "Alpha", "url": url, "team_id": "team-b", "visibility": "team"}
    await client("gateways", "create", gateway, as_=CAROL)
    made = await client("plugin_bindings", "create", binding(tool="alpha-*"), as_=both)
    assert (
        await code_of(client("plugin_bindings", "create", binding(tool="alpha-echo"), as_=both))
        == FORBIDDEN
    )
    # Nor by changing the tool, or moving a team-b binding to team-a.
    renamed = client(
        "plugin_bindings", "update", {"id": made["id"], "tool": "alpha-echo"}, as_=both
    )
    assert await code_of(renamed) == FORBIDDEN
    carols = await client(
        "plugin_bindings", "create", binding(team_id="team-b", tool="alpha-echo"), as_=CAROL
    )
    moved = client("plugin_bindings", "update", {"id": carols["id"], "team_id": "team-a"})
    assert await code_of(moved) == FORBIDDEN
    assert [b["tool"] for b in await client("plugin_bindings", "list", {"team_id": "team-a"})] == [
        "alpha-*"
    ]


@pytest.mark.parametrize(
    ("plugin", "config", "field"),
    [
        ("regex_replace", {"rules": [{"pattern": "(a)\\1"}]}, "config.rules[0].pattern"),
        (
            "regex_replace",
            {"rules": [{"pattern": "ok"}, {"pattern": "(?=a)"}]},
            "config.rules[1].pattern",
        ),
        ("deny_list", {"patterns": ["fine", "(?<!x)y"]}, "config.patterns[1]"),
        ("url_reputation", {"deny_patterns": ["("]}, "config.deny_patterns[0]"),
        ("regex_replace", {"rules": [{"pattern": "x{2000}"}]}, "config.rules[0].pattern"),
        ("regex_replace", {"rulez": []}, "config"),
    ],
)
async def test_a_config_a_builtin_kind_refuses_is_refused_naming_the_setting(
    client: Client, plugin: str, config: dict[str, Any], field: str
) -> None:
    made = binding(plugin=plugin, config=config)
    error = await error_of(client("plugin_bindings", "create", made, as_=ALICE))
    assert (error.code, error.data["field"]) == (INVALID_PARAMS, field)
    fine = await client("plugin_bindings", "create", binding(plugin=plugin), as_=ALICE)
    changed = client("plugin_bindings", "update", {"id": fine["id"], "config": config}, as_=ALICE)
    assert (await error_of(changed)).data["field"] == field


async def test_a_pattern_that_backtracks_in_python_is_taken_it_runs_in_linear_time(
    client: Client,
) -> None:
    redos = {"rules": [{"pattern": "(a+)+$", "replacement": "b"}]}
    await client("plugin_bindings", "create", binding(plugin="regex_replace", config=redos))


async def test_the_team_must_be_the_callers_and_every_team_is_for_admins(client: Client) -> None:
    assert await code_of(client("plugin_bindings", "create", binding(), as_=CAROL)) == FORBIDDEN
    everyone = client("plugin_bindings", "create", binding(team_id=None), as_=ALICE)
    assert await code_of(everyone) == FORBIDDEN
    mine = await client("plugin_bindings", "create", {"plugin": "pii"}, as_=ALICE)
    assert mine["team_id"] == "p-alice"  # the personal team when none is named
    lonely = client("plugin_bindings", "create", {"plugin": "pii"}, as_=LONER)
    assert await code_of(lonely) == INVALID_PARAMS
    admins = await client("plugin_bindings", "create", binding(team_id=None), as_=ADMIN)
    assert (admins["team_id"], admins["visibility"], admins["owner"]) == (
        None,
        "private",
        "admin@test",
    )
    anyone = await client("plugin_bindings", "create", binding(team_id="team-z"), as_=ADMIN)
    assert anyone["team_id"] == "team-z"
    # Moving a binding follows the same rule.
    moved = client("plugin_bindings", "update", {"id": mine["id"], "team_id": "team-b"}, as_=ALICE)
    assert await code_of(moved) == FORBIDDEN
    widened = client("plugin_bindings", "update", {"id": mine["id"], "team_id": None}, as_=ALICE)
    assert await code_of(widened) == FORBIDDEN
    assert (await client("plugin_bindings", "get", {"id": mine["id"]}))["team_id"] == "p-alice"


async def test_one_binding_per_plugin_team_and_tool(client: Client) -> None:
    await client("plugin_bindings", "create", binding(tool="db_*"), as_=ALICE)
    again = client("plugin_bindings", "create", binding(tool="db_*", mode="enforce"), as_=DANA)
    assert await code_of(again) == CONFLICT
    other = await client("plugin_bindings", "create", binding(tool="fs_*"), as_=ALICE)
    await client("plugin_bindings", "create", binding(), as_=ALICE)  # no tool: a scope of its own
    clash = client("plugin_bindings", "update", {"id": other["id"], "tool": "db_*"}, as_=ALICE)
    assert await code_of(clash) == CONFLICT
    await client("plugin_bindings", "create", binding(team_id=None), as_=ADMIN)
    assert await code_of(client("plugin_bindings", "create", binding(team_id=None))) == CONFLICT


@pytest.mark.parametrize("visibility", ["private", "team", "public"])
async def test_bindings_are_seen_and_managed_by_exactly_those_the_rules_admit(
    client: Client, visibility: str
) -> None:
    made = await client("plugin_bindings", "create", binding(visibility=visibility), as_=ALICE)
    for who, principal in WHO.items():
        sees, manages = who in SEES[visibility], who in MANAGES[visibility]
        listed = await client("plugin_bindings", "list", as_=principal)
        assert [b["id"] for b in listed] == ([made["id"]] if sees else []), who
        get = client("plugin_bindings", "get", {"id": made["id"]}, as_=principal)
        if sees:
            assert (await get)["id"] == made["id"]
        else:
            assert await code_of(get) == NOT_FOUND, who
        change = client(
            "plugin_bindings", "update", {"id": made["id"], "priority": 1}, as_=principal
        )
        if manages:
            await change
        else:
            assert await code_of(change) == (FORBIDDEN if sees else NOT_FOUND), who
    denied = FORBIDDEN if "same team" in SEES[visibility] else NOT_FOUND
    assert await code_of(client("plugin_bindings", "delete", {"id": made["id"]}, as_=BOB)) == denied
    await client("plugin_bindings", "delete", {"id": made["id"]}, as_=ALICE)
    assert await client("plugin_bindings", "list") == []


async def test_list_filters_by_plugin_and_team(client: Client) -> None:
    a = await client("plugin_bindings", "create", binding(), as_=ALICE)
    b = await client("plugin_bindings", "create", binding(plugin="deny"), as_=ALICE)
    c = await client("plugin_bindings", "create", binding(team_id="p-alice"), as_=ALICE)
    ids = [x["id"] for x in await client("plugin_bindings", "list", {"plugin": "pii"}, as_=ALICE)]
    assert ids == [a["id"], c["id"]]
    ids = [x["id"] for x in await client("plugin_bindings", "list", {"team_id": "team-a"})]
    assert ids == [a["id"], b["id"]]


async def test_the_snapshot_holds_every_binding_and_is_for_the_mesh_only(client: Client) -> None:
    private = await client("plugin_bindings", "create", binding(visibility="private"), as_=ALICE)
    shared = await client("plugin_bindings", "create", binding(plugin="deny"), as_=ADMIN)
    assert await client("plugin_bindings", "snapshot") == [private, shared]
    for who in (ALICE, VIEWER):
        assert await code_of(client("plugin_bindings", "snapshot", as_=who)) == FORBIDDEN


@pytest.mark.parametrize("mode", ["enforce_ignore_error", "permissive", "audit", "disabled"])
async def test_only_platform_admins_may_soften_a_guardrail(client: Client, mode: str) -> None:
    refused = client("plugin_bindings", "create", binding(tool="x_*", mode=mode), as_=ALICE)
    assert await code_of(refused) == FORBIDDEN
    mine = await client("plugin_bindings", "create", binding(tool="y_*"), as_=ALICE)
    softened = client("plugin_bindings", "update", {"id": mine["id"], "mode": mode}, as_=ALICE)
    assert await code_of(softened) == FORBIDDEN
    by_admin = await client("plugin_bindings", "create", binding(tool="z_*", mode=mode), as_=ADMIN)
    assert by_admin["mode"] == mode


# -- plugins that dial out (webhooks, external MCP servers)

DIALLING = ("webhook_notification", "external")


@pytest.mark.parametrize("plugin", DIALLING)
async def test_only_platform_admins_may_bind_a_plugin_that_dials_out(
    client: Client, plugin: str
) -> None:
    url = {"url": "https://93.184.215.14/forge"}  # public; a literal needs no DNS here
    refused = client("plugin_bindings", "create", binding(plugin=plugin, config=url), as_=ALICE)
    assert await code_of(refused) == FORBIDDEN
    assert client.events("plugin_bindings", "changed") == []
    mine = await client("plugin_bindings", "create", binding(tool="y_*"), as_=ALICE)
    turned = {"id": mine["id"], "plugin": plugin, "config": url}
    assert await code_of(client("plugin_bindings", "update", turned, as_=ALICE)) == FORBIDDEN
    made = await client("plugin_bindings", "create", binding(plugin=plugin, config=url))
    # Even its mode is then a platform admin's to change.
    softer = {"id": made["id"], "tool": "z_*"}
    assert await code_of(client("plugin_bindings", "update", softer, as_=ALICE)) == FORBIDDEN


@pytest.mark.parametrize("plugin", DIALLING)
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://192.0.2.1/hook",
        "http://10.0.0.1/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00::1]/hook",
    ],
)
async def test_a_plugin_url_the_ssrf_guard_refuses_is_refused_at_binding(
    client: Client, plugin: str, url: str
) -> None:
    error = await error_of(
        client("plugin_bindings", "create", binding(plugin=plugin, config={"url": url}))
    )
    assert error.code == FORBIDDEN and isinstance(error.data, dict) and "address" in error.data
    made = await client(
        "plugin_bindings", "create", binding(plugin=plugin, config={"url": "http://127.0.0.1:9/"})
    )  # the harness allows loopback, as a test mesh does
    moved = {"id": made["id"], "config": {"url": url}}
    assert await code_of(client("plugin_bindings", "update", moved)) == FORBIDDEN
    assert client.events("plugin_bindings", "changed") == [made]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.com/", 5, "nope"])
async def test_a_plugin_url_that_is_not_http_is_invalid(client: Client, url: Any) -> None:
    error = await error_of(
        client("plugin_bindings", "create", binding(plugin="external", config={"url": url}))
    )
    assert error.code == INVALID_PARAMS and error.data == {"field": "config.url"}
