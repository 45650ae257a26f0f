"""stdio gateways: only holders of `gateways.stdio` register or change them, and only with a
command on the operator's allow list; every refusal is sent to the audit log."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import pytest
from registry_harness import ADMIN, CONFIG, Client, error_of, person, start_registry

from forge.core import subjects
from forge.core.bus import Headers
from forge.core.errors import FORBIDDEN, INVALID_PARAMS
from forge.proto.envelope import Principal
from forge.proto.identity import LaunchAudit
from forge.registry.catalog.store import Store

ALLOWED = [sys.executable, "-m", "some_server"]
STDIO = {"name": "Local", "transport": "stdio", "command": ALLOWED}


async def registry(store: Store, **settings: str) -> tuple[Client, list[LaunchAudit]]:
    client = await start_registry(store, msgspec.structs.replace(CONFIG, **settings))
    audited: list[LaunchAudit] = []

    async def record(data: bytes, headers: Headers) -> bytes:
        audited.append(msgspec.json.decode(data, type=LaunchAudit))
        return b'{"result":{"stored":true}}'

    await client.bus.serve(subjects.AUDIT_LAUNCH, record)
    return client, audited


@pytest.mark.parametrize("role", ["developer", "team_admin"])
@pytest.mark.parametrize("transport", ["stdio", "STDIO", "Stdio"])
async def test_a_developer_or_team_admin_cannot_register_a_stdio_gateway(
    store: Store, role: str, transport: str
) -> None:
    client, audited = await registry(store)
    caller = person(f"{role}@test", "t1", role=role)
    body = {**STDIO, "transport": transport, "command": ["/bin/sh", "-c", "id"]}
    refused = await error_of(client("gateways", "create", body, as_=caller))
    assert refused.code == FORBIDDEN and refused.data == {"permission": "gateways.stdio"}
    assert [(a.action, a.actor) for a in audited] == [("stdio.refused", f"{role}@test")]


async def test_a_global_grant_of_gateways_stdio_lets_a_non_admin_register_one(
    store: Store,
) -> None:
    client, _ = await registry(store)
    operator = Principal(
        "ops@test", teams=("t1",), permissions=("gateways.create", "gateways.stdio")
    )
    created = await client("gateways", "create", STDIO, as_=operator)
    assert created["command"] == ALLOWED


@pytest.mark.parametrize(
    "command",
    [["/bin/sh", "-c", "id"], [sys.executable, "-c", "print(1)"], ["python3", "-m", "x"]],
)
async def test_a_platform_admin_cannot_register_a_command_off_the_allow_list(
    store: Store, command: list[str]
) -> None:
    client, audited = await registry(store)
    refused = await error_of(client("gateways", "create", {**STDIO, "command": command}))
    assert refused.code == FORBIDDEN and refused.data == {"field": "command"}
    assert [a.action for a in audited] == ["stdio.refused"]
    assert audited[0].command == command


async def test_an_empty_allow_list_refuses_every_stdio_gateway(store: Store) -> None:
    client, _ = await registry(store, stdio_allowed_commands="")
    refused = await error_of(client("gateways", "create", STDIO))
    assert refused.code == FORBIDDEN


async def test_variables_that_load_other_code_are_refused(store: Store) -> None:
    client, _ = await registry(store)
    body = {**STDIO, "env": {"LD_PRELOAD": "/tmp/evil.so"}}
    refused = await error_of(client("gateways", "create", body))
    assert refused.code == FORBIDDEN and refused.data == {"field": "env"}


async def test_an_update_never_turns_a_gateway_into_another_command_or_transport(
    store: Store,
) -> None:
    client, _ = await registry(store)
    stdio = await client("gateways", "create", STDIO)
    http = await client("gateways", "create", {"name": "Remote", "url": "http://127.0.0.1:9/mcp"})
    changes: list[tuple[str, dict[str, Any]]] = [
        (http["id"], {"transport": "stdio", "command": ["/bin/sh"]}),
        (http["id"], {"command": ["/bin/sh"]}),
        (stdio["id"], {"command": [sys.executable, "-m", "other"]}),
        (stdio["id"], {"transport": "http"}),
    ]
    for gateway_id, change in changes:
        refused = await error_of(client("gateways", "update", {"id": gateway_id, **change}))
        assert refused.code == INVALID_PARAMS, change
    # The same values (a client sending the whole gateway back) change nothing.
    same = {"id": stdio["id"], "transport": "stdio", "command": ALLOWED, "name": "Local 2"}
    assert (await client("gateways", "update", same))["name"] == "Local 2"


async def test_only_a_launch_holder_changes_a_stdio_gateways_environment(store: Store) -> None:
    client, _ = await registry(store)
    created = await client("gateways", "create", {**STDIO, "team_id": "t1", "visibility": "team"})
    team_admin = person("ta@test", "t1", role="team_admin")
    change = {"id": created["id"], "env": {"PYTHONSTARTUP": "/tmp/x.py"}}
    refused = await error_of(client("gateways", "update", change, as_=team_admin))
    assert refused.code == FORBIDDEN
    refused = await error_of(client("gateways", "update", change, as_=ADMIN))
    assert refused.code == FORBIDDEN and refused.data == {"field": "env"}
    ok = {"id": created["id"], "env": {"MODE": "fast"}}
    assert (await client("gateways", "update", ok, as_=ADMIN))["env"] == {"MODE": ""}
