"""`python -m forge.upstream_proxy`: load settings, set up logging, run the upstream-proxy."""

from __future__ import annotations

import asyncio
import os

from forge.core import config, logs, service
from forge.upstream_proxy.app import main
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.launcher import INHERITED


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(UpstreamProxyConfig, "upstream_proxy")
        logs.setup("upstream-proxy", settings.log_level, settings.log_format)
        # stdio children inherit only a few variables: passed down, read nowhere else.
        inherited = {k: v for k, v in os.environ.items() if k in INHERITED}
        await main(stop, settings, inherited)

    service.run(start)


if __name__ == "__main__":
    run()
