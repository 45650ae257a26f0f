"""The whole mesh on one machine: embedded NATS and PostgreSQL, migrations, the six services
(one or more replicas of each)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from forge.core import permissions, sealing
from forge.embedded import process
from forge.embedded.nats import EmbeddedNats, start_nats
from forge.embedded.postgres import EmbeddedPostgres, start_postgres
from forge.embedded.process import die_with_parent, free_port

SERVICES = ("registry", "router", "upstream_proxy", "a2a_bridge", "plugin_runner", "edge")
CATALOG_DB = "forge_catalog"
IDENTITY_DB = "forge_identity"
ADMIN_EMAIL = "admin@forge.local"
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
_POOL_MAX = "FORGE_REGISTRY_POOL_MAX_SIZE"
# Where `forge up` says which process is which (pids, ports, restarts): for operators and tests.
STATE_FILE = "processes.json"


def replica_key(name: str, replica: int) -> str:
    """The name of one replica's process, log and ops port: `router`, then `router-2`, ..."""
    return name if replica == 1 else f"{name}-{replica}"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class MeshError(RuntimeError):
    """The mesh could not start; the message says which part and why."""


class Migrations(threading.Thread):
    """Both databases' migrations (forge.registry.migrate, as `python -m forge.registry migrate`
    applies them) in this process: a process of their own took 1 to 2 s of `forge up`'s start
    on a loaded machine, mostly Python's start-up. Logged to `log`; `error` says why they
    failed (None: applied, or up to date)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(name="forge-migrations", daemon=True)
        self.env, self.log = env, log
        self.error: str | None = None

    def run(self) -> None:
        handler = logging.FileHandler(self.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("forge.registry.migrate")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            from forge.core import config
            from forge.core.errors import ForgeError
            from forge.registry.config import RegistryConfig
            from forge.registry.migrate import migrate, migrate_identity

            async def both() -> None:
                # The registry's settings, as the registry reads them from this environment.
                settings = config.load(RegistryConfig, "registry", self.env)
                await migrate(settings.catalog_database_url)
                await migrate_identity(settings.identity_database_url)

            try:
                asyncio.run(both())
            except config.ConfigError as exc:
                self.error = str(exc)
            except ForgeError as exc:
                self.error = exc.message
            except Exception as exc:  # a migration's SQL failing, say: shown, not a traceback
                self.error = f"{type(exc).__name__}: {exc}"
            if self.error is not None:
                logger.error("migrations failed: %s", self.error)
        finally:
            logger.removeHandler(handler)
            handler.close()


def spawn(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not exited in time."""
    process.stop_process(proc, signal.SIGTERM, timeout, group=True)


def _kept(state_dir: Path, name: str, make: Callable[[], str]) -> str:
    """A value generated once and kept (mode 0600) in the state folder."""
    path = state_dir / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.touch(mode=0o600)
    path.write_text(value)
    return value


def load_secret(state_dir: Path) -> str:
    """The JWT secret: FORGE_JWT_SECRET, else one generated once and kept in the state folder."""
    if os.environ.get("FORGE_JWT_SECRET"):
        return os.environ["FORGE_JWT_SECRET"]
    return _kept(state_dir, "jwt-secret", lambda: secrets.token_urlsafe(48))


@dataclass
class Mesh:
    """Start with `start()`, stop with `stop()`; every child process is tracked and stopped."""

    state_dir: Path
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    nats_url: str = ""
    catalog_url: str = ""
    identity_url: str = ""
    secret: str = ""
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ""
    secret_keys: str = ""
    # Local upstreams (the demo servers) live on loopback, which the SSRF guard refuses unless
    # allowed: `forge up --demo` and the tests allow it, a bare `forge up` does not.
    allow_loopback_upstreams: bool = False
    # The commands stdio gateways may run (FORGE_STDIO_ALLOWED_COMMANDS) unless the operator set
    # them: `forge up --demo` allows its demo's; a bare `forge up` none.
    stdio_allowed_commands: str = ""
    # Each service's ops port (/metrics, /livez, /readyz), chosen at start unless
    # FORGE_<SERVICE>_OPS_PORT names one; given to that service alone (a replica a test starts
    # from `service_env()` has none, so it never collides with the mesh's).
    ops_ports: dict[str, int] = field(default_factory=dict)
    # When set, service number i (in SERVICES order) gets ops port `ops_base + i` if it is free
    # (`forge up`: the ports docs/observability/prometheus.yml scrapes); else any free port.
    ops_base: int = 0
    # The embedded NATS (started when no NATS URL is given) has one user per service, allowed
    # its own subjects alone (forge.core.permissions), with passwords made afresh at each start;
    # `nats_url` is then the operator's (every right, for tests and tools) and each service gets
    # its own URL in FORGE_<SERVICE>_NATS_URL. False: no users, anyone may do anything.
    lock_nats: bool = True
    service_nats_urls: dict[str, str] = field(default_factory=dict)
    # How many processes of each service to run (1 when absent). Replica 1 of a service is named
    # as the service (`router`), the others `router-2`, ...: procs, ops ports and logs use that
    # name. Each edge replica listens on its own port (`edge_ports`): `port`, then `port + 1`...
    replicas: dict[str, int] = field(default_factory=dict)
    edge_ports: dict[str, int] = field(default_factory=dict)
    # Forge's A2A gRPC listener (FORGE_EDGE_A2A_GRPC_PORT), on the first edge replica, at the
    # edge's host (loopback): this port, or FORGE_EDGE_A2A_GRPC_PORT's, or a free one; -1: off.
    a2a_grpc_port: int = 0
    # How often the supervisor (forge.cli.supervisor) started each process again.
    restarts: dict[str, int] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of each start
    nats_authorization: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> list[str]:
        """Every edge replica's URL, the first one's (`url`) first."""
        return [self.url] + [
            f"http://127.0.0.1:{port}" for key, port in self.edge_ports.items() if key != "edge"
        ]

    def replica_keys(self, name: str) -> list[str]:
        return [replica_key(name, i) for i in range(1, self.replicas.get(name, 1) + 1)]

    def replica_of(self, key: str) -> tuple[str, int]:
        """(service, replica number) of a process name from `replica_key`."""
        name, _, number = key.partition("-")
        return name, int(number or 1)

    def ops_url(self, name: str) -> str:
        """Where the service `name` serves its ops endpoints."""
        return f"http://127.0.0.1:{self.ops_ports[name]}"

    def _ops_port(self, name: str, replica: int = 1) -> int:
        if replica > 1:  # the configured or conventional port is replica 1's
            return free_port()
        setting = f"FORGE_{name.upper()}_OPS_PORT"
        chosen = self.env.get(setting) or os.environ.get(setting)
        if chosen:
            return int(chosen)
        if self.ops_base and _free(self.ops_base + SERVICES.index(name)):
            return self.ops_base + SERVICES.index(name)
        return free_port()

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def service_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            FORGE_NATS_URL=self.nats_url,
            FORGE_CATALOG_DATABASE_URL=self.catalog_url,
            FORGE_IDENTITY_DATABASE_URL=self.identity_url,
            FORGE_JWT_SECRET=self.secret,
            FORGE_SECRET_KEYS=self.secret_keys,
            FORGE_REGISTRY_PLATFORM_ADMIN_EMAIL=self.admin_email,
            FORGE_REGISTRY_PLATFORM_ADMIN_PASSWORD=self.admin_password,
            FORGE_PUBLIC_URL=self.url,
            FORGE_EDGE_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
        )
        if self.service_nats_urls and self.nats is not None:
            # Each service its own user; nothing else gets a user by default.
            env["FORGE_NATS_URL"] = self.nats.url
            for name, url in self.service_nats_urls.items():
                env[f"FORGE_{name.upper()}_NATS_URL"] = url
        if self.allow_loopback_upstreams:
            env["FORGE_UPSTREAM_ALLOWED_NETWORKS"] = LOOPBACK_NETWORKS
        if self.stdio_allowed_commands and "FORGE_STDIO_ALLOWED_COMMANDS" not in env:
            env["FORGE_STDIO_ALLOWED_COMMANDS"] = self.stdio_allowed_commands
        env.update(self.env)
        return env

    def start(self, ready_timeout: float = 60.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        self.secret = self.env.get("FORGE_JWT_SECRET") or load_secret(self.state_dir)
        self.secret_keys = (
            self.env.get("FORGE_SECRET_KEYS")
            or os.environ.get("FORGE_SECRET_KEYS")
            or _kept(self.state_dir, "secret-keys", sealing.new_key_spec)
        )
        self.admin_password = (
            self.admin_password
            or os.environ.get("FORGE_REGISTRY_PLATFORM_ADMIN_PASSWORD")
            or _kept(self.state_dir, "admin-password", lambda: secrets.token_urlsafe(18))
        )
        self.port = self.port or free_port()
        chosen = self.env.get("FORGE_EDGE_A2A_GRPC_PORT") or os.environ.get(
            "FORGE_EDGE_A2A_GRPC_PORT"
        )
        self.a2a_grpc_port = self.a2a_grpc_port or int(chosen or 0) or free_port()
        self.nats_url = self.nats_url or os.environ.get("FORGE_NATS_URL", "")
        if not self.nats_url:
            self.start_nats()
        self.catalog_url = self.catalog_url or os.environ.get("FORGE_CATALOG_DATABASE_URL", "")
        if not self.catalog_url:
            self.postgres = start_postgres(self.state_dir / "postgres", settings=self.pg_settings())
            self.postgres.create_database(CATALOG_DB, exist_ok=True)
            self.catalog_url = self.postgres.dsn_for(CATALOG_DB)
        self.identity_url = self.identity_url or os.environ.get("FORGE_IDENTITY_DATABASE_URL", "")
        if not self.identity_url:
            if self.postgres is None:
                raise MeshError(
                    "FORGE_CATALOG_DATABASE_URL is set but FORGE_IDENTITY_DATABASE_URL is not:"
                    " the identity registry needs its own database"
                )
            self.postgres.create_database(IDENTITY_DB, exist_ok=True)
            self.identity_url = self.postgres.dsn_for(IDENTITY_DB)
        # Only the registry uses the databases: the other services start (Python start-up is
        # most of their time to ready) while the migrations run, the registry once they are done.
        for name in SERVICES:
            if name != "registry":
                self.start_replicas(name)
        try:
            self.migrate()
        except MeshError:
            for proc in self.procs.values():
                stop_process(proc)
            self.procs.clear()
            raise
        self.start_replicas("registry")
        # In SERVICES order, as they were started before (processes.json, `forge up`'s list).
        self.procs = {key: self.procs[key] for name in SERVICES for key in self.replica_keys(name)}
        self.write_state()
        self.wait_ready(ready_timeout)

    def pg_settings(self) -> dict[str, str]:
        """The embedded PostgreSQL's memory for a local mesh, whose catalog is small: small
        shared buffers, and connections for the registry's two pools at their largest (each
        replica's) with a few to spare (migrations, psql, the superuser's reserved three)."""
        from forge.registry.config import RegistryConfig

        chosen = self.env.get(_POOL_MAX) or os.environ.get(_POOL_MAX, "")
        pool_max = int(chosen) if chosen.isdigit() else RegistryConfig().pool_max_size
        connections = self.replicas.get("registry", 1) * 2 * pool_max + 8
        return {"shared_buffers": "16MB", "max_connections": str(connections)}

    def start_nats(self) -> None:
        """The embedded NATS, locked down unless `lock_nats` is False."""
        if not self.lock_nats:
            self.nats = start_nats(self.state_dir / "nats")
            self.started_at["nats"] = time.monotonic()
            self.nats_url = self.nats.url
            return
        users = [*permissions.SERVICES, permissions.OPERATOR]
        # Kept only in the server's configuration file (mode 0600) and the services' environment.
        passwords = {user: secrets.token_urlsafe(24) for user in users}
        config = permissions.nats_config(passwords, operator=True)
        self.nats_authorization = config
        self.nats = start_nats(self.state_dir / "nats", authorization=config)
        self.started_at["nats"] = time.monotonic()
        host = self.nats.url.removeprefix("nats://")
        urls = {user: f"nats://{user}:{passwords[user]}@{host}" for user in users}
        self.nats_url = urls.pop(permissions.OPERATOR)
        self.service_nats_urls = urls

    def restart_nats(self) -> None:
        """Start the embedded NATS again on its port, with its users and JetStream state: the
        services' connections find it at the URL they know and reconnect by themselves."""
        if self.nats is None:
            return
        port = int(self.nats.url.rsplit(":", 1)[1])
        self.nats = start_nats(self.nats.dir, port=port, authorization=self.nats_authorization)
        self.started_at["nats"] = time.monotonic()

    def migrate(self) -> None:
        """Apply both databases' migrations (in a thread: a caller may run an event loop),
        with no process started meanwhile (never a fork while another thread runs)."""
        migrations = Migrations(self.service_env(), self.log_path("migrate"))
        migrations.start()
        migrations.join()
        if migrations.error is not None:
            raise MeshError(f"migrations failed: {migrations.error}")

    def start_replicas(self, name: str) -> None:
        for replica in range(1, self.replicas.get(name, 1) + 1):
            self.start_service(name, replica)

    def start_service(self, name: str, replica: int = 1) -> None:
        """Start (or start again: same ports, same log) replica `replica` of the service `name`."""
        key = replica_key(name, replica)
        env = self.service_env()
        if key not in self.ops_ports:
            self.ops_ports[key] = self._ops_port(name, replica)
        env[f"FORGE_{name.upper()}_OPS_PORT"] = str(self.ops_ports[key])
        if name == "edge":
            if key not in self.edge_ports:
                wanted = self.port + replica - 1
                self.edge_ports[key] = wanted if replica == 1 or _free(wanted) else free_port()
            env["FORGE_EDGE_PORT"] = str(self.edge_ports[key])
            grpc_port = self.a2a_grpc_port if replica == 1 and self.a2a_grpc_port > 0 else 0
            env["FORGE_EDGE_A2A_GRPC_PORT"] = str(grpc_port)
        with open(self.log_path(key), "ab") as log:
            self.procs[key] = spawn([sys.executable, "-m", f"forge.{name}"], env, log)
        self.started_at[key] = time.monotonic()

    def tail(self, name: str, lines: int = 30) -> str:
        return self.tail_file(self.log_path(name), lines)

    @staticmethod
    def tail_file(path: Path, lines: int = 30) -> str:
        """The last `lines` lines of a log (read from its last 64 KiB: logs grow for days)."""
        try:
            with open(path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 65536))
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def write_state(self) -> None:
        """Write `processes.json` in the state folder: each process's pid, ports and restarts
        (no secrets), replaced whole so a reader never sees half of it."""
        processes = []
        now = time.time()
        for key, proc in self.procs.items():
            name, replica = self.replica_of(key)
            entry: dict[str, object] = {
                "name": key,
                "service": name,
                "replica": replica,
                "pid": proc.pid,
                "ops_port": self.ops_ports.get(key, 0),
                "restarts": self.restarts.get(key, 0),
                # UNIX time of its (last) start.
                "started_at": round(now - (time.monotonic() - self.started_at.get(key, 0.0)), 3),
            }
            if key in self.edge_ports:
                entry["url"] = f"http://127.0.0.1:{self.edge_ports[key]}"
            processes.append(entry)
        state = {
            "services": processes,
            "nats_pid": self.nats.proc.pid if self.nats else None,
            "postgres_pid": self.postgres.proc.pid if self.postgres else None,
        }
        path = self.state_dir / STATE_FILE
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=2) + "\n")
        partial.replace(path)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise MeshError(
                        f"the {name} service exited with code {proc.returncode}:\n{self.tail(name)}"
                    )
            if _answers(self.url + "/ready") and all(map(_answers, self._replica_checks())):
                return
            time.sleep(0.05)
        raise MeshError(f"the mesh was not ready within {timeout:.0f} s; see {self.state_dir}/logs")

    def _replica_checks(self) -> list[str]:
        """What says the replicas past the first are ready: their /readyz (the edges' /ready).
        None with one replica each: the first edge's /ready asks the services behind it."""
        urls = []
        for key in self.procs:
            name, replica = self.replica_of(key)
            if replica > 1:
                urls.append(
                    f"http://127.0.0.1:{self.edge_ports[key]}/ready"
                    if name == "edge"
                    else self.ops_url(key) + "/readyz"
                )
        return urls

    def stop(self) -> None:
        # The edge first so no new request arrives, then the services behind it; the replicas
        # of one service together (each drains its own requests in flight).
        for name in reversed(SERVICES):
            procs = [self.procs[key] for key in self.replica_keys(name) if key in self.procs]
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                stop_process(proc)
        for proc in self.procs.values():  # any other (none today)
            stop_process(proc)
        self.procs.clear()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
