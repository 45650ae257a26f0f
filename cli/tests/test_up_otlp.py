"""`forge up --otlp URL`: every service of the mesh gets the OTEL_* settings that export its
traces there (forge.core.tracing reads them)."""

from __future__ import annotations

from pathlib import Path

from forge.cli.main import otlp_env
from forge.cli.mesh import Mesh
from forge.core import tracing


def test_without_otlp_nothing_is_set_and_tracing_stays_off() -> None:
    assert otlp_env(None, "http/protobuf") == {}
    assert not tracing.start("edge", otlp_env(None, "grpc"))


def test_otlp_reaches_every_services_environment(tmp_path: Path) -> None:
    env = otlp_env("http://127.0.0.1:4318", "grpc")
    assert env == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    mesh = Mesh(state_dir=tmp_path, env=env)
    given = mesh.service_env()
    assert given["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert given["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert tracing.start("edge", given)  # what each service then does
    tracing.shutdown()
