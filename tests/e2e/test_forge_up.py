"""`forge up --demo` from nothing: serves a tools/call, then Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import httpx
from a2a.types import a2a_pb2, a2a_pb2_grpc

from forge.embedded.process import free_port


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def grpc_answer(where: str, token: str, agent: str, text: str) -> str:
    """The text an agent answers to `text` through Forge's A2A gRPC listener at `where`."""
    request = a2a_pb2.SendMessageRequest(tenant=agent)
    request.message.message_id = uuid.uuid4().hex
    request.message.role = a2a_pb2.ROLE_USER
    request.message.parts.add().text = text
    with grpc.insecure_channel(where) as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]
        answer = stub.SendMessage(
            request, metadata=[("authorization", f"Bearer {token}")], timeout=30
        )
    return str(answer.message.parts[0].text)


def test_forge_up_serves_a_tool_call_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env.update(FORGE_STATE_DIR=str(tmp_path / "state"), FORGE_EDGE_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge.cli.main", "up", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            if "press Ctrl-C" in line or proc.poll() is not None:
                break
        assert any("ready at" in line for line in output), "".join(output)
        token = (tmp_path / "state" / "admin-token").read_text().strip()
        assert token in "".join(output)
        children = descendants(proc.pid)
        assert len(children) >= 9  # nats, postgres, six services, demo server, echo agent
        # Each service's ops port, as printed: alive, and distinct.
        ops = [line.split()[-1] for line in output if line.startswith("forge:   ")]
        assert len(set(ops)) == 6, "".join(output)
        for url in ops:
            assert httpx.get(url + "/livez", timeout=10).status_code == 200, url
        response = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "demo-echo", "arguments": {"text": "from forge up"}},
            },
            timeout=30,
        )
        assert response.json()["result"]["content"][0]["text"] == "from forge up"
        # The demo A2A agent is registered too: its tool reaches it through the a2a-bridge.
        agent = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "a2a-echo-agent", "arguments": {"message": "agent up"}},
            },
            timeout=30,
        )
        assert agent.json()["result"]["content"][0]["text"] == "agent up"
        # The A2A gRPC listener, at the address printed: the demo agent answers over it.
        [grpc_line] = [line for line in output if "A2A over gRPC at" in line]
        where = grpc_line.split(" at ", 1)[1].split()[0]
        assert grpc_answer(where, token, "echo-agent", "grpc up") == "grpc up"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        left = [pid for pid in children if alive(pid)]
        assert left == [], f"processes left running: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
