"""The embedded servers start on 127.0.0.1, create databases, and stop without leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge.embedded import process
from forge.embedded.nats import EmbeddedNats, start_nats
from forge.embedded.postgres import EmbeddedPostgres, quote_ident, start_postgres


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


def test_postgres_runs_lean_and_takes_settings_on_top(tmp_path: Path) -> None:
    """No I/O workers, logical replication launcher or huge pages; `settings` win."""
    with start_postgres(tmp_path, settings={"shared_buffers": "16MB"}) as server:
        show = server.psql(
            "select string_agg(name || '=' || setting, ',' order by name) from pg_settings"
            " where name in ('io_method', 'huge_pages', 'shared_buffers', 'max_worker_processes')"
        ).strip()
        assert show == "huge_pages=off,io_method=sync,max_worker_processes=0,shared_buffers=2048"
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
        names = {
            Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] for pid in children.split()
        }
        assert {n for n in names if n and b"127.0.0.1(" not in n} == {  # psql's may be exiting
            b"postgres: checkpointer ",
            b"postgres: background writer ",
            b"postgres: walwriter ",
            b"postgres: autovacuum launcher ",
        }


def test_free_port_never_hands_out_a_port_twice() -> None:
    # A mesh picks a dozen ports before its children bind any: two of them must never be the
    # same one (500 random picks in the range would repeat one almost surely without the memory).
    ports = [process.free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
