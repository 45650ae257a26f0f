"""stdio upstreams: one child per gateway, clean environment, own process group, restarted."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Mapping

from forge.core.aiohttp_dialer import Dialer
from forge.core.errors import UpstreamUnavailableError
from forge.proto.catalog import Gateway
from forge.upstream_proxy.channel import ChannelClosedError, ChannelSession
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.credentials import Access

log = logging.getLogger("forge.upstream_proxy.stdio")
# The only variables a child inherits from the upstream-proxy: FORGE_* secrets never reach it.
INHERITED = ("PATH", "HOME", "LANG")
MAX_LINE = 64 * 1024 * 1024
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 30.0
STABLE_S = 10.0  # a child that ran this long resets the backoff
TERM_GRACE_S = 2.0
_PR_SET_PDEATHSIG = 1


def child_env(own: Mapping[str, str], inherited: Mapping[str, str]) -> dict[str, str]:
    """PATH, HOME and LANG of the proxy, then the gateway's own variables (opened from its
    sealed credentials, see credentials.Access.env)."""
    env = {name: inherited[name] for name in INHERITED if name in inherited}
    env.update(own)
    return env


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the proxy is killed outright (SIGKILL, no
    # chance to clean up), the kernel kills the child too. Linux only; elsewhere a no-op.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class StdioSession(ChannelSession):
    """A child process speaking newline-delimited JSON-RPC, kept running by a supervisor."""

    def __init__(
        self,
        gateway: Gateway,
        config: UpstreamProxyConfig,
        inherited: Mapping[str, str],
        access: Access,
        dialer: Dialer,
    ) -> None:
        super().__init__(gateway, config, access, dialer)
        self.command = list(gateway.command or [])
        self.env = child_env(access.env, inherited)
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._running = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child now (the lease holder does) rather than on the first call."""
        if self._supervisor is None and not self._closing:
            self._supervisor = asyncio.create_task(self._supervise())

    async def _connect(self) -> None:
        if not self.command:
            raise UpstreamUnavailableError(f"gateway {self.label} has no command to run")
        self.start()
        await self._running.wait()  # the caller's deadline bounds a child that will not start

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST_S
        while not self._closing:
            started = time.monotonic()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self.env,
                    start_new_session=True,  # its own process group, killed as one
                    preexec_fn=_die_with_parent,
                    limit=MAX_LINE,
                )
            except OSError as exc:
                log.warning("gateway %s: cannot start its command: %s", self.label, exc)
            else:
                await self._run(proc)
            if self._closing:
                return
            if time.monotonic() - started > STABLE_S:
                delay = BACKOFF_FIRST_S
            log.info("gateway %s: restarting its child in %.1f s", self.label, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _run(self, proc: asyncio.subprocess.Process) -> None:
        self.starts += 1
        self._proc = proc
        self._running.set()
        log.info("gateway %s: child %d started", self.label, proc.pid)
        stderr = asyncio.create_task(self._log_stderr(proc))
        try:
            await self._read(proc)
        finally:
            self._running.clear()
            self.era = None
            code = await proc.wait()
            kill_group(proc.pid, signal.SIGKILL)  # whatever it left behind in its group
            await asyncio.wait({stderr})
            self._lost(f"child exited with code {code}")
            if not self._closing:
                log.warning("gateway %s: child %d exited with code %s", self.label, proc.pid, code)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None  # narrowing: stdout=PIPE
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:
                log.warning("gateway %s: a line over %d bytes; restarting", self.label, MAX_LINE)
                kill_group(proc.pid, signal.SIGKILL)
                return
            if not line:
                return
            if line.strip():
                await self._received(line)

    async def _log_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None  # narrowing: stderr=PIPE
        while True:
            try:
                line = await proc.stderr.readline()
            except ValueError:
                continue  # an endless line: skip it
            if not line:
                return
            log.info("gateway %s stderr: %s", self.label, line.decode(errors="replace").rstrip())

    async def _write(self, data: bytes) -> None:
        proc = self._proc
        if not self._running.is_set() or proc is None or proc.stdin is None:
            raise ChannelClosedError("has no running child")
        if b"\n" in data or b"\r" in data:
            # Outside strings these are whitespace (inside they are escaped): one line per message.
            data = data.replace(b"\n", b" ").replace(b"\r", b" ")
        try:
            proc.stdin.write(data + b"\n")
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._running.clear()
            raise ChannelClosedError("lost its child") from exc

    async def _disconnect(self) -> None:
        """Stop the supervisor, then end the child's whole process group: TERM, then KILL."""
        self._closing = True
        proc = self._proc
        if proc is not None:
            kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), TERM_GRACE_S)
            except TimeoutError:
                log.warning("gateway %s: child %d ignored SIGTERM", self.label, proc.pid)
            kill_group(proc.pid, signal.SIGKILL)
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.wait({self._supervisor})
