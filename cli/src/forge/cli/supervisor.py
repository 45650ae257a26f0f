"""`forge up` keeps its mesh running: a service process that dies is logged and started again
with backoff, the embedded NATS too; the rest of the mesh keeps serving meanwhile."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forge.cli.mesh import STATE_FILE, Mesh, MeshError

# A process that dies is started again after FIRST_S, then after twice the last delay each time
# it dies again, up to MAX_S; once it has stayed up RESET_AFTER_S the next delay is FIRST_S again.
FIRST_S = 0.2
MAX_S = 5.0
RESET_AFTER_S = 30.0
LOG_LINES = 12


@dataclass
class Backoff:
    """The delay before the next start of one process."""

    first_s: float = FIRST_S
    max_s: float = MAX_S
    reset_after_s: float = RESET_AFTER_S
    last_s: float = 0.0

    def after(self, up_for_s: float) -> float:
        """The delay before starting again a process that died after `up_for_s` seconds up."""
        if self.last_s == 0.0 or up_for_s >= self.reset_after_s:
            self.last_s = self.first_s
        else:
            self.last_s = min(self.last_s * 2, self.max_s)
        return self.last_s


def describe_exit(code: int) -> str:
    """`exited with code 1` or `was killed by SIGKILL` (Popen's negative return codes)."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Watched:
    """One supervised process: when it last started, and when to start it again if it is down."""

    started_at: float
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Call `step()` often (every 0.1 s): it notices deaths and performs due restarts.

    The embedded PostgreSQL is not restarted: it would come back on another port, which every
    service was given at start; its death stops the mesh (MeshError from `step`).
    """

    def __init__(
        self,
        mesh: Mesh,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mesh = mesh
        self.say = say
        self.clock = clock
        now = clock()
        self.watched = {key: Watched(mesh.started_at.get(key, now)) for key in mesh.procs}
        self.nats = Watched(mesh.started_at.get("nats", now))

    def step(self) -> None:
        now = self.clock()
        self._postgres()
        self._nats(now)
        for key, proc in list(self.mesh.procs.items()):
            watched = self.watched.setdefault(key, Watched(now))
            if watched.restart_at is None and proc.poll() is not None:
                self._died(key, proc.returncode, watched, now, self.mesh.tail(key, LOG_LINES))
            if watched.restart_at is not None and now >= watched.restart_at:
                self._start(key, watched, now)

    def _start(self, key: str, watched: Watched, now: float) -> None:
        service, replica = self.mesh.replica_of(key)
        try:
            self.mesh.start_service(service, replica)
        except OSError as exc:  # no fork (EAGAIN, ENOMEM), the log not writable: try again later
            watched.started_at = now
            watched.restart_at = now + watched.backoff.after(0.0)
            self.say(f"forge: {key} could not be started again ({exc}); trying again")
            return
        watched.restarts += 1
        watched.started_at, watched.restart_at = now, None
        self.mesh.restarts[key] = watched.restarts
        self._write_state()
        pid = self.mesh.procs[key].pid
        self.say(f"forge: {key} started again (pid {pid}, restart {watched.restarts})")

    def _write_state(self) -> None:
        try:
            self.mesh.write_state()
        except OSError as exc:  # a full disk must not stop the supervision
            self.say(f"forge: could not write {STATE_FILE} ({exc})")

    def _died(self, name: str, code: int, watched: Watched, now: float, log: str) -> None:
        up_for = now - watched.started_at
        delay = watched.backoff.after(up_for)
        watched.restart_at = now + delay
        lines = "\n".join(f"forge:   | {line}" for line in log.splitlines())
        self.say(
            f"forge: {name} {describe_exit(code)} after {up_for:.1f} s up;"
            f" starting it again in {delay:.1f} s. The end of its log:\n{lines}"
        )

    def _nats(self, now: float) -> None:
        nats = self.mesh.nats
        if nats is None:
            return
        if self.nats.restart_at is None and nats.proc.poll() is not None:
            log = self.mesh.tail_file(nats.log_path, LOG_LINES)
            self._died("nats", nats.proc.returncode, self.nats, now, log)
        if self.nats.restart_at is not None and now >= self.nats.restart_at:
            try:
                self.mesh.restart_nats()
            except (RuntimeError, OSError) as exc:  # the port still held, no fork, ...
                self.say(f"forge: nats did not start again: {exc}")
                self.nats.started_at = now
                self.nats.restart_at = now + self.nats.backoff.after(0.0)
                return
            self.nats.restarts += 1
            self.nats.started_at, self.nats.restart_at = now, None
            self._write_state()
            self.say(f"forge: nats started again on the same port (restart {self.nats.restarts})")

    def _postgres(self) -> None:
        postgres = self.mesh.postgres
        if postgres is not None and postgres.proc.poll() is not None:
            code = postgres.proc.returncode
            log = self.mesh.tail_file(postgres.log_path, LOG_LINES)
            raise MeshError(
                f"the embedded PostgreSQL {describe_exit(code)}; the mesh stops (its services"
                f" know it on a port it may not get back). The end of its log:\n{log}"
            )
