"""compose/: the files validate against the Compose Specification's JSON schema (alone, merged,
raw and interpolated), only the edge is published (on loopback by default), every service that
stays up has a healthcheck (the Forge ones on the ops port's /readyz), no secret is written in
them, each service gets only settings it reads, and every variable they use is documented."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from forge.cli.mesh import SERVICES
from forge.core.permissions import env_password, nats_config
from forge.core.settings import SHARED
from forge.core.settings_doc import CONFIGS, load_configs, settings_of
from forge.embedded.nats import nats_server_path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
BASE = COMPOSE / "compose.yaml"
OTEL = COMPOSE / "compose.otel.yaml"
A2A_GRPC = COMPOSE / "compose.a2a-grpc.yaml"
ENV_EXAMPLE = COMPOSE / "env.example"
NATS_CONF = COMPOSE / "nats" / "nats.conf"
NATS_AUTH = COMPOSE / "nats" / "auth.conf"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

OPS_PORT = "9464"
EDGE_PORT = "4444"
A2A_GRPC_PORT = "50051"
# Compose service name of each Forge service (`forge run <name>`).
FORGE = {name.replace("_", "-"): name for name in SERVICES}
# Services that do not stay up, or whose image can run no check inside it, and why.
NO_HEALTHCHECK = {
    "migrate": "a one-shot job (restart: no) the registry waits for to complete",
    "otel-collector": "a distroless image: no shell or HTTP client to run a check with",
}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# Environment names whose values are secrets, whatever the service.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|KEYS|TOKEN|DATABASE_URL|NATS_URL")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` on every string."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?"):
            if not value and (op == ":?" or value is None):
                raise KeyError(f"{name}: {arg or 'required'}")
            return value or ""
        return value or ""

    if isinstance(node, str):
        return VAR.sub(one, node)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file: mappings merged key by key, sequences (networks,
    ports, volumes) joined without duplicates, scalars replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def example_env() -> dict[str, str]:
    """compose/env.example with each empty (required) value filled in, as an operator would."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value or f"filled-{name.lower()}"
    return env


def documented_variables() -> set[str]:
    """Every variable env.example names, set or shown commented out."""
    found = re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    return set(found)


def reads(service: str) -> dict[str, bool]:
    """The environment variables a Forge service reads, each with whether it is a secret."""
    cls = load_configs()[service]
    found = {}
    for s in settings_of(cls):
        found[f"FORGE_{service.upper()}_{s.name.upper()}"] = s.secret
        if s.name in SHARED:
            found[f"FORGE_{s.name.upper()}"] = s.secret
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256, (
        "tests/deploy/schemas/compose-spec.json differs from the vendored release: see its README"
    )
    data = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def default_config(*files: Path) -> dict[str, Any]:
    """The files merged in order and interpolated with env.example, as `docker compose config`."""
    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, load(path))
    return interpolate(merged, example_env())


def test_the_schema_refuses_what_compose_refuses(schema: dict[str, Any]) -> None:
    # The check can fail: a misspelt service key and a bad port are refused.
    with pytest.raises(AssertionError, match="restrat"):
        validate({"services": {"edge": {"image": "x", "restrat": "always"}}}, schema)
    with pytest.raises(AssertionError):
        validate({"services": {"edge": {"image": "x", "deploy": {"replicas": [2]}}}}, schema)


@pytest.mark.parametrize("path", [BASE, OTEL, A2A_GRPC], ids=lambda p: p.name)
def test_each_file_validates_raw_and_interpolated(path: Path, schema: dict[str, Any]) -> None:
    validate(load(path), schema)
    validate(interpolate(load(path), example_env()), schema)


def test_base_and_otel_override_merged_validate(schema: dict[str, Any]) -> None:
    merged = default_config(BASE, OTEL)
    validate(merged, schema)
    services = merged["services"]
    assert set(services) == set(load(BASE)["services"]) | {"otel-collector"}
    for name in FORGE:
        env = services[name]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] in ("http/protobuf", "grpc"), name
        # The override adds to the base's settings, it does not replace them.
        assert env["FORGE_NATS_URL"].endswith("@nats:4222"), name
        assert "nats" in services[name]["depends_on"], name
    assert "bus" in services["otel-collector"]["networks"]
    assert "ports" not in services["otel-collector"]


def test_a_missing_secret_stops_compose() -> None:
    env = example_env()
    del env["FORGE_JWT_SECRET"]
    with pytest.raises(KeyError, match="FORGE_JWT_SECRET"):
        interpolate(load(BASE), env)


@pytest.mark.parametrize(
    "files", [(BASE,), (BASE, OTEL), (BASE, A2A_GRPC)], ids=["base", "base+otel", "base+grpc"]
)
def test_only_the_edge_is_published_on_loopback(files: tuple[Path, ...]) -> None:
    services = default_config(*files)["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"edge"}
    # The A2A gRPC listener only with its override (decision 0029): off by default.
    grpc = [f"127.0.0.1:{A2A_GRPC_PORT}:{A2A_GRPC_PORT}"] if A2A_GRPC in files else []
    assert services["edge"]["ports"] == [f"127.0.0.1:{EDGE_PORT}:{EDGE_PORT}", *grpc]
    env = services["edge"]["environment"]
    assert env["FORGE_EDGE_PORT"] == EDGE_PORT
    assert env.get("FORGE_EDGE_A2A_GRPC_PORT") == (A2A_GRPC_PORT if grpc else None)
    assert services["edge"]["command"] == ["edge"]  # the override adds, it replaces nothing
    for name, service in services.items():
        assert "network_mode" not in service, name
        assert not service.get("expose"), name


def test_every_forge_service_runs_from_the_one_image_with_its_command() -> None:
    services = default_config(BASE)["services"]
    for name, module in FORGE.items():
        service = services[name]
        assert service["image"] == "forge:latest", name
        assert service["build"] == {"context": "..", "dockerfile": "Containerfile"}, name
        assert service["command"] == [module], name
    assert services["migrate"]["command"] == ["registry", "migrate"]
    assert services["migrate"]["restart"] == "no"
    needs = services["registry"]["depends_on"]["migrate"]
    assert needs == {"condition": "service_completed_successfully"}
    for name in ("router", "upstream-proxy"):
        assert int(services[name]["deploy"]["replicas"]) >= 2, name
    # The published edge cannot be replicated on one host port.
    assert "replicas" not in services["edge"].get("deploy", {})


def test_every_service_that_stays_up_has_a_healthcheck() -> None:
    services = default_config(BASE, OTEL)["services"]
    for name, service in services.items():
        if name in NO_HEALTHCHECK:
            assert "healthcheck" not in service or service["healthcheck"].get("disable"), name
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert set(NO_HEALTHCHECK) <= set(services)


def test_forge_healthchecks_ask_the_ops_port_readiness() -> None:
    services = default_config(BASE)["services"]
    for name in FORGE:
        service = services[name]
        env = service["environment"]
        assert env["FORGE_OPS_PORT"] == OPS_PORT, name
        assert env["FORGE_OPS_HOST"] == "0.0.0.0", name
        command = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{OPS_PORT}/readyz" in command, name
        # Everything waiting on a dependency waits for it to be healthy (or done), not started.
        for dependency, condition in service["depends_on"].items():
            assert condition["condition"] in (
                "service_healthy",
                "service_completed_successfully",
            ), (name, dependency)


def test_no_secret_is_written_in_the_files() -> None:
    for path in (BASE, OTEL):
        for name, service in load(path)["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if not SECRET_NAME.search(key):
                    continue
                text = str(value)
                # Only references to compose/.env, with no default a secret could hide in.
                references = VAR.findall(text)
                assert references, f"{path.name}: {name}.{key} is written in the file"
                for variable, op, _ in references:
                    assert op in ("", ":?", "?"), f"{name}.{key}: ${{{variable}}} has a default"
                literal = VAR.sub("", text)
                assert not re.search(r"://[^:/@]+:[^@$]+@", literal), f"{name}.{key}"
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, _, value = line.partition("=")
        if not line.startswith("#") and SECRET_NAME.search(name):
            assert value == "", f"env.example gives {name} a value"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "compose/.env" in ignored


def test_each_forge_service_gets_only_settings_it_reads() -> None:
    services = default_config(BASE)["services"]
    secrets_given: dict[str, set[str]] = {}
    for name, module in FORGE.items():
        known = reads(module)
        env = services[name]["environment"]
        unknown = sorted(k for k in env if k.startswith("FORGE_") and k not in known)
        assert not unknown, f"{name} does not read {unknown}"
        secrets_given[name] = {k for k in env if known.get(k)}
    assert "FORGE_JWT_SECRET" in secrets_given["edge"]
    assert "FORGE_REGISTRY_PLATFORM_ADMIN_PASSWORD" in secrets_given["registry"]
    assert secrets_given["router"] == set()
    assert secrets_given["plugin-runner"] == set()
    assert "FORGE_SECRET_KEYS" not in secrets_given["edge"]
    # The migrations job is the registry's code: the same settings, the databases alone.
    migrate = services["migrate"]["environment"]
    assert set(migrate) <= set(reads("registry"))
    assert {k for k in migrate if SECRET_NAME.search(k)} == {
        "FORGE_CATALOG_DATABASE_URL",
        "FORGE_IDENTITY_DATABASE_URL",
    }
    assert "translate" in CONFIGS  # the settings source still lists every service's struct


def test_networks_keep_the_databases_and_the_bus_inside() -> None:
    config = default_config(BASE)
    networks, services = config["networks"], config["services"]
    assert networks["bus"]["internal"] is True
    assert networks["data"]["internal"] is True
    on_data = {name for name, s in services.items() if "data" in s.get("networks", [])}
    assert on_data == {"catalog-db", "identity-db", "registry", "migrate"}
    assert services["router"]["networks"] == ["bus"]
    for name in ("catalog-db", "identity-db"):
        assert services[name]["networks"] == ["data"], name


def test_every_variable_is_documented_in_env_example() -> None:
    used = set()
    for path in (BASE, OTEL, A2A_GRPC):
        used |= {name for name, _, _ in VAR.findall(path.read_text())}
    missing = sorted(used - documented_variables())
    assert not missing, f"compose/env.example does not document {missing}"


def test_each_service_connects_to_nats_as_its_own_user() -> None:
    services = default_config(BASE)["services"]
    env = example_env()
    nats_env = services["nats"]["environment"]
    for name, module in FORGE.items():
        url = urllib.parse.urlsplit(services[name]["environment"]["FORGE_NATS_URL"])
        assert (url.hostname, url.port) == ("nats", 4222), name
        assert url.username == module, name
        assert url.password == env[env_password(module)], name
        assert nats_env[env_password(module)] == env[env_password(module)], name
    assert set(nats_env) == {env_password(module) for module in FORGE.values()}


def test_the_nats_users_are_forge_core_permissions() -> None:
    text = NATS_AUTH.read_text()
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert body == nats_config(), "compose/nats/auth.conf is stale: regenerate it (its header)"
    assert "include ./auth.conf" in NATS_CONF.read_text()


def test_nats_server_accepts_the_configuration(tmp_path: Path) -> None:
    env = {env_password(module): "0123abcd" for module in FORGE.values()}
    result = subprocess.run(
        [str(nats_server_path()), "-t", "-c", str(NATS_CONF)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Without the passwords in its environment the server refuses to start.
    missing = subprocess.run(
        [str(nats_server_path()), "-t", "-c", str(NATS_CONF)],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode != 0
    assert "FORGE_NATS_EDGE_PASSWORD" in missing.stdout + missing.stderr
