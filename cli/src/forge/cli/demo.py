"""`forge up --demo`: start the sample MCP server and register it as a gateway, and the sample
A2A echo agent, registered as an agent."""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from subprocess import Popen
from typing import IO

from forge.cli.mesh import Mesh, MeshError, spawn, stop_process


@dataclass
class Demo:
    proc: Popen[bytes]
    url: str

    def stop(self) -> None:
        stop_process(self.proc)


def _drain(stream: IO[bytes]) -> None:
    with stream:
        stream.read()


# What a sample server gets of `forge up`'s environment: nothing that could be a secret (the
# FORGE_* settings, the operator's own credentials).
SAMPLE_ENV = ("PATH", "LANG")


def sample_env() -> dict[str, str]:
    return {name: os.environ[name] for name in SAMPLE_ENV if name in os.environ}


def start_server(mesh: Mesh, module: str, *extra: str) -> tuple[Popen[bytes], int]:
    """Start a sample server on a free port, with a clean environment; it prints `PORT <n>`
    once it listens."""
    with open(mesh.log_path(module.rsplit(".", 1)[-1]), "ab") as log:
        proc = Popen(
            [sys.executable, "-m", module, "--port", "0", *extra],
            stdout=-1,
            stderr=log,
            stdin=-3,
            env=sample_env(),
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().split()
    if len(line) != 2 or line[0] != "PORT":
        stop_process(proc)
        raise MeshError(f"{module} did not start: {mesh.tail(module.rsplit('.', 1)[-1])}")
    # Keep reading stdout so the server never blocks on a full pipe; close it at its end.
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return proc, int(line[1])


def _rest(mesh: Mesh, token: str, method: str, path: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        mesh.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
        raise MeshError(f"{method} {path} failed ({exc.code}): {detail}") from None


def register(
    mesh: Mesh, token: str, name: str, url: str, visibility: str = "public"
) -> dict[str, object]:
    """Register a sample server; public by default: every signed-in user may try it."""
    body = {"name": name, "url": url, "transport": "streamablehttp", "visibility": visibility}
    result = _rest(mesh, token, "POST", "/gateways", body)
    assert isinstance(result, dict)
    return result


def replace(mesh: Mesh, token: str, name: str, url: str) -> dict[str, object]:
    """Register `name` at `url`, dropping an earlier registration of that name (a past run's)."""
    listed = _rest(mesh, token, "GET", "/gateways")
    for gateway in listed if isinstance(listed, list) else []:
        if gateway.get("name") == name:
            _rest(mesh, token, "DELETE", f"/gateways/{gateway['id']}")
    return register(mesh, token, name, url)


DEMO_STDIO = ["-m", "forge.servers.demo", "--transport", "stdio"]


def demo_commands() -> str:
    """The allow list `forge up --demo` sets when the operator set none: the demo server over
    stdio, so that a stdio gateway can be tried, with exactly these arguments (no `...`: the
    demo's own options would let it listen on the network or hand out its environment)."""
    return shlex.join([sys.executable, *DEMO_STDIO])


def start_demo(mesh: Mesh, token: str) -> Demo:
    proc, port = start_server(mesh, "forge.servers.demo")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        replace(mesh, token, "demo", url)
    except MeshError:
        stop_process(proc)
        raise
    return Demo(proc, url)


DEMO_AGENT = "echo-agent"


def replace_agent(mesh: Mesh, token: str, name: str, url: str) -> dict[str, object]:
    """Register the A2A agent `name` at `url` (public), dropping a past run's of that name."""
    listed = _rest(mesh, token, "GET", "/a2a")
    for agent in listed if isinstance(listed, list) else []:
        if agent.get("name") == name:
            _rest(mesh, token, "DELETE", f"/a2a/{agent['id']}")
    result = _rest(mesh, token, "POST", "/a2a", {"name": name, "url": url, "visibility": "public"})
    assert isinstance(result, dict)
    return result


def start_demo_agent(mesh: Mesh, token: str) -> Demo:
    """The sample A2A 1.0 echo agent (forge.agents.echo), registered as agent `echo-agent`: its
    tool is `a2a-echo-agent`."""
    proc, port = start_server(mesh, "forge.agents.echo")
    url = f"http://127.0.0.1:{port}/"
    try:
        replace_agent(mesh, token, DEMO_AGENT, url)
    except MeshError:
        stop_process(proc)
        raise
    return Demo(proc, url)


__all__ = [
    "Demo",
    "register",
    "replace_agent",
    "spawn",
    "start_demo",
    "start_demo_agent",
    "start_server",
]
