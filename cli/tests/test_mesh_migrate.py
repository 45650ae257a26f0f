"""`forge up`'s migrations, applied in its own process (forge.cli.mesh.Migrations): both
databases, logged to the migrate log, and a failure is a MeshError saying why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from forge.cli.mesh import Mesh, MeshError
from forge.embedded.process import free_port


def test_both_databases_are_migrated_and_a_second_run_finds_them_up_to_date(
    tmp_path: Path, database_factory: Callable[[], str]
) -> None:
    catalog, identity = database_factory(), database_factory()
    (tmp_path / "logs").mkdir()
    mesh = Mesh(state_dir=tmp_path, catalog_url=catalog, identity_url=identity)
    mesh.migrate()
    first = mesh.log_path("migrate").read_text()
    assert "up to date" not in first
    # The second run finds what the first recorded (only the registry's store modules may
    # open the databases themselves: forge.testing.import_rules).
    mesh.migrate()
    log = mesh.log_path("migrate").read_text()
    assert "applied migrations" in log
    assert "catalog database is up to date" in log
    assert "identity database is up to date" in log


def test_a_database_that_cannot_open_fails_the_start_saying_why(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    closed = f"postgresql://forge@127.0.0.1:{free_port()}/nothing"
    mesh = Mesh(state_dir=tmp_path, catalog_url=closed, identity_url=closed)
    with pytest.raises(MeshError, match="migrations failed: cannot open the catalog database"):
        mesh.migrate()
    assert "cannot open the catalog database" in mesh.log_path("migrate").read_text()
