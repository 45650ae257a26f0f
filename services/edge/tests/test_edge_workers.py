"""FORGE_EDGE_WORKERS: one edge's port served by several processes (`python -m forge.edge`),
which stop together however the edge stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from forge.embedded.process import clean_env, free_port
from forge.testing.polling import eventually_sync

SECRET = "s" * 40


def _ops_ports() -> int:
    """A free port whose next one is free too: workers 0 and 1's ops ports."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone while we looked
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (one only its new parent has yet to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


@dataclass
class Edge:
    proc: subprocess.Popen[bytes]
    url: str
    ops_port: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def worker(self) -> int:
        """The second worker's pid, the first process's child."""
        found = _children(self.proc.pid)
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
def edge(nats_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Edge]:
    """An edge of two workers over the real bus, both up (their ops ports answer); uvicorn,
    or the HTTP server a test names (indirect parameter)."""
    port, ops_port = free_port(), _ops_ports()
    env = clean_env()
    env.update(
        FORGE_NATS_URL=nats_url,
        FORGE_JWT_SECRET=SECRET,
        FORGE_EDGE_ROUTER="remote",  # serving needs no catalog registry then
        FORGE_EDGE_PORT=str(port),
        FORGE_EDGE_OPS_PORT=str(ops_port),
        FORGE_EDGE_WORKERS="2",
        FORGE_EDGE_HTTP_SERVER=getattr(request, "param", "uvicorn"),
        FORGE_LOG_LEVEL="warning",
    )
    log = tmp_path / "edge.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "forge.edge"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    edge = Edge(proc, f"http://127.0.0.1:{port}", ops_port, log)
    try:
        for ops in (ops_port, ops_port + 1):  # worker i's ops port: FORGE_EDGE_OPS_PORT + i
            eventually_sync(
                partial(_alive, ops),
                within_s=30,
                retry_on=(httpx.TransportError,),
                detail=edge.tail,
            )
        yield edge
    finally:
        with_children = [proc.pid, *_children(proc.pid)]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in with_children:  # any left over, never past the test
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(ops_port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{ops_port}/livez").status_code == 200


def _health(url: str) -> int:
    # Waits in the listen queue until a process that is not stopped accepts it.
    return httpx.get(url + "/health", timeout=30).status_code


@pytest.mark.parametrize("edge", ["uvicorn", "hypercorn"], indirect=True)
def test_both_workers_accept_on_the_port_and_sigterm_stops_both(edge: Edge) -> None:
    child = edge.worker()
    for paused in (edge.proc.pid, child):  # one stopped: the other must answer
        os.kill(paused, signal.SIGSTOP)
        try:
            assert _health(edge.url) == 200
        finally:
            os.kill(paused, signal.SIGCONT)
    edge.proc.send_signal(signal.SIGTERM)
    assert edge.proc.wait(30) == 0, edge.tail()
    eventually_sync(lambda: not _running(child), within_s=30, detail=edge.tail)


def test_killing_the_first_process_stops_the_other_worker(edge: Edge) -> None:
    child = edge.worker()
    edge.proc.kill()
    edge.proc.wait()
    eventually_sync(lambda: not _running(child), within_s=30, detail=edge.tail)


def test_a_worker_exiting_on_its_own_stops_the_edge_with_exit_1(edge: Edge) -> None:
    os.kill(edge.worker(), signal.SIGKILL)
    assert edge.proc.wait(30) == 1, edge.tail()
