"""The ops port against real HTTP clients and a real nats-server: /livez, /readyz following the
NATS connection (down when the server stops, up when it returns), /metrics counting exactly the
envelopes served and the requests sent."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from forge.core import metrics, ops, rpc
from forge.core.bus import NatsBus
from forge.core.errors import NotFoundError, ServiceUnavailableError
from forge.embedded.nats import start_nats
from forge.proto.envelope import Envelope, Principal
from forge.testing import eventually


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of the scrape `text` named `name` whose labels include `labels`
    (0 when there is none yet)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                total += float(found.value)
    return total


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@contextlib.asynccontextmanager
async def ops_server(ready: ops.Readiness) -> AsyncIterator[str]:
    async with contextlib.AsyncExitStack() as stack:
        server = ops.OpsServer("test", ready)
        await server.start("127.0.0.1", 0)
        stack.push_async_callback(server.close)
        yield f"http://127.0.0.1:{server.port}"


def envelope(method: str, deadline_in: float = 5.0) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex,
        method=method,
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="tester"),
        deadline=time.time() + deadline_in,
    )


async def test_livez_answers_200_and_unknown_paths_and_methods_get_404_and_405() -> None:
    async with ops_server(ops.always_ready) as url, httpx.AsyncClient() as http:
        live = await http.get(url + "/livez")
        assert live.status_code == 200
        assert live.json() == {"status": "alive", "service": "test"}
        assert (await http.get(url + "/nothing")).status_code == 404
        assert (await http.post(url + "/metrics")).status_code == 405


async def test_readyz_is_503_with_the_reason_until_the_check_passes() -> None:
    state = {"reason": "catalog not loaded"}

    async def ready() -> str | None:
        return state["reason"] or None

    async with ops_server(ready) as url, httpx.AsyncClient() as http:
        first = await http.get(url + "/readyz")
        assert first.status_code == 503
        assert first.json()["reason"] == "catalog not loaded"
        state["reason"] = ""
        assert (await http.get(url + "/readyz")).status_code == 200


async def test_a_request_line_that_never_ends_gets_400_not_a_hang() -> None:
    async with ops_server(ops.always_ready) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /livez HTTP/1.1\r\n" + b"X: " + b"a" * 100_000)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400")


async def test_served_envelopes_and_sent_requests_are_counted_exactly(
    bus: NatsBus, nats_url: str
) -> None:
    subject = f"test.ops.{uuid.uuid4().hex}"

    async def handle(envelope: Envelope) -> bytes:
        if envelope.method == "fail":
            raise NotFoundError("no such thing")
        return b"{}"

    await rpc.serve_envelopes(bus, subject, handle, queue=None)
    await bus.flush()
    client = await NatsBus.connect(nats_url, "ops-test-client")
    try:
        async with ops_server(ops.always_ready) as url:
            before = await scrape(url)
            for _ in range(7):
                await rpc.call(client, subject, envelope("tools/call"))
            for _ in range(3):
                with pytest.raises(NotFoundError):
                    await rpc.call(client, subject, envelope("fail"))
            after = await scrape(url)
    finally:
        await client.close()

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("forge_rpc_requests_total", subject=subject, method="tools/call") == 7
    assert moved("forge_rpc_requests_total", subject=subject, method="fail") == 3
    assert moved("forge_rpc_errors_total", subject=subject, method="fail", code="-32006") == 3
    assert moved("forge_rpc_errors_total", subject=subject, method="tools/call", code="-32006") == 0
    count = moved("forge_rpc_duration_seconds_count", subject=subject, method="tools/call")
    assert count == 7
    # By every subject: the subjects a long test run makes up may exceed the label bound.
    assert moved("forge_nats_requests_total") == 10
    assert moved("forge_nats_request_duration_seconds_count") == 10


async def test_port_0_means_no_ops_port() -> None:
    async with contextlib.AsyncExitStack() as stack:
        assert await ops.serve(stack, "test", "127.0.0.1", 0, ops.always_ready) is None


def test_made_up_methods_fold_into_other_beyond_the_label_bound() -> None:
    bounded = metrics.Bounded(limit=2)
    assert [bounded(m) for m in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_ids_in_subjects_become_stars() -> None:
    assert metrics.subject_label("forge.upstream.gw-1.rpc") == "forge.upstream.*.rpc"
    assert metrics.subject_label("forge.upstream.health") == "forge.upstream.health"
    assert metrics.subject_label("forge.a2a.agent-9.call") == "forge.a2a.*.call"
    assert metrics.subject_label("forge.stream.abc") == "forge.stream.*"
    assert metrics.subject_label("forge.router.rpc") == "forge.router.rpc"


async def test_readyz_goes_503_when_nats_stops_and_200_when_it_returns(tmp_path: Path) -> None:
    server = start_nats(tmp_path / "nats")
    port = int(server.url.rsplit(":", 1)[1])
    bus = await NatsBus.connect(server.url, "ops-readiness")
    try:
        async with ops_server(ops.all_of(ops.nats(bus))) as url, httpx.AsyncClient() as http:

            async def status(wanted: int) -> bool:
                return (await http.get(url + "/readyz")).status_code == wanted

            assert await status(200)
            assert sample(await scrape(url), "forge_nats_connected") >= 1
            server.stop()
            await eventually(lambda: status(503), what="/readyz is 503 without NATS")
            body = (await http.get(url + "/readyz")).json()
            assert body["reason"] == "not connected to NATS"
            assert (await http.get(url + "/livez")).status_code == 200
            server = start_nats(tmp_path / "nats", port=port)
            await eventually(lambda: status(200), within_s=20, what="/readyz is 200 again")
    finally:
        await bus.close()
        server.stop()


async def test_a_request_nobody_answers_counts_as_a_failure(bus: NatsBus) -> None:
    subject = f"test.ops.none.{uuid.uuid4().hex}"
    before = sample(metrics_text(), "forge_nats_request_failures_total", reason="no_responders")
    with pytest.raises(ServiceUnavailableError):
        await bus.request(subject, b"{}", deadline=time.time() + 2)
    after = sample(metrics_text(), "forge_nats_request_failures_total", reason="no_responders")
    assert after - before == 1


def metrics_text() -> str:
    return generate_latest(REGISTRY).decode()


async def test_head_gets_the_headers_without_a_body() -> None:
    async with ops_server(ops.always_ready) as url, httpx.AsyncClient() as http:
        response = await http.head(url + "/livez")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0
