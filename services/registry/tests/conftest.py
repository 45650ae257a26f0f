"""Registry test harness: a migrated fresh database, the store, the registry on the MemoryBus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from registry_harness import CONFIG, Client, FakeUpstreamProxy

from forge.core import rpc, subjects
from forge.registry.app import Registry
from forge.registry.catalog.store import Store
from forge.registry.migrate import migrate
from forge.testing.membus import MemoryBus


@pytest.fixture
async def catalog_dsn(fresh_database: str) -> str:
    await migrate(fresh_database)
    return fresh_database


@pytest.fixture
async def store(catalog_dsn: str) -> AsyncIterator[Store]:
    opened = await Store.connect(catalog_dsn, min_size=1, max_size=4)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstreamProxy:
    fake = FakeUpstreamProxy(bus=membus)
    await rpc.serve_envelopes(membus, subjects.upstream_any("discover"), fake.discover, queue=None)
    return fake


@pytest.fixture
async def client(membus: MemoryBus, store: Store, upstream: FakeUpstreamProxy) -> Client:
    await Registry(membus, store, CONFIG).start()
    return Client(membus)
