"""One edge's HTTP port served by several processes (`FORGE_EDGE_WORKERS`): the first process
binds the listening sockets and starts the others (`python -m forge.edge --worker i`), which
inherit them, so every process accepts on the same sockets; the first supervises the others.

Each worker is a whole edge (its own NATS connection, router, caches), as a replica is. A worker
that exits while the edge is not stopping stops the edge (exit 1): it never runs short-handed
unnoticed, and whoever runs the edge restarts it whole. Each worker holds the read end of a pipe
only the first process writes: when the first process is gone, however it died, the pipe ends
and the worker stops (drains) by itself, so no worker outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import msgspec

from forge.core.config import ConfigError
from forge.edge.config import EdgeConfig

log = logging.getLogger("forge.edge")
_BACKLOG = 2048  # uvicorn's default
# After the drain timeout, how long a worker may take to exit before it is killed.
_EXIT_GRACE_S = 5.0


@dataclass(frozen=True)
class Inherited:
    """What a worker got from the first process: its number, the listening sockets' fds, and
    the read end of the pipe that ends when the first process does."""

    index: int
    sockets: tuple[int, ...]
    parent: int


def inherited(argv: list[str]) -> Inherited | None:
    """A worker's part from its command line (`--worker i --sockets 5,6 --parent 7`, written by
    `Workers.start`); None for the first process, started without arguments."""
    if not argv:
        return None
    flags = dict(zip(argv[::2], argv[1::2], strict=False))
    if len(argv) != 6 or set(flags) != {"--worker", "--sockets", "--parent"}:
        raise ConfigError("`python -m forge.edge` takes no arguments: settings are FORGE_EDGE_*")
    try:
        return Inherited(
            int(flags["--worker"]),
            tuple(int(fd) for fd in flags["--sockets"].split(",")),
            int(flags["--parent"]),
        )
    except ValueError:
        raise ConfigError("bad --worker arguments (they are internal)") from None


def settings_of(config: EdgeConfig, index: int) -> EdgeConfig:
    """Worker `index`'s settings: its ops port is `FORGE_EDGE_OPS_PORT` + index (none when that
    is 0); the A2A gRPC listener is the first process's alone."""
    if index == 0:
        return config
    ops_port = config.ops_port + index if config.ops_port else 0
    return msgspec.structs.replace(config, ops_port=ops_port, a2a_grpc_port=0)


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for `host:port`, one per address it resolves to (as asyncio's
    `create_server` binds them)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"FORGE_EDGE_HOST {host!r}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sockets


def adopt(fds: tuple[int, ...]) -> list[socket.socket]:
    """The listening sockets a worker inherited."""
    return [socket.socket(fileno=fd) for fd in fds]


def watch_parent(fd: int, stop: asyncio.Event, drain_timeout_s: float) -> None:
    """Set `stop` when the pipe from the first process ends: it exited, or was killed. Should
    this worker still be running past the drain (stuck starting, say), it exits there."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        if os.read(fd, 1):  # nothing is ever written; only the end matters
            return
        loop.remove_reader(fd)
        if not stop.is_set():
            log.error("the edge's first process is gone; this worker stops")
            stop.set()
        loop.call_later(drain_timeout_s + _EXIT_GRACE_S, os._exit, 1)

    loop.add_reader(fd, readable)


@dataclass
class Workers:
    """The first process's other workers: started, watched, and stopped with it."""

    config: EdgeConfig
    stop: asyncio.Event
    procs: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    failed: str | None = None  # why the edge stopped, when a worker exited on its own
    _stopping: bool = False
    _pipe: int = -1  # the write end: closed, or this process gone, the workers stop
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, sockets: list[socket.socket]) -> None:
        fds = tuple(sock.fileno() for sock in sockets)
        read, self._pipe = os.pipe()  # neither end inheritable but by pass_fds
        try:
            for index in range(1, self.config.workers):
                self.procs[index] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "forge.edge",
                    "--worker",
                    str(index),
                    "--sockets",
                    ",".join(map(str, fds)),
                    "--parent",
                    str(read),
                    stdin=subprocess.DEVNULL,
                    pass_fds=(*fds, read),
                )
                self._tasks.append(asyncio.create_task(self._watch(index)))
        finally:
            os.close(read)
        self._tasks.append(asyncio.create_task(self._forward_stop()))
        log.info("edge workers started", extra={"workers": self.config.workers})

    async def _watch(self, index: int) -> None:
        proc = self.procs[index]
        code = await proc.wait()
        if self._stopping:
            return
        self.failed = f"edge worker {index} (pid {proc.pid}) exited with code {code}"
        log.error("edge worker exited; the edge stops", extra={"worker": index, "code": code})
        self.stop.set()

    async def _forward_stop(self) -> None:
        await self.stop.wait()
        self._terminate()

    def _terminate(self) -> None:
        self._stopping = True
        for proc in self.procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)  # each drains, as the edge does

    async def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL past the drain timeout) and wait for it."""
        self._terminate()
        waiting = [proc.wait() for proc in self.procs.values()]
        try:
            async with asyncio.timeout(self.config.drain_timeout_s + _EXIT_GRACE_S):
                await asyncio.gather(*waiting)
        except TimeoutError:
            for proc in self.procs.values():
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*(proc.wait() for proc in self.procs.values()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
