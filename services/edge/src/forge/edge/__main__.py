"""`python -m forge.edge`: load settings, set up logging, run the edge (or, with arguments, one
of its workers: `forge.edge.workers`)."""

from __future__ import annotations

import asyncio
import sys

from forge.core import config, logs, service
from forge.edge import workers
from forge.edge.app import main
from forge.edge.config import EdgeConfig


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        worker = workers.inherited(sys.argv[1:])
        settings = config.load(EdgeConfig, "edge")
        logs.setup("edge", settings.log_level, settings.log_format)
        await main(stop, settings, worker)

    service.run(start)


if __name__ == "__main__":
    run()
