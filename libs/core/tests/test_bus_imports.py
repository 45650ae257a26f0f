"""forge.core.bus imports nats-py without aiohttp (issue 15: a service's start), and a ws:// NATS
URL still works: nats-py's WebSocket transport imports aiohttp on first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from forge.embedded.nats import start_nats
from forge.embedded.process import free_port

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from forge.core.bus import NatsBus
    assert "aiohttp" not in sys.modules, "aiohttp imported with forge.core.bus"

    async def main(url):
        bus = await NatsBus.connect(url, "forge-test-ws")
        async def echo(data, headers):
            return b"echo:" + data
        await bus.serve("test.ws.echo", echo)
        print((await bus.request("test.ws.echo", b"hi", deadline=time.time() + 10)).decode())
        await bus.close()

    asyncio.run(main(sys.argv[1]))
    assert "aiohttp" in sys.modules
    """
)


def test_bus_defers_aiohttp_and_a_websocket_url_still_works(tmp_path: Path) -> None:
    port = free_port()
    websocket = f"websocket {{\n  host: 127.0.0.1\n  port: {port}\n  no_tls: true\n}}\n"
    server = start_nats(tmp_path / "nats", authorization=websocket)
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, f"ws://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "echo:hi"
