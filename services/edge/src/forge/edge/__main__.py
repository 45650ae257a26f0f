"""`python -m forge.edge`: load settings, set up logging, run the edge."""

from __future__ import annotations

import asyncio

from forge.core import config, logs, service
from forge.edge.app import main
from forge.edge.config import EdgeConfig


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(EdgeConfig, "edge")
        logs.setup("edge", settings.log_level, settings.log_format)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
