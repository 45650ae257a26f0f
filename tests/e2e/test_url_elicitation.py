"""URL-mode elicitation through Forge: a legacy upstream (server-everything) offers its URL
elicitation tool to Forge, whose sessions declare both elicitation modes; a client that takes
URL mode is asked and its answer reaches the tool, in both eras, and the tool's
URL-elicitation-required error (-32042) reaches it with its elicitations; a modern client that
declared form mode only is never asked a URL-mode question: the upstream is refused."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client, MCPError

from forge.cli.mesh import Mesh
from tests.e2e import client_matrix
from tests.e2e.client_matrix import MODERN, Target
from tests.e2e.test_sdk_client_matrix import link

targets = client_matrix.targets

TOOL = "trigger-url-elicitation"
URL = "https://example.com/consent"
URL_REQUIRED = -32042
_IDS = itertools.count(1)


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_a_client_that_takes_url_elicitation_is_asked_and_its_answer_reaches_the_tool(
    admin_token: str, targets: dict[str, Target], mode: str
) -> None:
    asked: list[types.ElicitRequestParams] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept")

    streams = link(targets["everything"].base, admin_token, "streamable-http")
    async with Client(streams, mode=mode, elicitation_callback=elicit) as client:
        assert TOOL in {t.name for t in (await client.list_tools()).tools}
        arguments = {"url": URL, "message": "Open it", "elicitationId": f"consent-{mode}"}
        result = await client.call_tool(TOOL, arguments)
    assert [(p.mode, p.url, p.elicitation_id) for p in asked] == [  # type: ignore[union-attr]
        ("url", URL, f"consent-{mode}")
    ]
    assert result.is_error is False
    assert "User completed the URL elicitation flow" in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_the_url_elicitation_required_error_reaches_the_client_with_its_elicitations(
    admin_token: str, targets: dict[str, Target], mode: str
) -> None:
    base = targets["everything"].base
    async with Client(link(base, admin_token, "streamable-http"), mode=mode) as client:
        with pytest.raises(MCPError) as raised:
            arguments = {"url": URL, "errorPath": True, "elicitationId": f"error-{mode}"}
            await client.call_tool(TOOL, arguments)
    assert raised.value.code == URL_REQUIRED
    elicitations = raised.value.data["elicitations"]
    assert [(e["mode"], e["url"]) for e in elicitations] == [
        ("url", "https://modelcontextprotocol.io")
    ]


async def test_a_modern_client_with_form_elicitation_only_is_not_asked_a_url_question(
    mesh: Mesh, admin_token: str, targets: dict[str, Target]
) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "form-only", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }
    params = {"name": TOOL, "arguments": {"url": URL}, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": next(_IDS), "method": "tools/call", "params": params}
    headers = {
        "Authorization": f"Bearer {admin_token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": TOOL,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(targets["everything"].base + "/mcp", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    messages = client_matrix.messages(answer)
    result = next(m["result"] for m in messages if m.get("id") == body["id"])
    # The upstream was refused (-32021, as the SDK's own server does): its tool reports the
    # failure instead of a URL-mode question reaching a client that cannot take it.
    assert result["resultType"] == "complete"
    assert result["isError"] is True
    assert "elicitation" in result["content"][0]["text"]
