"""`forge up`'s supervisor: backoff, exit descriptions, `--replicas`, and restarts of real
processes that die (the services themselves: tests/faults)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from forge.cli.main import main, parse_replicas
from forge.cli.mesh import SERVICES, Mesh, MeshError, replica_key, spawn
from forge.cli.supervisor import Backoff, Supervisor, describe_exit
from forge.embedded.postgres import EmbeddedPostgres
from forge.testing import eventually_sync


def test_backoff_doubles_to_its_cap_and_starts_over_after_a_long_run() -> None:
    backoff = Backoff(first_s=0.2, max_s=5.0, reset_after_s=30.0)
    delays = [backoff.after(1.0) for _ in range(8)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert backoff.after(30.0) == 0.2
    assert backoff.after(0.1) == 0.4


def test_an_exit_is_described_by_its_code_or_its_signal() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(-15) == "was killed by SIGTERM"


def test_replicas_are_read_per_service_with_all_and_later_entries_winning() -> None:
    assert parse_replicas("") == {}
    assert parse_replicas("router=2, plugin-runner=3") == {"router": 2, "plugin_runner": 3}
    counts = parse_replicas("all=2,edge=1")
    assert counts == {**dict.fromkeys(SERVICES, 2), "edge": 1}


@pytest.mark.parametrize("text", ["router", "router=0", "router=x", "gateway=2", "edge=17"])
def test_a_wrong_replicas_entry_is_refused_with_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r"router|gateway|edge"):
        parse_replicas(text)


def test_replica_keys_name_the_first_replica_as_the_service() -> None:
    mesh = Mesh(state_dir=Path("."), replicas={"router": 3})
    assert mesh.replica_keys("router") == ["router", "router-2", "router-3"]
    assert mesh.replica_keys("edge") == ["edge"]
    assert mesh.replica_of(replica_key("upstream_proxy", 2)) == ("upstream_proxy", 2)


class ScriptMesh(Mesh):
    """A mesh whose "service" is a short script, so the supervisor's restarts run for real."""

    script = "import sys; print('dying now', flush=True); sys.exit(3)"

    def start_service(self, name: str, replica: int = 1) -> None:
        key = replica_key(name, replica)
        with open(self.log_path(key), "ab") as log:
            self.procs[key] = spawn([sys.executable, "-c", self.script], dict(self.env), log)


def test_a_dead_process_is_logged_and_started_again_with_growing_delays(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    mesh = ScriptMesh(state_dir=tmp_path)
    mesh.start_service("router")
    said: list[str] = []
    supervisor = Supervisor(mesh, said.append)

    def restarted(times: int) -> bool:
        supervisor.step()
        return supervisor.watched["router"].restarts >= times

    try:
        eventually_sync(lambda: restarted(3), within_s=30)
    finally:
        for proc in mesh.procs.values():
            proc.wait()
    deaths = [line for line in said if "exited with code 3" in line]
    assert len(deaths) >= 3 and "dying now" in deaths[0]
    assert "again in 0.2 s" in deaths[0] and "again in 0.4 s" in deaths[1]
    assert any("router started again" in line for line in said)
    assert supervisor.watched["router"].backoff.last_s >= 0.8
    assert isinstance(mesh.procs["router"], subprocess.Popen)


def test_a_killed_embedded_nats_is_started_again_on_its_port_with_its_users(
    tmp_path: Path,
) -> None:
    mesh = Mesh(state_dir=tmp_path)
    mesh.start_nats()
    assert mesh.nats is not None
    url, log = mesh.nats.url, mesh.nats.log_path
    said: list[str] = []
    supervisor = Supervisor(mesh, said.append)
    try:
        os.kill(mesh.nats.proc.pid, signal.SIGKILL)

        def restarted() -> bool:
            supervisor.step()
            return supervisor.nats.restarts == 1

        eventually_sync(restarted, within_s=30)
        assert mesh.nats.url == url  # the services' URLs still lead to it
        host, port = url.removeprefix("nats://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            info = conn.recv(4096)
        assert info.startswith(b"INFO ") and b'"auth_required":true' in info
        assert any("nats was killed by SIGKILL" in line for line in said)
        assert "Server is ready" in log.read_text()
    finally:
        mesh.nats.stop()


def test_forge_up_refuses_a_wrong_replicas_option_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORGE_STATE_DIR", str(tmp_path / "state"))
    assert main(["up", "--replicas", "gateway=2"]) == 2
    assert "no service 'gateway'" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


class UnforkableMesh(ScriptMesh):
    """Its restarts fail as a fork does when the machine is out of processes, twice."""

    failures = 2

    def start_service(self, name: str, replica: int = 1) -> None:
        if self.procs and self.failures:
            self.failures -= 1
            raise BlockingIOError(11, "Resource temporarily unavailable")
        super().start_service(name, replica)


def test_a_restart_that_cannot_fork_is_said_and_tried_again(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    mesh = UnforkableMesh(state_dir=tmp_path)
    mesh.start_service("router")
    said: list[str] = []
    supervisor = Supervisor(mesh, said.append)

    def restarted() -> bool:
        supervisor.step()
        return supervisor.watched["router"].restarts >= 1

    try:
        eventually_sync(restarted, within_s=30)
    finally:
        for proc in mesh.procs.values():
            proc.wait()
    refused = [line for line in said if "could not be started again" in line]
    assert len(refused) == 2 and "Resource temporarily unavailable" in refused[0]
    assert json.loads((tmp_path / "processes.json").read_text())["services"][0]["restarts"] == 1


def test_a_dead_embedded_postgres_stops_the_mesh_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "postgres.log").write_text("FATAL:  could not write to file\n")
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    dead.wait()
    mesh = Mesh(state_dir=tmp_path)
    mesh.postgres = EmbeddedPostgres(port=0, dir=tmp_path, bindir=tmp_path, proc=dead)
    with pytest.raises(MeshError, match="PostgreSQL exited with code 1") as raised:
        Supervisor(mesh, print).step()
    assert "could not write to file" in str(raised.value)
