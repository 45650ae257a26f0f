"""Forge speaks a dual-era upstream in its caller's era: a legacy client's call rides a legacy
session, so the upstream's own mid-call requests reach the client (nothing translated)."""

from __future__ import annotations

from typing import Any

from mcp import Client, types

from forge.cli.mesh import Mesh
from tests.e2e.test_streams import connection, elicit, sample

# A question Forge translated from an input_required result carries an id of its own making.
TRANSLATED = "forge-input-"


async def test_a_legacy_client_is_asked_by_a_dual_era_upstream_itself(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    asked: list[str] = []

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(str(context.request_id))
        return await elicit(context, params)

    async def on_sample(
        context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        asked.append(str(context.request_id))
        return await sample(context, params)

    link = connection(mesh, admin_token, "streamable-http")
    async with Client(
        link, mode="legacy", elicitation_callback=on_elicit, sampling_callback=on_sample
    ) as client:
        answered = await client.call_tool("demo-ask", {"question": "go"})
        sampled = await client.call_tool("demo-sample", {"prompt": "hi"})
    assert answered.content[0].text == "yes to go"  # type: ignore[union-attr]
    assert sampled.content[0].text == "sampled"  # type: ignore[union-attr]
    assert len(asked) == 2
    # Both asked mid-call by the upstream on a legacy session, not as Forge's translation.
    assert not [request_id for request_id in asked if TRANSLATED in request_id], asked
