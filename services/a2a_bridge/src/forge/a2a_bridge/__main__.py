"""`python -m forge.a2a_bridge`: load settings, set up logging, run the a2a-bridge."""

from __future__ import annotations

import asyncio

from forge.a2a_bridge.app import main
from forge.a2a_bridge.config import A2aBridgeConfig
from forge.core import config, logs, service


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(A2aBridgeConfig, "a2a_bridge")
        logs.setup("a2a-bridge", settings.log_level, settings.log_format)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
