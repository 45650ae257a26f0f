"""An audit entry carries the trace id of the request that made the change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from identity_harness import Identity, started

from forge.core.bus import TRACEPARENT, NatsBus


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def test_a_change_made_under_a_trace_is_audited_with_its_trace_id(idn: Identity) -> None:
    admin = await idn.admin()
    trace = uuid.uuid4().hex
    token = TRACEPARENT.set(f"00-{trace}-{uuid.uuid4().hex[:16]}-01")
    try:
        await idn.call(admin, "teams", "create", {"name": "Traced"})
    finally:
        TRACEPARENT.reset(token)
    await idn.call(admin, "teams", "create", {"name": "Untraced"})
    untraced, traced = await idn.call(admin, "audit", "list", {"action": "teams.create"})
    assert traced["details"]["trace_id"] == trace
    assert "trace_id" not in untraced["details"]
