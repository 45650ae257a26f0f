"""`python -m forge.upstream_proxy`: load settings, set up logging, run the upstream-proxy."""

from __future__ import annotations

import asyncio

from forge.core import config, logs, service
from forge.upstream_proxy.app import main
from forge.upstream_proxy.config import UpstreamProxyConfig


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(UpstreamProxyConfig, "upstream_proxy")
        logs.setup("upstream-proxy", settings.log_level)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
