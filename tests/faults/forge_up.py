"""`forge up` as a process, the way an operator runs it, for fault tests: start it with replicas,
read which process is which (its processes.json), kill some, wait until its supervisor has
started them again and they are ready, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from forge.embedded.process import die_with_parent, free_port
from forge.testing import eventually_sync

STARTED = "press Ctrl-C"


@dataclass
class ForgeUp:
    proc: subprocess.Popen[bytes]
    state: Path
    output: Path  # forge up's stdout and stderr (the supervisor's reports are there)
    token: str

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def processes(self) -> dict[str, dict[str, Any]]:
        """Each process of the mesh by name (`router`, `router-2`, ...), from processes.json."""
        state = json.loads((self.state / "processes.json").read_text())
        return {entry["name"]: entry for entry in state["services"]}

    @property
    def urls(self) -> list[str]:
        """Every edge replica's URL, the first edge's first."""
        edges = [e for e in self.processes().values() if e["service"] == "edge"]
        return [e["url"] for e in sorted(edges, key=lambda e: e["replica"])]

    def replicas(self, service: str) -> list[str]:
        return [name for name, e in self.processes().items() if e["service"] == service]

    def kill(self, *names: str) -> dict[str, int]:
        """SIGKILL the processes `names`; their pids, for `wait_restarted`."""
        pids = {name: self.processes()[name]["pid"] for name in names}
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
        return pids

    def wait_restarted(self, killed: dict[str, int], within_s: float = 60) -> float:
        """Wait until each killed process has a new pid; the UNIX time of the last new start."""

        def restarted() -> float | None:
            now = self.processes()
            if any(now[name]["pid"] == pid for name, pid in killed.items()):
                return None
            return max(float(now[name]["started_at"]) for name in killed)

        return eventually_sync(
            restarted, within_s=within_s, every_s=0.02, retry_on=(ValueError,), detail=self.log
        )

    def wait_ready(self, names: list[str], within_s: float = 60) -> float:
        """Wait until each process says it is ready (an edge's /ready, the others' /readyz);
        the UNIX time when all were."""
        processes = self.processes()
        urls = [
            processes[n]["url"] + "/ready"
            if "url" in processes[n]
            else f"http://127.0.0.1:{processes[n]['ops_port']}/readyz"
            for n in names
        ]

        def ready() -> bool:
            return all(httpx.get(url, timeout=5).status_code == 200 for url in urls)

        eventually_sync(
            ready,
            within_s=within_s,
            every_s=0.02,
            retry_on=(httpx.TransportError,),
            detail=self.log,
        )
        return time.time()

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def start(
    state: Path,
    *,
    replicas: str = "",
    env: dict[str, str] | None = None,
    demo: bool = True,
    ready_within_s: float = 180,
) -> ForgeUp:
    """`forge up [--demo] [--replicas ...]` with its state in `state`, on a free port, the
    environment's FORGE_* settings dropped and `env` added; returns once it says it is ready."""
    state.mkdir(parents=True, exist_ok=True)
    given = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    given.update(FORGE_STATE_DIR=str(state / "state"), FORGE_EDGE_PORT=str(free_port()))
    given.update(env or {})
    args = [sys.executable, "-m", "forge.cli.main", "up"]
    args += ["--demo"] * demo + (["--replicas", replicas] if replicas else [])
    output = state / "forge-up.log"
    with open(output, "ab") as log:
        proc = subprocess.Popen(
            args,
            env=given,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )

    def started() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"forge up exited ({proc.returncode}):\n{output.read_text()}")
        return STARTED in output.read_text(errors="replace")

    try:
        eventually_sync(started, within_s=ready_within_s, every_s=0.05)
    except BaseException:
        ForgeUp(proc, state / "state", output, "").stop()
        raise
    token = (state / "state" / "admin-token").read_text().strip()
    return ForgeUp(proc, state / "state", output, token)
