"""Legacy sessions are sealed tokens: any edge replica accepts them, DELETE ends them everywhere."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.testing import eventually
from tests.e2e.conftest import INIT


def call(session: str, request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "headers": {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"},
        "json": {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        },
    }


async def test_a_session_opened_on_one_edge_works_on_another_and_ends_on_both(
    mesh: Mesh, second_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth) as http:
        opened = await http.post(mesh.url + "/mcp", json=INIT)
        assert opened.status_code == 200
        assert opened.json()["result"]["protocolVersion"] == "2025-11-25"
        session = opened.headers["mcp-session-id"]
        for i, base in enumerate((mesh.url, second_edge, mesh.url, second_edge)):
            response = await http.post(
                base + "/mcp", **call(session, i + 1, "demo-echo", {"text": str(i)})
            )
            assert response.status_code == 200
            assert response.json()["result"]["content"][0]["text"] == str(i)
        ended = await http.delete(second_edge + "/mcp", headers={"Mcp-Session-Id": session})
        assert ended.status_code == 200

        async def refused_everywhere() -> bool:
            codes = []
            for base in (mesh.url, second_edge):
                response = await http.post(
                    base + "/mcp", **call(session, 9, "demo-echo", {"text": "x"})
                )
                codes.append(response.status_code)
            return codes == [404, 404]

        # The revocation travels through the KV bucket; wait for it to reach the other replica.
        await eventually(refused_everywhere, what="the session is refused on every replica")


async def test_a_forged_session_id_or_another_users_session_is_not_found(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}) as http:
        # Another real user: an unknown one would be refused (401) before any session check.
        other_email = f"someone-else-{uuid.uuid4().hex[:6]}@example.com"
        created = await http.post(
            mesh.url + "/auth/email/admin/users",
            json={
                "email": other_email,
                "password": "Correct-Horse-Battery-9",
                "roles": ["developer"],
            },
        )
        assert created.status_code in (200, 201), created.text
        forged = await http.post(
            mesh.url + "/mcp", **call("bm90LWEtc2Vzc2lvbg", 1, "demo-echo", {"text": "x"})
        )
        assert forged.status_code == 404
        session = (await http.post(mesh.url + "/mcp", json=INIT)).headers["mcp-session-id"]
    other = mint(mesh.secret, other_email)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {other}"}) as http:
        stolen = await http.post(mesh.url + "/mcp", **call(session, 1, "demo-echo", {"text": "x"}))
        assert stolen.status_code == 404
        assert stolen.json()["error"]["code"] == -32009
