"""The start-up phase: how long each service takes from exec to serving, and `forge up` to ready.

Per service: on a running mesh, a process of that service is started as one more replica (its
own ops port; an edge its own port, the A2A gRPC listener off, and once more with it on) and
timed from exec to its `/readyz` answering 200 (an edge: its `/ready`, as `forge up` waits for
edge replicas); then it is stopped. That is what a restart
costs the mesh (issue 15: a restarted service serves again within 2 s). Also each service's
imports alone (`python -c "import forge.<service>.__main__"`), the part Python start-up takes.

`forge up`: `python -m forge.cli.main up` (no demo) timed from exec to its "ready at" line,
on a state folder made by a first run (the first run's time, PostgreSQL's initdb included, is
kept apart as `cold`). Medians of `runs` each; the machine is shared, so compare figures from
one run. Then the idle memory of the whole mesh `forge up` runs (bench/memory.py, issue 16's
target: medians of 3 runs, 1 with --quick). `python -m bench.startup [--runs N] [--quick]` runs
this phase alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import memory
from forge.cli.mesh import SERVICES, Mesh, MeshError, spawn, stop_process
from forge.embedded.process import free_port

RUNS = 5
_TIMEOUT_S = 60.0
_POLL_S = 0.01
# The services as measured: the edge once more with its A2A gRPC listener on (the first edge
# replica of `forge up` has it).
CASES = (*SERVICES, "edge+grpc")
TARGET_SERVICE_S = 2.0  # issue 15: a restarted service serves again within 2 s
TARGET_UP_S = 3.0  # issue 16
# Before issue 15/16's start-up work (python -m bench.startup at 2b8df33, load average ~10).
BEFORE_DATE = "2026-12-06"
BEFORE = {
    "forge up": 11.16,
    "registry": 3.65,
    "router": 2.01,
    "upstream_proxy": 2.20,
    "a2a_bridge": 3.70,
    "plugin_runner": 1.17,
    "edge": 3.52,
    "edge+grpc": 2.74,
}


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def service_start(mesh: Mesh, case: str, log_dir: Path) -> float:
    """Seconds from exec of one more process of `case` to its /readyz answering 200."""
    name = case.removesuffix("+grpc")
    env = mesh.service_env()
    ops_port = free_port()
    env[f"FORGE_{name.upper()}_OPS_PORT"] = str(ops_port)
    url = f"http://127.0.0.1:{ops_port}/readyz"
    if name == "edge":  # its /ready: it listens, and the services behind it answer
        port = free_port()
        url = f"http://127.0.0.1:{port}/ready"
        env["FORGE_EDGE_PORT"] = str(port)
        env["FORGE_EDGE_A2A_GRPC_PORT"] = str(free_port() if case.endswith("+grpc") else 0)
    with open(log_dir / f"{case}.log", "ab") as log:
        started = time.monotonic()
        proc = spawn([sys.executable, "-m", f"forge.{name}"], env, log)
    try:
        while not _ready(url):
            if proc.poll() is not None:
                raise MeshError(f"{case} exited with code {proc.returncode}; see {log_dir}")
            if time.monotonic() - started > _TIMEOUT_S:
                raise MeshError(f"{case} not ready within {_TIMEOUT_S:.0f} s; see {log_dir}")
            time.sleep(_POLL_S)
        return time.monotonic() - started
    finally:
        stop_process(proc)


def import_time(name: str) -> float:
    """Seconds for a fresh interpreter to import the service's __main__ (and exit)."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", f"import forge.{name}.__main__"],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def forge_up(state_dir: Path, log: Path) -> float:
    """Seconds from exec of `forge up` to its "ready at" line; then it is stopped (SIGINT)."""
    with memory.forge_up(state_dir, log) as (_, ready_s):
        return ready_s


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "runs_s": [round(v, 3) for v in values],
    }


def measure(runs: int = RUNS, state_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="forge-startup-") as tmp:
        base = state_dir or Path(tmp)
        logs = base / "startup-logs"
        logs.mkdir(parents=True, exist_ok=True)
        print("start-up: forge up (cold, then warm) ...", flush=True)
        cold = forge_up(base / "up", logs / "forge-up.log")
        warm = [forge_up(base / "up", logs / "forge-up.log") for _ in range(runs)]
        print("start-up: imports of each service ...", flush=True)
        imports = {name: _summary([import_time(name) for _ in range(runs)]) for name in SERVICES}
        print("start-up: each service, exec to /readyz ...", flush=True)
        mesh = Mesh(state_dir=base / "mesh", allow_loopback_upstreams=True)
        try:
            mesh.start()
            services = {}
            for case in CASES:
                services[case] = _summary([service_start(mesh, case, logs) for _ in range(runs)])
        finally:
            mesh.stop()
        print("start-up: idle memory of forge up ...", flush=True)
        idle = memory.median_of(
            [memory.idle(base / "up", logs / "forge-up.log") for _ in range(min(runs, 3))]
        )
    return {
        "runs": runs,
        "forge_up": {"cold_s": round(cold, 3), **_summary(warm)},
        "service_ready": services,
        "imports": imports,
        "memory": idle,
    }


def phase(runs: int = RUNS) -> dict[str, Any]:
    """`measure`, or why it could not (the rest of the bench goes on)."""
    try:
        return measure(runs)
    except MeshError as exc:
        return {"error": str(exc)}


def lines(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"Start-up: not measured: {result['error']}"]
    up = result["forge_up"]
    out = [
        f"Start-up (medians of {result['runs']}, min-max; before: medians of 5 on {BEFORE_DATE},"
        " same loaded machine):",
        f"  forge up -> ready:  {up['median_s']:.2f} s ({up['min_s']:.2f}-{up['max_s']:.2f})"
        f"  before {BEFORE['forge up']:.2f} s  target <= {TARGET_UP_S:.0f} s"
        f"  (cold, initdb included: {up['cold_s']:.2f} s)",
        f"  service            exec -> serving        before   target <= {TARGET_SERVICE_S:.0f} s"
        "   imports alone",
    ]
    for case, ready in result["service_ready"].items():
        imp = result["imports"].get(case)
        imported = f"{imp['median_s']:.2f} s" if imp else ""
        met = "yes" if ready["median_s"] <= TARGET_SERVICE_S else "no"
        out.append(
            f"  {case:<17}  {ready['median_s']:.2f} s ({ready['min_s']:.2f}-{ready['max_s']:.2f})"
            f"  {BEFORE.get(case, 0.0):.2f} s  {met:<3}              {imported}"
        )
    if "memory" in result:
        out += memory.lines(result["memory"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs of each ({RUNS})")
    parser.add_argument("--quick", action="store_true", help="one run of each")
    parser.add_argument("--state-dir", type=Path, help="state and logs (default: temporary)")
    args = parser.parse_args(argv)
    try:
        result = measure(1 if args.quick else args.runs, args.state_dir)
    except MeshError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
