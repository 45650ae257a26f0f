"""The system under test: the whole mesh, a fastecho upstream, and the gateway that joins them."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from bench import calls
from forge.cli.demo import register, start_server
from forge.cli.mesh import Mesh, MeshError, stop_process
from forge.cli.tokens import mint

GATEWAY = "echo"
FORGE_TOOL = f"{GATEWAY}-echo"  # how Forge names the upstream's `echo` tool
UPSTREAM_TOOL = "echo"


@dataclass
class Stack:
    """Handles on everything running, for building targets and sampling CPU."""

    mesh: Mesh
    upstream: Popen[bytes]
    upstream_url: str
    token: str

    @property
    def forge_url(self) -> str:
        url: str = self.mesh.url
        return url + "/mcp"

    def pids(self) -> dict[str, int]:
        """The root process of each part, by name; CPU is summed over each one's descendants."""
        roots = {name: proc.pid for name, proc in self.mesh.procs.items()}
        if self.mesh.nats is not None:
            roots["nats"] = self.mesh.nats.proc.pid
        if self.mesh.postgres is not None:
            roots["postgres"] = self.mesh.postgres.proc.pid
        roots["fastecho"] = self.upstream.pid
        return roots

    def targets(self, era: calls.Era) -> tuple[calls.Target, calls.Target]:
        """The same tools/call sent straight to fastecho, and through Forge."""
        direct = calls.target("direct", self.upstream_url, UPSTREAM_TOOL, era, session=True)
        forge = calls.target("forge", self.forge_url, FORGE_TOOL, era, token=self.token)
        return direct, forge


def _call_once(target: calls.Target) -> tuple[int, bytes]:
    """One call carrying the prepared headers and body, through urllib."""
    head, _, body = target.request.partition(b"\r\n\r\n")
    headers = dict(
        line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line
    )
    headers.pop("Content-Length", None)
    headers.pop("Host", None)
    path = head.split(b" ", 2)[1].decode()
    url = f"http://{target.host}:{target.port}{path}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_callable(target: calls.Target, timeout_s: float = 30.0) -> None:
    """Until the tool answers with the echo: registration reaches the router's catalog async."""
    deadline = time.monotonic() + timeout_s
    status, body = 0, b""
    while time.monotonic() < deadline:
        status, body = _call_once(target)
        if status == 200 and target.expect in body and b'"error"' not in body:
            return
        time.sleep(0.2)
    raise MeshError(
        f"{target.name} ({target.era}) never answered the echo; last: HTTP {status} {body[:300]!r}"
    )


@contextlib.contextmanager
def running(
    state_dir: Path,
    *,
    log_level: str = "warning",
    plugins_config: Path | None = None,
    env: dict[str, str] | None = None,
    edge_workers: int = 1,
) -> Iterator[Stack]:
    """Start everything, register fastecho as gateway `echo`, and stop it all on the way out.

    `plugins_config`: the YAML file the plugin-runner watches (the plugin phase rewrites it).
    `env`: more settings for every service (the tracing phase's OTEL_*).
    `edge_workers`: the edge's processes (FORGE_EDGE_WORKERS); its CPU is summed over all of
    them, its children (`Stack.pids`).
    """
    env = {"FORGE_LOG_LEVEL": log_level, "FORGE_EDGE_WORKERS": str(edge_workers), **(env or {})}
    if plugins_config is not None:
        plugins_config.write_text("plugins: []\n")
        env["FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG"] = str(plugins_config)
        env["FORGE_PLUGIN_RUNNER_RELOAD_INTERVAL_S"] = "0.2"
    mesh = Mesh(state_dir=state_dir, env=env, allow_loopback_upstreams=True)
    upstream: Popen[bytes] | None = None
    try:
        mesh.start()
        upstream, port = start_server(mesh, "forge.servers.fastecho", "--era", "both")
        upstream_url = f"http://127.0.0.1:{port}/mcp"
        token = mint(mesh.secret, mesh.admin_email, admin=True, ttl_s=24 * 3600)
        gateway = register(mesh, token, GATEWAY, upstream_url)
        if "id" not in gateway and "name" not in gateway:
            raise MeshError(f"registering the upstream failed: {json.dumps(gateway)[:300]}")
        yield Stack(mesh, upstream, upstream_url, token)
    finally:
        if upstream is not None:
            stop_process(upstream)
        mesh.stop()
