"""pytest plugin: real nats-server and PostgreSQL per session; buses and databases per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from forge.core.bus import NatsBus
from forge.embedded.nats import EmbeddedNats, start_nats
from forge.embedded.postgres import EmbeddedPostgres, start_postgres
from forge.testing.membus import MemoryBus

DatabaseFactory = Callable[..., str]


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One nats-server with JetStream for the whole session."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL cluster for the whole session; tests take their own database in it."""
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    """A connected NatsBus, drained and closed after the test."""
    connected = await NatsBus.connect(nats_url, "forge-test")
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture
def membus() -> MemoryBus:
    """The in-memory bus, for handler unit tests."""
    return MemoryBus()


@pytest.fixture
def database_factory(postgres_server: EmbeddedPostgres) -> DatabaseFactory:
    """`database_factory(prefix="test")` creates a uniquely named database and returns its DSN."""

    def create(prefix: str = "test") -> str:
        return postgres_server.create_database(f"{prefix}_{uuid.uuid4().hex[:12]}")

    return create


@pytest.fixture
def fresh_database(database_factory: DatabaseFactory) -> str:
    """The DSN of a newly created, empty, uniquely named database on the session server."""
    return database_factory()
