"""The registry's start: both pools and the bus open at once; one that cannot open stops the
start with a clear message (no traceback), the others opened are closed."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_database_that_cannot_open_stops_the_start_clearly(
    fresh_database: str, nats_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env.update(
        FORGE_CATALOG_DATABASE_URL=fresh_database,
        FORGE_IDENTITY_DATABASE_URL=fresh_database.rsplit("/", 1)[0] + "/no_such_database",
        FORGE_NATS_URL=nats_url,
        FORGE_JWT_SECRET="x" * 48,
    )
    done = subprocess.run(
        [sys.executable, "-m", "forge.registry"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot open the identity database" in done.stderr
    assert "Traceback" not in done.stderr
