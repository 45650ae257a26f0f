"""Fixtures for the conformance comparison: server-everything, its results direct and through
Forge. The mesh here is this folder's own (own nats-server, own catalog database), so the e2e
tests' mesh and catalog and this one's upstream never see each other."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forge.cli.demo import register
from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.embedded.nats import start_nats
from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually_sync
from tests.conformance import harness
from tests.conformance.harness import Comparison, NodeProcess, ScenarioResult

GATEWAY = "everything"


_comparison: list[Comparison] = []


@pytest.fixture(scope="session")
def conformance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not harness.installed():
        pytest.fail(harness.not_installed_reason(), pytrace=False)
    return Path(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="session")
def everything(conformance_dir: Path) -> Iterator[NodeProcess]:
    server = harness.start_everything(conformance_dir / "server-everything.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def conformance_mesh(conformance_dir: Path, postgres_server: Any) -> Iterator[Mesh]:
    """Forge's mesh with its own nats-server: services of two meshes on one NATS would answer
    each other's requests (the e2e mesh lives as long as the session too)."""
    nats = start_nats(conformance_dir / "nats")
    postgres_server.create_database("conformance_catalog")
    postgres_server.create_database("conformance_identity")
    mesh = Mesh(
        state_dir=conformance_dir / "mesh",
        env={"FORGE_LOG_LEVEL": "info"},
        nats_url=nats.url,
        catalog_url=postgres_server.dsn_for("conformance_catalog"),
        identity_url=postgres_server.dsn_for("conformance_identity"),
        allow_loopback_upstreams=True,
    )
    try:
        mesh.start()
        yield mesh
    finally:
        mesh.stop()
        nats.stop()


def _wait_for_tool(mesh: Mesh, token: str, name: str, timeout: float = 15.0) -> None:
    request = urllib.request.Request(
        mesh.url + "/tools", headers={"Authorization": f"Bearer {token}"}
    )

    def listed() -> bool:
        with urllib.request.urlopen(request, timeout=10) as response:
            tools = json.load(response)
        return any(t.get("name") == name for t in tools)

    eventually_sync(listed, within_s=timeout, every_s=0.1, what=f"{name} is in GET /tools")


@pytest.fixture(scope="session")
def comparison(
    request: pytest.FixtureRequest, conformance_dir: Path, everything: NodeProcess
) -> Comparison:
    """The whole suite run twice: against server-everything directly, then through Forge's
    /mcp (with server-everything registered as gateway 'everything') via the auth shim.

    When Forge cannot be reached at all (the mesh does not start, registration fails), every
    scenario counts as an error through Forge, with that reason: one line per test, not one
    traceback per test."""
    scenarios = harness.server_scenarios()
    assert scenarios, "the conformance suite lists no server scenarios"
    seconds: dict[str, float] = {}

    started = time.monotonic()
    direct = harness.run_suite(everything.base + "/mcp", conformance_dir / "direct", scenarios)
    seconds["direct"] = round(time.monotonic() - started, 1)

    try:
        mesh: Mesh = request.getfixturevalue("conformance_mesh")
        token = mint(mesh.secret, mesh.admin_email, admin=True)
        register(mesh, token, GATEWAY, everything.base + "/mcp")
        _wait_for_tool(mesh, token, f"{GATEWAY}-echo")
        shim = harness.start_auth_shim(mesh.url, token, conformance_dir / "auth-shim.log")
    except Exception as exc:
        reason = f"Forge setup failed: {type(exc).__name__}: {exc}"[:1000]
        forge = {s: ScenarioResult("error", failures={"setup": reason}) for s in scenarios}
    else:
        try:
            started = time.monotonic()
            forge = harness.run_suite(shim.base + "/mcp", conformance_dir / "forge", scenarios)
            seconds["forge"] = round(time.monotonic() - started, 1)
        finally:
            shim.stop()

    result = Comparison(scenarios, direct, forge, seconds)
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / "latest.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    _comparison.append(result)
    return result


# The two runs against our own conformance server: the suite's default (each scenario at the
# version it picks) and every scenario of 2026-07-28 spoken in 2026-07-28.
OWN_RUNS: dict[str, str | None] = {"default": None, "2026-07-28": "2026-07-28"}


@pytest.fixture(scope="session")
def own_server() -> Iterator[ServerProcess]:
    """forge.servers.conformance: the tools, prompts and resources the scenarios name."""
    with spawn("forge.servers.conformance") as server:
        yield server


@pytest.fixture(scope="session")
def own_results(
    conformance_dir: Path, own_server: ServerProcess
) -> dict[str, dict[str, ScenarioResult]]:
    """The suite run directly against our conformance server, once per entry of OWN_RUNS; the
    per-scenario table of each is written to tests/conformance/results/own-<run>.json."""
    runs: dict[str, dict[str, ScenarioResult]] = {}
    harness.RESULTS.mkdir(exist_ok=True)
    for run, version in OWN_RUNS.items():
        scenarios = harness.server_scenarios(version)
        assert scenarios, f"the conformance suite lists no server scenarios for {run}"
        out_dir = conformance_dir / f"own-{run}"
        runs[run] = harness.run_suite(own_server.url, out_dir, scenarios, version)
        table = {name: result.as_json() for name, result in sorted(runs[run].items())}
        passed = sum(result.ok for result in runs[run].values())
        summary = {"run": run, "scenarios": len(table), "passed": passed, "per_scenario": table}
        (harness.RESULTS / f"own-{run}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return runs


OWN_GATEWAY = "conformance"


def _rest(mesh: Mesh, token: str, method: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        mesh.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _compose_own(mesh: Mesh, token: str, url: str) -> str:
    """Register our conformance server as a gateway and compose a virtual server with original
    names holding all its tools, prompts, resources and templates; its id."""
    gateway = register(mesh, token, OWN_GATEWAY, url)["id"]
    lists = {"tools": "/tools", "prompts": "/prompts", "resources": "/resources"}
    found: dict[str, list[str]] = {}

    def synced() -> bool:
        # Tools, prompts and resources land in one sync, but read all three to be sure.
        for kind, path in lists.items():
            found[kind] = [
                e["id"] for e in _rest(mesh, token, "GET", path) if e["gatewayId"] == gateway
            ]
        return all(found.values())

    eventually_sync(synced, within_s=15, every_s=0.1, what="the conformance gateway is synced")
    templates = _rest(mesh, token, "GET", "/resources/templates/list")
    body = {
        "name": "conformance-originals",
        "original_names": True,
        "associated_tools": found["tools"],
        "associated_prompts": found["prompts"],
        "associated_resources": found["resources"]
        + [t["id"] for t in templates if t["gatewayId"] == gateway],
    }
    server_id: str = _rest(mesh, token, "POST", "/servers", body)["id"]
    return server_id


@pytest.fixture(scope="session")
def own_comparison(
    conformance_dir: Path,
    own_server: ServerProcess,
    own_results: dict[str, dict[str, ScenarioResult]],
    conformance_mesh: Mesh,
) -> dict[str, Comparison]:
    """Both OWN_RUNS again, through Forge: our conformance server registered as a gateway, every
    tool, prompt and resource of it in one virtual server with original names, the suite at
    /servers/{id}/mcp via the auth shim. Per run, direct vs through Forge, written to
    tests/conformance/results/own-comparison.json."""
    token = mint(conformance_mesh.secret, conformance_mesh.admin_email, admin=True)
    server_id = _compose_own(conformance_mesh, token, own_server.url)
    shim = harness.start_auth_shim(conformance_mesh.url, token, conformance_dir / "own-shim.log")
    runs: dict[str, Comparison] = {}
    try:
        for run, version in OWN_RUNS.items():
            direct = own_results[run]
            started = time.monotonic()
            forge = harness.run_suite(
                f"{shim.base}/servers/{server_id}/mcp",
                conformance_dir / f"own-forge-{run}",
                sorted(direct),
                version,
            )
            seconds = {"forge": round(time.monotonic() - started, 1)}
            runs[run] = Comparison(
                sorted(direct), direct, forge, seconds, "forge.servers.conformance"
            )
    finally:
        shim.stop()
    summary = {run: compared.summary() for run, compared in runs.items()}
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / "own-comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    _own_comparison.append(runs)
    return runs


_own_comparison: list[dict[str, Comparison]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for run, compared in (_own_comparison[-1] if _own_comparison else {}).items():
        terminalreporter.section(f"MCP conformance, run {run}: our server direct vs through Forge")
        for line in harness.table(compared):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"per scenario: {harness.RESULTS / 'own-comparison.json'}")
    if not _comparison:
        return
    summary = _comparison[-1].summary()
    terminalreporter.section("MCP conformance: server-everything direct vs through Forge")
    brief = {k: v for k, v in summary.items() if k != "per_scenario"}
    for line in json.dumps(brief, indent=1).splitlines():
        terminalreporter.write_line(line)
    setup = {r["forge"]["failures"].get("setup") for r in summary["per_scenario"].values()}
    if len(setup) == 1 and None not in setup:
        terminalreporter.write_line(f"through Forge, every scenario: {setup.pop()}")
    else:
        for name in summary["passed_direct_failed_through_forge"]:
            why = summary["per_scenario"][name]["forge"]["failures"]
            terminalreporter.write_line(f"through Forge, {name}: {json.dumps(why)[:240]}")
    terminalreporter.write_line(f"per scenario: {harness.RESULTS / 'latest.json'}")
