"""Fault tests: `forge up` as a process (tests/faults/forge_up.py), started by the factory
`forge_up`, on its embedded NATS and the session's PostgreSQL cluster (a database pair of its
own), with the demo server and the demo A2A agent registered; tests/faults/load.py sends the
load."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults import forge_up as forge_up_process
from tests.faults.forge_up import ForgeUp

_MESHES = itertools.count(1)


@pytest.fixture(scope="session")
def forge_up(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any
) -> Iterator[Callable[..., ForgeUp]]:
    """`forge_up(replicas="all=2", env={...})` starts `forge up --demo` and returns it; every
    mesh started is stopped at the session's end (a test may stop its own earlier)."""
    started: list[ForgeUp] = []

    def start(replicas: str = "", env: dict[str, str] | None = None) -> ForgeUp:
        number = next(_MESHES)
        catalog = postgres_server.create_database(f"faults{number}_catalog")
        identity = postgres_server.create_database(f"faults{number}_identity")
        given = {"FORGE_CATALOG_DATABASE_URL": catalog, "FORGE_IDENTITY_DATABASE_URL": identity}
        state = tmp_path_factory.mktemp(f"forge-up-{number}")
        forge = forge_up_process.start(state, replicas=replicas, env={**given, **(env or {})})
        started.append(forge)
        return forge

    try:
        yield start
    finally:
        for forge in started:
            forge.stop()
