"""`python -m forge.plugin_runner`: load settings, set up logging, run the plugin-runner."""

from __future__ import annotations

import asyncio

from forge.core import config, logs, service
from forge.plugin_runner.app import main
from forge.plugin_runner.config import PluginRunnerConfig


def run() -> None:
    async def start(stop: asyncio.Event) -> None:
        settings = config.load(PluginRunnerConfig, "plugin_runner")
        logs.setup("plugin-runner", settings.log_level, settings.log_format)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
