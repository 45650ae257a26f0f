"""The embedded PostgreSQL of a local mesh: small shared buffers, connections for the registry's
pools (every replica's, at their largest) and a few more."""

from __future__ import annotations

from pathlib import Path

from forge.cli.mesh import Mesh


def test_connections_follow_the_registry_replicas_and_pool_size(tmp_path: Path) -> None:
    assert Mesh(tmp_path).pg_settings() == {"shared_buffers": "16MB", "max_connections": "28"}
    bigger = Mesh(tmp_path, replicas={"registry": 2}, env={"FORGE_REGISTRY_POOL_MAX_SIZE": "4"})
    assert bigger.pg_settings()["max_connections"] == str(2 * 2 * 4 + 8)
