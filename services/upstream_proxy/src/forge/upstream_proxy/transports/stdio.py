"""stdio upstreams: one child per gateway, started by the Launcher (allow list, audit, least
privilege), in its own process group, restarted."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from forge.core.aiohttp_dialer import Dialer
from forge.core.commands import CommandNotAllowedError
from forge.core.errors import ForgeError, UpstreamUnavailableError
from forge.core.launch import Launch, kill_group
from forge.proto.catalog import Gateway
from forge.upstream_proxy.auth.credentials import Access
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.channel import ChannelClosedError, ChannelSession
from forge.upstream_proxy.transports.launcher import MAX_LINE, Launcher

log = logging.getLogger("forge.upstream_proxy.transports.stdio")
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 30.0
STABLE_S = 10.0  # a child that ran this long resets the backoff
TERM_GRACE_S = 2.0


class StdioSession(ChannelSession):
    """A child process speaking newline-delimited JSON-RPC, kept running by a supervisor."""

    def __init__(
        self,
        gateway: Gateway,
        config: UpstreamProxyConfig,
        launcher: Launcher,
        access: Access,
        dialer: Dialer,
    ) -> None:
        super().__init__(gateway, config, access, dialer)
        self.command = list(gateway.command or [])
        self.launcher = launcher
        self.own_env = access.env
        self.starts = 0
        # Set when the allow list refuses the command: no restart, every call fails with it.
        self.refused: CommandNotAllowedError | None = None
        # Why the last start failed (exec refused, audit log down), until a start succeeds:
        # a call fails with it at once rather than waiting out its deadline for a child that
        # may never run. The supervisor keeps trying.
        self.start_error: ForgeError | None = None
        self._start_failed = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._launch: Launch | None = None
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
        if self.refused is None and self.start_error is None and self._supervisor is not None:
            # The caller's deadline bounds a child that is slow to start; a refusal or a failed
            # start ends the wait.
            running = asyncio.ensure_future(self._running.wait())
            failed = asyncio.ensure_future(self._start_failed.wait())
            try:
                await asyncio.wait(
                    {running, failed, self._supervisor}, return_when="FIRST_COMPLETED"
                )
            finally:
                running.cancel()
                failed.cancel()
        if self.refused is not None:
            raise self.refused
        if self._running.is_set():
            return
        if self.start_error is not None:
            raise self.start_error
        raise UpstreamUnavailableError(f"gateway {self.label} has no running child")

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST_S
        while not self._closing:
            started = time.monotonic()
            try:
                proc, launch = await self.launcher.start(self.gateway, self.own_env)
            except CommandNotAllowedError as exc:
                log.warning("gateway %s: its command is not allowed; not started", self.label)
                self.refused = exc
                return
            except ForgeError as exc:  # not audited, or exec failed: try again later
                log.warning("gateway %s: %s", self.label, exc.message)
                self.start_error = exc
                self._start_failed.set()
            else:
                await self._run(proc, launch)
            if self._closing:
                return
            if time.monotonic() - started > STABLE_S:
                delay = BACKOFF_FIRST_S
            log.info("gateway %s: restarting its child in %.1f s", self.label, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _run(self, proc: asyncio.subprocess.Process, launch: Launch) -> None:
        self.starts += 1
        self._proc, self._launch = proc, launch
        self.start_error = None
        self._start_failed.clear()
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
            launch.cleanup()
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
        if self._launch is not None:  # its working directory, if the supervisor was cut short
            self._launch.cleanup()
