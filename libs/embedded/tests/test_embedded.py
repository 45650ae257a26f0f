"""The embedded servers start on 127.0.0.1, create databases, and stop without leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge.embedded.nats import EmbeddedNats, start_nats
from forge.embedded.postgres import EmbeddedPostgres, quote_ident


def test_the_session_postgres_listens_on_loopback_tcp(postgres_server: EmbeddedPostgres) -> None:
    assert postgres_server.dsn.startswith("postgresql://postgres@127.0.0.1:")
    assert postgres_server.psql("select 1").strip() == "1"


def test_a_created_database_can_be_queried(postgres_server: EmbeddedPostgres) -> None:
    dsn = postgres_server.create_database('odd "name"')
    assert dsn.endswith("/odd%20%22name%22")
    assert postgres_server.psql("select current_database()", 'odd "name"').strip() == 'odd "name"'


def test_creating_an_existing_database_fails_unless_allowed(
    postgres_server: EmbeddedPostgres,
) -> None:
    postgres_server.create_database("twice")
    with pytest.raises(RuntimeError, match="already exists"):
        postgres_server.create_database("twice")
    assert postgres_server.create_database("twice", exist_ok=True).endswith("/twice")


def test_identifiers_are_quoted() -> None:
    assert quote_ident('a"; drop') == '"a""; drop"'


def test_a_stopped_nats_server_has_exited(tmp_path: Path) -> None:
    server = start_nats(tmp_path)
    assert server.url.startswith("nats://127.0.0.1:")
    server.stop()
    assert server.proc.poll() is not None
    server.stop()  # a second stop is harmless


def test_the_session_nats_server_is_running(nats_server: EmbeddedNats) -> None:
    assert nats_server.proc.poll() is None
