"""Red-team F3 and F4 against the real mesh: a team's plugin binding reaches only its own team's
tools (F3), and an operator's or team's pattern cannot stall the mesh (F4).

Who: X ("tara") is team_admin of team A only and a plain member of team C; "dev" is a developer
in both A and C; "cora" owns team C and is in no other team.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from tests.e2e import security_kit as kit
from tests.e2e.security_kit import Person, echo_tool, login, make_user, ok, rest

FORBIDDEN, NOT_FOUND, INVALID_PARAMS = -32005, -32006, -32602
# A pattern that backtracks exponentially in Python's re: each extra "a" doubles the work.
EVIL = "(a+)+$"
ATTACK = "a" * 40 + "!"  # days of work for a backtracking engine, none for RE2
# Generous: a call on an idle mesh takes milliseconds; a stalled one took 14 s with 24 "a"s.
VICTIM_BOUND_S = 5.0
fastecho = kit.fastecho  # the shared upstream fixture (module-scoped, one per suite)


@dataclass
class Teams:
    tara: Person  # viewer globally, team_admin on team A only; a member of A and C
    dev: Person  # developer; a member of A and C
    cora: Person  # developer; owns team C, in no other team
    team_a: str
    team_c: str
    tool_a: str  # team A's echo tool (visibility team)
    tool_c: str  # team C's echo tool (visibility team)


@pytest.fixture(scope="module")
def teams(mesh: Mesh, admin_token: str, fastecho: str) -> Teams:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-pl-{run}@example.com" for k in ("owen", "cora", "tara", "dev")}
    for who in ("owen", "cora", "dev"):
        make_user(mesh, admin_token, emails[who], "developer")
    make_user(mesh, admin_token, emails["tara"], "viewer")
    owen, cora = login(mesh, emails["owen"]), login(mesh, emails["cora"])
    with rest(mesh, owen.token) as http:
        team_a = ok(http.post("/teams", json={"name": f"pl-a-{run}"}))["id"]
    with rest(mesh, cora.token) as http:
        team_c = ok(http.post("/teams", json={"name": f"pl-c-{run}"}))["id"]
    for owner, team in ((owen, team_a), (cora, team_c)):
        with rest(mesh, owner.token) as http:
            for who in ("tara", "dev"):
                ok(http.put(f"/teams/{team}/members/{emails[who]}", json={"role": "member"}))
    with rest(mesh, admin_token) as http:
        body = {"role": "team_admin", "team_id": team_a}
        ok(http.post(f"/rbac/users/{emails['tara']}/roles", json=body))
    owen, cora = login(mesh, emails["owen"]), login(mesh, emails["cora"])
    for owner, team, name in ((owen, team_a, f"pl-a-{run}"), (cora, team_c, f"pl-c-{run}")):
        with rest(mesh, owner.token) as http:
            gateway = {"name": name, "url": fastecho, "team_id": team, "visibility": "team"}
            ok(http.post("/gateways", json=gateway))
    tara, dev = login(mesh, emails["tara"]), login(mesh, emails["dev"])
    with rest(mesh, tara.token) as http:
        eventually_sync(
            lambda: (
                "plugins.manage" in ok(http.get("/rbac/my/permissions", params={"team_id": team_a}))
            ),
            within_s=15,
            what="tara's team_admin on A reaches the edge",
        )
    return Teams(
        tara,
        dev,
        cora,
        team_a,
        team_c,
        echo_tool(mesh, dev.token, f"pl-a-{run}")["name"],
        echo_tool(mesh, dev.token, f"pl-c-{run}")["name"],
    )


def echoed(mesh: Mesh, person: Person, tool: str, text: str, timeout_s: float = 30) -> str:
    """What `person` gets back calling `tool` with `text`."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": text}},
    }
    response = httpx.post(mesh.url + "/mcp", json=body, headers=person.headers, timeout=timeout_s)
    reply = ok(response)
    assert "error" not in reply, reply
    return str(reply["result"]["content"][0]["text"])


def rules(pattern: str, replacement: str) -> dict[str, Any]:
    return {"rules": [{"pattern": pattern, "replacement": replacement}]}


def bind(mesh: Mesh, person: Person, body: dict[str, Any]) -> httpx.Response:
    with rest(mesh, person.token) as http:
        return http.post("/plugins/bindings", json={"plugin": "regex_replace", **body})


def unbind(mesh: Mesh, person: Person, binding_id: str) -> None:
    with rest(mesh, person.token) as http:
        ok(http.delete(f"/plugins/bindings/{binding_id}"))


def applied(mesh: Mesh, person: Person, tool: str, text: str, want: str) -> None:
    """Wait (bounded) until `tool` answers `want` to `text`: the binding is in force."""
    eventually_sync(
        lambda: echoed(mesh, person, tool, text) == want,
        within_s=20,
        every_s=0.1,
        what="the plugin binding applies",
    )


# -- F3: a team's binding and another team's tool


def test_a_team_admin_cannot_bind_a_plugin_to_another_teams_tool(mesh: Mesh, teams: Teams) -> None:
    tamper = {"team_id": teams.team_a, "tool": teams.tool_c, "config": rules("hello", "TAMPERED")}
    refused = bind(mesh, teams.tara, tamper)
    # Tara sees team C's tool (a member of C): refused, not hidden.
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == FORBIDDEN
    # A tool nobody has, or one she cannot see, is unknown.
    unknown = bind(mesh, teams.tara, {**tamper, "tool": "no-such-tool-anywhere"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["code"] == NOT_FOUND
    assert echoed(mesh, teams.dev, teams.tool_c, "hello") == "hello"


def test_a_team_binding_for_every_tool_changes_only_that_teams_tools(
    mesh: Mesh, teams: Teams
) -> None:
    made = ok(
        bind(
            mesh,
            teams.tara,
            {"team_id": teams.team_a, "tool": "*", "config": rules("hello", "TAMPERED")},
        ),
        201,
    )
    try:
        applied(mesh, teams.dev, teams.tool_a, "hello", "TAMPERED")  # A's own tool: changed
        # Team C's tool, called by a member of both A and C: untouched.
        assert echoed(mesh, teams.dev, teams.tool_c, "hello") == "hello"
        assert echoed(mesh, teams.cora, teams.tool_c, "hello") == "hello"
    finally:
        unbind(mesh, teams.tara, made["id"])


# -- F4: a pattern that would backtrack


def test_a_pattern_the_engine_cannot_run_is_refused_naming_the_field(
    mesh: Mesh, teams: Teams
) -> None:
    refused = bind(mesh, teams.tara, {"team_id": teams.team_a, "config": rules(r"(a)\1", "b")})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == INVALID_PARAMS
    assert refused.json()["data"]["field"] == "config.rules[0].pattern"


def test_a_backtracking_pattern_does_not_stall_other_teams_calls(mesh: Mesh, teams: Teams) -> None:
    made = ok(
        bind(mesh, teams.tara, {"team_id": teams.team_a, "tool": "*", "config": rules(EVIL, "b")}),
        201,
    )
    try:
        applied(mesh, teams.dev, teams.tool_a, "xaaa", "xb")
        answers: list[str] = []
        failures: list[BaseException] = []

        def attack() -> None:
            try:
                answers.append(echoed(mesh, teams.dev, teams.tool_a, ATTACK, timeout_s=60))
            except BaseException as exc:  # reported by the test, not lost in the thread
                failures.append(exc)

        attackers = [threading.Thread(target=attack) for _ in range(3)]
        for thread in attackers:
            thread.start()
        started = time.monotonic()
        victim = echoed(mesh, teams.cora, teams.tool_c, "hello", timeout_s=VICTIM_BOUND_S * 4)
        took = time.monotonic() - started
        for thread in attackers:
            thread.join(timeout=90)
        assert victim == "hello"
        assert took < VICTIM_BOUND_S, f"team C's call took {took:.1f} s during the attack"
        assert not failures, failures
        assert answers == [ATTACK] * 3  # no match: the text comes back as it was
    finally:
        unbind(mesh, teams.tara, made["id"])
