"""stdio upstreams: a clean environment, no leaked children, restarts, one replica per child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
from proxy_harness import (
    ALLOWED_COMMANDS,
    STDIO_USER,
    call,
    publish_and_wait,
    serve_audit,
    stdio_gateway,
    text_of,
    tool_call,
)

from conftest import StartProxy
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.proto.catalog import Deleted, Gateway, Snapshot
from forge.proto.envelope import Envelope
from forge.upstream_proxy.app import UpstreamProxy
from forge.upstream_proxy.config import UpstreamProxyConfig


async def exited(pidfd: int) -> None:
    """Wait until the process behind `pidfd` has exited (its pidfd becomes readable)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(pidfd, done.set)
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        loop.remove_reader(pidfd)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


@contextlib.contextmanager
def pidfd(pid: int) -> Iterator[int]:
    fd = os.pidfd_open(pid)
    try:
        yield fd
    finally:
        os.close(fd)


async def child_pid(bus: NatsBus, gw: Gateway) -> int:
    return int(text_of(await call(bus, gw, tool_call("pid"))))


async def serve_snapshot(bus: NatsBus, *gateways: Gateway) -> None:
    """The registry's part: the catalog snapshot, and the audit log of launches."""
    snapshot = msgspec.json.encode(Snapshot(gateways=list(gateways), tools=[], servers=[]))

    async def answer(env: Envelope) -> bytes:
        return snapshot

    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    await rpc.serve_envelopes(bus, subject, answer, queue=None)
    await serve_audit(bus)


@contextlib.asynccontextmanager
async def proxy_process(nats_url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m forge.upstream_proxy` with a secret in its environment, once it is ready."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FORGE_NATS_URL": nats_url,
        "FORGE_SECRET_PROBE": "do-not-leak",
        "FORGE_STDIO_ALLOWED_COMMANDS": ALLOWED_COMMANDS,
        "FORGE_STDIO_USER": STDIO_USER,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "forge.upstream_proxy",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None  # narrowing: stderr=PIPE
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(20):
            while b"upstream-proxy ready" not in (line := await proc.stderr.readline()):
                assert line, "the upstream-proxy exited before it was ready"
        drain = asyncio.create_task(proc.stderr.read())  # keep its log pipe from filling up
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        if drain is not None:
            await drain


async def test_a_stdio_child_gets_only_a_clean_environment_and_the_gateways_own(
    bus: NatsBus, nats_url: str
) -> None:
    gw = stdio_gateway("--env-tool", env={"DEMO_SETTING": "from-the-gateway"})
    await serve_snapshot(bus, gw)
    async with proxy_process(nats_url):

        async def env_of(name: str) -> str:
            return str(text_of(await call(bus, gw, tool_call("env", name=name))))

        assert await env_of("FORGE_SECRET_PROBE") == "absent"
        assert await env_of("FORGE_NATS_URL") == "absent"
        assert await env_of("DEMO_SETTING") == "from-the-gateway"
        assert await env_of("PATH") == os.environ.get("PATH", "")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_stopping_the_proxy_process_leaves_no_child_behind(
    bus: NatsBus, nats_url: str, how: signal.Signals
) -> None:
    gw = stdio_gateway()
    await serve_snapshot(bus, gw)
    async with proxy_process(nats_url) as proxy:
        child = await child_pid(bus, gw)
        assert os.getpgid(child) == child  # its own process group
        with pidfd(child) as fd:
            proxy.send_signal(how)
            await exited(fd)
        await proxy.wait()
    assert not alive(child)
    assert group_members(child) == []


async def test_a_stdio_child_that_dies_is_restarted(bus: NatsBus, start_proxy: StartProxy) -> None:
    gw = stdio_gateway()
    await start_proxy(gw)
    first = await child_pid(bus, gw)
    with pidfd(first) as fd:
        os.kill(first, signal.SIGKILL)
        await exited(fd)
    second = await child_pid(bus, gw)
    assert second != first
    assert text_of(await call(bus, gw, tool_call("echo", text="back"))) == "back"


async def test_removing_a_stdio_gateway_kills_its_process_group(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = stdio_gateway()
    proxy = await start_proxy(gw)
    child = await child_pid(bus, gw)
    with pidfd(child) as fd:
        deleted = subjects.event(subjects.CATALOG, "gateways", "deleted")
        await publish_and_wait(bus, proxy, deleted, msgspec.json.encode(Deleted(gw.id)))
        await exited(fd)
    assert group_members(child) == []
    assert not proxy.leases.holds(gw.id)


async def test_only_the_lease_holder_runs_the_child_and_another_replica_takes_over(
    bus: NatsBus, nats_url: str
) -> None:
    gw = stdio_gateway()
    await serve_snapshot(bus, gw)
    replicas: list[tuple[UpstreamProxy, NatsBus]] = []
    for name in ("a", "b"):
        own_bus = await NatsBus.connect(nats_url, f"forge-test-proxy-{name}")
        settings = UpstreamProxyConfig(
            stdio_allowed_commands=ALLOWED_COMMANDS, stdio_user=STDIO_USER
        )
        proxy = UpstreamProxy(own_bus, settings)
        await proxy.start()
        replicas.append((proxy, own_bus))
    try:
        holders = [(p, b) for p, b in replicas if p.leases.holds(gw.id)]
        assert len(holders) == 1
        (holder, holder_bus), (other, _) = holders[0], next(r for r in replicas if r != holders[0])
        # Calls land on either replica (queue group); all reach the holder's one child.
        pids = {await child_pid(bus, gw) for _ in range(8)}
        assert len(pids) == 1
        took_over = asyncio.Event()
        acquired = other.leases._acquired

        async def on_acquired(gateway_id: str) -> None:
            await acquired(gateway_id)
            took_over.set()

        other.leases._acquired = on_acquired
        with pidfd(pids.pop()) as fd:
            await holder.release()
            await holder_bus.close()
            await holder.close()
            await exited(fd)
        async with asyncio.timeout(10):
            await took_over.wait()
        assert other.leases.holds(gw.id)
        assert text_of(await call(bus, gw, tool_call("echo", text="still here"))) == "still here"
    finally:
        for proxy, own_bus in replicas:
            await proxy.release()
            await own_bus.close()
            await proxy.close()
