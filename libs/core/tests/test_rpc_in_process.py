"""`rpc.call_in_process`: an envelope answered in this process as `serve_envelopes` + `call`
would answer it over the bus (FORGE_EDGE_ROUTER=local): result, errors, deadline, a caller
that stops waiting."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from forge.core import rpc
from forge.core.errors import (
    INTERNAL_ERROR,
    DeadlineExceededError,
    ForgeError,
    ToolNotFoundError,
)
from forge.proto.envelope import Envelope, Principal


def _envelope(within_s: float = 5.0) -> Envelope:
    return Envelope(
        id="r1",
        method="tools/call",
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="tester"),
        deadline=time.time() + within_s,
    )


async def test_the_result_and_a_forge_error_come_back_as_the_bus_would_bring_them() -> None:
    async def ok(envelope: Envelope) -> bytes:
        return b'{"echo":"' + envelope.id.encode() + b'"}'

    async def unknown(envelope: Envelope) -> bytes:
        raise ToolNotFoundError("Unknown tool: x")

    assert await rpc.call_in_process(ok, _envelope(), "forge.test.rpc") == b'{"echo":"r1"}'
    with pytest.raises(ToolNotFoundError, match="Unknown tool: x"):
        await rpc.call_in_process(unknown, _envelope(), "forge.test.rpc")


async def test_an_unexpected_failure_is_an_internal_error_with_an_id_only() -> None:
    async def broken(envelope: Envelope) -> bytes:
        raise RuntimeError("secret detail")

    with pytest.raises(ForgeError) as raised:
        await rpc.call_in_process(broken, _envelope(), "forge.test.rpc")
    assert raised.value.code == INTERNAL_ERROR
    assert "secret" not in raised.value.message and "error id" in raised.value.message


async def test_the_wait_ends_at_the_deadline_and_a_caller_that_leaves_lets_it_finish() -> None:
    finished: list[str] = []
    release = asyncio.Event()

    async def slow(envelope: Envelope) -> bytes:
        await release.wait()
        finished.append(envelope.id)
        return b"{}"

    done: list[int] = []
    with pytest.raises(DeadlineExceededError, match="before the deadline"):
        await rpc.call_in_process(
            slow, _envelope(0.05), "forge.test.rpc", finished=lambda: done.append(1)
        )
    caller = asyncio.ensure_future(rpc.call_in_process(slow, _envelope(), "forge.test.rpc"))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert finished == [] and done == []
    release.set()
    await asyncio.sleep(0.01)
    assert finished == ["r1", "r1"] and done == [1]  # both ran to their end, as served ones do
    with pytest.raises(DeadlineExceededError, match="before it was sent"):
        await rpc.call_in_process(
            slow, _envelope(-1), "forge.test.rpc", finished=lambda: done.append(2)
        )
    assert done == [1, 2]
