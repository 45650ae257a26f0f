"""Launching stdio children: the allow list checked again before launch, and the audit log."""

from __future__ import annotations

import sys

import msgspec
from proxy_harness import call, stdio_gateway, text_of, tool_call

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.core.errors import FORBIDDEN, ForgeError
from forge.proto.catalog import Gateway


async def test_a_command_off_the_allow_list_never_starts_and_the_refusal_is_audited(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    # A gateway the registry would have refused, reaching the proxy anyway (an older row, a
    # changed allow list): the proxy refuses it too.
    gw = Gateway(
        id="offlist",
        name="off-list",
        slug="off-list",
        url="",
        transport="stdio",
        command=[sys.executable, "-c", "import os; os.system('id')"],
        owner="dev@test",
    )
    await start_proxy(gw)
    try:
        await call(bus, gw, tool_call("echo", text="x"))
    except ForgeError as exc:
        assert exc.code == FORBIDDEN
    else:
        raise AssertionError("the call succeeded")
    launches = start_proxy.launches  # type: ignore[attr-defined]
    assert [entry.action for entry in launches] == ["stdio.refused"]
    assert launches[0].actor == "dev@test" and launches[0].gateway_id == "offlist"


async def test_an_empty_allow_list_starts_nothing(bus: NatsBus, start_proxy: StartProxy) -> None:
    gw = stdio_gateway()
    await start_proxy(gw, stdio_allowed_commands="")
    try:
        await call(bus, gw, tool_call("echo", text="x"))
    except ForgeError as exc:
        assert exc.code == FORBIDDEN
    else:
        raise AssertionError("the call succeeded")


async def test_every_launch_is_audited_with_its_command_and_never_its_env_values(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = msgspec.structs.replace(
        stdio_gateway(env={"API_TOKEN": "s3cret-value"}), owner="admin@test"
    )
    await start_proxy(gw)
    assert text_of(await call(bus, gw, tool_call("echo", text="up"))) == "up"
    launches = start_proxy.launches  # type: ignore[attr-defined]
    assert [entry.action for entry in launches] == ["stdio.launch"]
    entry = launches[0]
    assert (entry.actor, entry.gateway_id, entry.command) == ("admin@test", gw.id, gw.command)
    assert b"s3cret-value" not in msgspec.json.encode(entry)
