"""Starting a plugin-runner on the test's bus with a config file, and calling its hooks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.plugin_runner.app import Runner
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.loader import Loader
from forge.proto.envelope import Envelope, Principal
from forge.proto.plugins import MANIFEST_DECODER, Manifest

_ENC = msgspec.json.Encoder()
ANN = Principal(subject="ann@example.com", email="ann@example.com", teams=("ann", "blue"))


def envelope(params: Any, method: str = "tools/call", **kw: Any) -> Envelope:
    return Envelope(
        id=kw.pop("id", uuid.uuid4().hex),
        method=method,
        params=msgspec.Raw(_ENC.encode(params)),
        principal=kw.pop("principal", ANN),
        deadline=time.time() + 10,
        server_id=kw.pop("server_id", "srv1"),
    )


async def bare(bus: NatsBus, hook: str, params: Any, **kw: Any) -> Any:
    return msgspec.json.decode(await rpc.call(bus, subjects.plugins(hook), envelope(params, **kw)))


async def wrapped(
    bus: NatsBus, hook: str, payload: Any, request: Any = None, team: str | None = None, **kw: Any
) -> dict[str, Any]:
    """`team`: the team owning the call's tool, as a router says it."""
    call: dict[str, Any] = {"payload": payload}
    if request is not None:
        call["request"] = request
    if team is not None:
        call["team"] = team
    data = await rpc.call(bus, subjects.plugins_call(hook), envelope(call, **kw))
    reply: dict[str, Any] = msgspec.json.decode(data)
    return reply


class Announcements:
    """Manifests published on `forge.plugins.manifest`, as they come."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Manifest] = asyncio.Queue()

    async def on(self, subject: str, data: bytes) -> None:
        await self.queue.put(MANIFEST_DECODER.decode(data))

    async def next(self, within_s: float = 10) -> Manifest:
        async with asyncio.timeout(within_s):
            return await self.queue.get()

    async def until(self, want: list[str], within_s: float = 10) -> Manifest:
        async with asyncio.timeout(within_s):
            while True:
                manifest = await self.queue.get()
                if manifest.hooks == want:
                    return manifest


@asynccontextmanager
async def running(
    bus: NatsBus, config_path: Path | None, loader: Loader | None = None, **settings: Any
) -> AsyncIterator[Runner]:
    """A started runner whose watch loop runs until the block ends."""
    config = PluginRunnerConfig(
        plugins_config=str(config_path) if config_path else "",
        reload_interval_s=settings.pop("reload_interval_s", 0.02),
        manifest_interval_s=settings.pop("manifest_interval_s", 60),
        drain_s=1,
        **settings,
    )
    runner = Runner(bus, config, loader or Loader([]))
    await runner.start()
    stop = asyncio.Event()
    watcher = asyncio.create_task(runner.watch(stop))
    try:
        yield runner
    finally:
        stop.set()
        await watcher
        await runner.close()
