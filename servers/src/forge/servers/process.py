"""Starting a sample server as a child process on a free port, for tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass


@dataclass
class ServerProcess:
    """A running sample server; `url` is its MCP endpoint."""

    proc: subprocess.Popen[bytes]
    port: int
    drain: threading.Thread
    path: str = "/mcp"
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The drain thread sees end-of-file once the child is gone; then the pipe can close.
        self.drain.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(module: str, *args: str, path: str = "/mcp", scheme: str = "http") -> ServerProcess:
    """Run `python -m <module> --port 0 <args>` and wait for its `PORT <n>` line.

    `path` and `scheme` make its `url`: `/sse` for the SSE transport, `ws` for WebSocket.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None  # narrowing: stdout=PIPE above
    words = proc.stdout.readline().split()
    if len(words) != 2 or words[0] != b"PORT":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{module} did not start (exit code {proc.returncode})")
    # Keep draining stdout so the child never blocks on a full pipe.
    drain = threading.Thread(target=proc.stdout.read, daemon=True)
    drain.start()
    return ServerProcess(proc, int(words[1]), drain, path, scheme)
