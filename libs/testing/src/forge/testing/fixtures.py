"""pytest plugin: real nats-server and PostgreSQL per session; buses and databases per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from forge.core.bus import NatsBus
from forge.embedded.nats import EmbeddedNats, start_nats
from forge.embedded.postgres import EmbeddedPostgres, start_postgres
from forge.testing.membus import MemoryBus

DatabaseFactory = Callable[..., str]
_OWN_BASETEMP = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest's shared /tmp/pytest-of-<user> keeps only its three newest runs: a second pytest on
    # the machine would delete this run's folders, and with them the live PostgreSQL and NATS
    # data directories of its session servers. Each run gets a folder of its own instead.
    if config.option.basetemp is None:
        config.option.basetemp = config.stash[_OWN_BASETEMP] = tempfile.mkdtemp(
            prefix="forge-pytest-"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


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
