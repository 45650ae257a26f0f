"""The a2a-bridge's health subject: what the edge's `/ready` asks (and `forge up` waits on)."""

from __future__ import annotations

import time

import msgspec
import pytest

from conftest import StartBridge
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError


async def test_the_bridge_answers_its_health_subject_once_it_serves(
    bus: NatsBus, start_bridge: StartBridge
) -> None:
    with pytest.raises(ForgeError):  # nothing serves it before a bridge starts
        await bus.request(subjects.A2A_HEALTH, b"{}", deadline=time.time() + 0.3)
    await start_bridge()
    answer = await bus.request(subjects.A2A_HEALTH, b"{}", deadline=time.time() + 5)
    assert msgspec.json.decode(answer) == {"result": {"status": "ok"}}
