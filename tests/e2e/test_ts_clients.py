"""The TypeScript MCP clients from npm, in their default and explicit modes, over each transport
they have, through Forge to a real upstream: tools/list and tools/call, resources/list and
resources/read, prompts/list and prompts/get answer what the upstream answers directly.

One Node process per (upstream, client, mode, transport) runs a whole session
(tests/clients/*.mjs, installed by `make node`) and prints its answers as JSON; each upstream
(one of both eras, one legacy-only: see client_matrix) sits behind a virtual server that keeps
its original names, so the names match too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from forge.cli.mesh import Mesh
from tests.conformance.harness import NODE, node_env
from tests.e2e import client_matrix
from tests.e2e.client_matrix import LEGACY, MODERN, UPSTREAMS, Target, differences

targets = client_matrix.targets

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
# The script for each npm package: `client` is @modelcontextprotocol/client (v2),
# `sdk` is @modelcontextprotocol/sdk (v1).
SCRIPTS = {"client": CLIENTS / "v2.mjs", "sdk": CLIENTS / "v1.mjs"}
PATHS = {"streamable-http": "/mcp", "sse": "/sse", "ws": "/ws"}
# The version each mode ends on against Forge, which speaks both eras.
VERSIONS = {"default": LEGACY, "legacy": LEGACY, MODERN: MODERN, "auto": MODERN}
CASES = [
    # v2: `default` passes no versionNegotiation option (its default is the legacy handshake),
    # `2026-07-28` pins that version, `auto` probes with server/discover. Streamable HTTP and
    # SSE only: the v2 client has no WebSocket transport.
    *[
        ("client", mode, transport)
        for mode in ("default", "legacy", MODERN, "auto")
        for transport in ("streamable-http", "sse")
    ],
    # v1 has one mode, the 2025-11-25 initialize handshake (it knows no 2026-07-28 era, so has
    # no modern or auto mode to try); it has all three transports.
    *[("sdk", "legacy", transport) for transport in ("streamable-http", "sse", "ws")],
]
# One whole session, Node's start included; far more than one takes (under a second).
SESSION_TIMEOUT_S = 60.0


async def run_client(
    client: str, url: str, mode: str, transport: str, token: str, plan: dict[str, Any]
) -> dict[str, Any]:
    """Run one client session; its answers, or a failure that carries what it printed."""
    script = SCRIPTS[client]
    assert (CLIENTS / "node_modules" / "@modelcontextprotocol" / client).exists(), (
        "the TypeScript clients are not installed: run `make node`"
    )
    proc = await asyncio.create_subprocess_exec(
        str(NODE),
        str(script),
        url,
        mode,
        transport,
        json.dumps(plan),
        cwd=CLIENTS,
        env=node_env(FORGE_TOKEN=token),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), SESSION_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{script.name} {mode} {transport}: no answer in time") from None
    assert proc.returncode == 0, f"{script.name} {mode} {transport} failed:\n{err.decode()}"
    answers: dict[str, Any] = json.loads(out)
    return answers


def _url(base: str, transport: str) -> str:
    url = base + PATHS[transport]
    return url.replace("http://", "ws://", 1) if transport == "ws" else url


@pytest.mark.parametrize(
    ("client", "mode", "transport"), CASES, ids=["-".join(case) for case in CASES]
)
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_a_typescript_client_lists_calls_reads_and_gets_through_forge(
    mesh: Mesh,
    admin_token: str,
    targets: dict[str, Target],
    upstream: str,
    client: str,
    mode: str,
    transport: str,
) -> None:
    target = targets[upstream]
    url = _url(target.base, transport)
    answers = await run_client(client, url, mode, transport, admin_token, target.plan)
    assert answers["protocolVersion"] == VERSIONS[mode]
    found = differences(answers, target.direct, answers["protocolVersion"])
    assert not found, "\n".join(found)
