"""A mesh of its own for outage tests: its own NATS (restartable on the same port, with its store
kept) and its own PostgreSQL, which the registry reaches through cuttable proxies
(tests/faults/outages_proxy.py), and fastecho registered as gateway `echo`.

Nothing here is shared with the session's `mesh`: restarting NATS or PostgreSQL under it would
disturb every other test.
"""

from __future__ import annotations

import itertools
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, STDOUT, Popen
from typing import Any

import httpx

from forge.cli.demo import register, start_server
from forge.cli.mesh import Mesh, stop_process
from forge.cli.tokens import mint
from forge.embedded.nats import EmbeddedNats, nats_server_path
from forge.embedded.postgres import EmbeddedPostgres, start_postgres
from forge.embedded.process import die_with_parent, tail
from tests.faults.outages_proxy import CuttableProxy

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "outages", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
GATEWAY = "echo"
TOOL = f"{GATEWAY}-echo"
# Short, so a request caught by an outage ends quickly, yet long for a loaded 2-core machine.
REQUEST_TIMEOUT_S = 4.0
_IDS = itertools.count(1)


def rpc(method: str, params: dict[str, Any] | None = None, name: str = "") -> dict[str, Any]:
    """httpx keyword arguments for one modern MCP request."""
    body = {
        "jsonrpc": "2.0",
        "id": next(_IDS),
        "method": method,
        "params": {**(params or {}), "_meta": META},
    }
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name:
        headers["Mcp-Name"] = name
    return {"json": body, "headers": headers}


def call(text: str, tool: str = TOOL) -> dict[str, Any]:
    return rpc("tools/call", {"name": tool, "arguments": {"text": text}}, tool)


@dataclass
class OutageMesh:
    mesh: Mesh
    postgres: EmbeddedPostgres
    catalog_proxy: CuttableProxy
    identity_proxy: CuttableProxy
    upstream: Popen[bytes]
    upstream_url: str
    token: str

    @property
    def url(self) -> str:
        return self.mesh.url

    def client(self, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.mesh.url, headers=headers, **kw)

    def restart_nats(self, down_s: float = 0.0) -> None:
        """Stop nats-server and, `down_s` later, start it again on the same port with the same
        users and store folder (JetStream's KV buckets and streams are kept on disk there)."""
        nats = self.mesh.nats
        assert nats is not None
        authorization = (nats.dir / "nats.conf").read_text()
        port = int(nats.url.rsplit(":", 1)[1])
        nats.stop()
        time.sleep(down_s)
        self.mesh.nats = _nats_with_reloadable_jetstream(nats.dir, port, authorization)

    def jetstream(self, enabled: bool) -> None:
        """Turn JetStream off or on by a configuration reload (SIGHUP), core NATS staying up:
        a JetStream (KV) outage. Only after `restart_nats`, whose server has JetStream in its
        configuration file (`-js` on the command line cannot be reloaded away)."""
        nats = self.mesh.nats
        assert nats is not None
        config = nats.dir / "nats.conf"
        lines = [line for line in config.read_text().splitlines() if "jetstream" not in line]
        store = (
            f'jetstream {{ store_dir: "{nats.dir / "js"}" }}' if enabled else "jetstream: disabled"
        )
        config.write_text("\n".join([store, *lines]) + "\n")
        done = "Reloaded server configuration"
        before = nats.log_path.read_text(errors="replace").count(done)
        nats.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while nats.log_path.read_text(errors="replace").count(done) == before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not reload: {tail(nats.log_path)}")
            time.sleep(0.02)

    def restart_postgres(self) -> None:
        """A fast shutdown of PostgreSQL and a start on the same data (on another port, which the
        proxies follow: the registry keeps its URL)."""
        self.postgres.stop()
        self.postgres = start_postgres(self.postgres.dir)
        self.catalog_proxy.retarget(self.postgres.port)
        self.identity_proxy.retarget(self.postgres.port)

    def stop(self) -> None:
        stop_process(self.upstream)
        self.mesh.stop()
        self.catalog_proxy.stop()
        self.identity_proxy.stop()
        self.postgres.stop()


def start(state: Path, env: dict[str, str] | None = None) -> OutageMesh:
    postgres = start_postgres(state / "postgres")
    started: list[Any] = [postgres]
    try:
        postgres.create_database("catalog", exist_ok=True)
        postgres.create_database("identity", exist_ok=True)
        catalog_proxy = CuttableProxy(postgres.port).start()
        started.append(catalog_proxy)
        identity_proxy = CuttableProxy(postgres.port).start()
        started.append(identity_proxy)
        mesh = Mesh(
            state_dir=state / "mesh",
            env={
                "FORGE_EDGE_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
                "FORGE_LOG_LEVEL": "info",
                **(env or {}),
            },
            catalog_url=_via(postgres.dsn_for("catalog"), postgres.port, catalog_proxy.port),
            identity_url=_via(postgres.dsn_for("identity"), postgres.port, identity_proxy.port),
            allow_loopback_upstreams=True,
        )
        started.append(mesh)
        mesh.start()
        upstream, port = start_server(mesh, "forge.servers.fastecho", "--era", "both")
        started.append(upstream)
        upstream_url = f"http://127.0.0.1:{port}/mcp"
        token = mint(mesh.secret, mesh.admin_email, admin=True, ttl_s=3600)
        register(mesh, token, GATEWAY, upstream_url)
    except BaseException:
        for part in reversed(started):
            stop_process(part) if isinstance(part, Popen) else part.stop()
        raise
    return OutageMesh(mesh, postgres, catalog_proxy, identity_proxy, upstream, upstream_url, token)


def _nats_with_reloadable_jetstream(folder: Path, port: int, authorization: str) -> EmbeddedNats:
    """nats-server on `port` with JetStream (its store in `folder`/js, as start_nats keeps it)
    set in its configuration file rather than by `-js`, so a reload can turn it off and on."""
    lines = [line for line in authorization.splitlines() if "jetstream" not in line]
    config = folder / "nats.conf"
    config.write_text("\n".join([f'jetstream {{ store_dir: "{folder / "js"}" }}', *lines]) + "\n")
    args = [str(nats_server_path()), "-a", "127.0.0.1", "-p", str(port), "-c", str(config)]
    args += ["--ports_file_dir", str(folder)]
    with open(folder / "nats.log", "ab") as log:
        proc = Popen(
            args,
            stdin=DEVNULL,
            stdout=log,
            stderr=STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    ports = folder / f"{nats_server_path().name}_{proc.pid}.ports"
    deadline = time.monotonic() + 10
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nats-server did not start: {tail(folder / 'nats.log')}")
        time.sleep(0.01)
    return EmbeddedNats(url=f"nats://127.0.0.1:{port}", dir=folder, proc=proc)


def _via(dsn: str, port: int, proxy_port: int) -> str:
    return dsn.replace(f"127.0.0.1:{port}/", f"127.0.0.1:{proxy_port}/")
