"""A stdio child that cannot start (red team F7): a call fails at once with -32001, and the
discovery a registration asks for with -32602 (the command is the request's problem), both
naming the account and the executable, never by waiting out their deadline."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from proxy_harness import call, discover, stdio_gateway, tool_call

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.core.errors import INVALID_PARAMS, UPSTREAM_UNAVAILABLE, ForgeError
from forge.core.launch import account_name
from forge.proto.catalog import Gateway

ARGS = ["-m", "forge.servers.demo", "--transport", "stdio"]


def at(executable: str) -> Gateway:
    return msgspec.structs.replace(stdio_gateway(), command=[executable, *ARGS])


def allowing(executable: str) -> str:
    return f"{executable} {' '.join(ARGS)}"


@pytest.fixture
def private_interpreter(tmp_path: Path) -> Iterator[str]:
    """The interpreter behind a directory only root may enter, as a venv under /root is."""
    home = tmp_path / "root-home"
    home.mkdir(mode=0o700)
    link = home / "python"
    link.symlink_to(sys.executable)
    yield str(link)


async def refused_at_once(bus: NatsBus, gw: Gateway) -> ForgeError:
    # Before, the call waited for a child until its deadline and failed as a timeout instead.
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, tool_call("echo", text="x"))
    return caught.value


@pytest.mark.skipif(os.geteuid() != 0, reason="children switch account only under root")
async def test_an_interpreter_the_stdio_account_cannot_reach_fails_at_once_naming_both(
    bus: NatsBus, start_proxy: StartProxy, private_interpreter: str
) -> None:
    gw = at(private_interpreter)
    await start_proxy(gw, stdio_user="nobody", stdio_allowed_commands=allowing(private_interpreter))
    error = await refused_at_once(bus, gw)
    assert error.code == UPSTREAM_UNAVAILABLE
    assert error.data == {
        "field": "command",
        "account": "nobody",
        "executable": private_interpreter,
    }
    with pytest.raises(ForgeError) as caught:  # the discovery a registration asks for, too
        await discover(bus, gw)
    assert caught.value.code == INVALID_PARAMS
    assert caught.value.data == error.data


async def test_an_executable_no_one_may_run_fails_at_once_naming_the_proxys_account(
    bus: NatsBus, start_proxy: StartProxy, tmp_path: Path
) -> None:
    script = tmp_path / "server"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o600)  # no execute bit: even root may not exec it
    gw = at(str(script))
    await start_proxy(gw, stdio_user="", stdio_allowed_commands=allowing(str(script)))
    for _ in range(2):  # the second call while the supervisor waits to retry
        error = await refused_at_once(bus, gw)
        assert error.code == UPSTREAM_UNAVAILABLE
        assert error.data == {
            "field": "command",
            "account": account_name(None),
            "executable": str(script),
        }
