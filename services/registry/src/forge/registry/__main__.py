"""`python -m forge.registry [migrate]`: load settings, set up logging, run, or migrate both the
catalog and the identity databases."""

from __future__ import annotations

import asyncio
import sys

from forge.core import config, logs, service
from forge.core.errors import ForgeError
from forge.registry.config import RegistryConfig
from forge.registry.migrate import migrate, migrate_identity


def run_migrations() -> None:
    try:
        settings = config.load(RegistryConfig, "registry")
    except config.ConfigError as exc:
        print(f"forge: {exc}", file=sys.stderr)
        sys.exit(2)
    logs.setup("registry", settings.log_level, settings.log_format)
    try:
        asyncio.run(migrate(settings.catalog_database_url))
        asyncio.run(migrate_identity(settings.identity_database_url))
    except ForgeError as exc:
        print(f"forge: migrations failed: {exc.message}", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    if sys.argv[1:] == ["migrate"]:
        run_migrations()
        return
    if sys.argv[1:]:
        print("usage: python -m forge.registry [migrate]", file=sys.stderr)
        sys.exit(2)

    from forge.registry.app import main  # here: `migrate` needs none of the registry's serving

    async def start(stop: asyncio.Event) -> None:
        settings = config.load(RegistryConfig, "registry")
        logs.setup("registry", settings.log_level, settings.log_format)
        await main(stop, settings)

    service.run(start)


if __name__ == "__main__":
    run()
