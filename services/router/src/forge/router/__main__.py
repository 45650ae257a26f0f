"""`python -m forge.router`: load settings, set up logging, run the router."""

from __future__ import annotations

import asyncio

from forge.core import config, logs, service
from forge.router.app import main
from forge.router.config import RouterConfig


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(RouterConfig, "router")
        logs.setup("router", settings.log_level, settings.log_format)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
