"""Which process calls a gateway (docs/decisions/0035-edge-local-upstream-calls.md): with
FORGE_EDGE_UPSTREAM=local (the default) the edge calls a credential-free network gateway itself,
and a gateway with a credential still goes to the upstream-proxy, which alone opens it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from forge.testing.routing import upstream_process

UPSTREAM = {"subject": "forge.upstream.*.rpc", "method": "tools/call"}


def calls_counted(mesh: Mesh, process: str) -> float:
    """`forge_rpc_requests_total` of upstream tools/calls on `process`'s ops port."""
    text = httpx.get(f"http://127.0.0.1:{mesh.ops_ports[process]}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "forge_rpc_requests_total"
        and all(sample.labels.get(k) == v for k, v in UPSTREAM.items())
    )


def counts(mesh: Mesh) -> dict[str, float]:
    return {name: calls_counted(mesh, name) for name in ("edge", "upstream_proxy")}


def whoami(mesh: Mesh, token: str, tool: str) -> dict[str, Any]:
    """The tool's answer, once the edge's router has heard of the tool (an unknown tool's call
    reaches no upstream, so it counts nowhere)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    body["params"] = {"name": tool, "arguments": {}}
    headers = {"Authorization": f"Bearer {token}"}
    reply: dict[str, Any] = {}

    def answered() -> bool:
        reply.update(httpx.post(mesh.url + "/mcp", headers=headers, json=body, timeout=30).json())
        return "result" in reply

    eventually_sync(answered, within_s=10, what=f"{tool} answers", detail=lambda: repr(reply))
    seen: dict[str, Any] = json.loads(reply["result"]["content"][0]["text"])
    return seen


def registered(
    mesh: Mesh, token: str, authprobe: str, auth: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"local-{uuid.uuid4().hex[:6]}", "url": authprobe}
    body["visibility"] = "public"
    if auth is not None:
        body["auth"] = auth
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(mesh.url + "/gateways", headers=headers, json=body, timeout=30)
    assert created.status_code == 201, created.text
    gateway: dict[str, Any] = created.json()
    return gateway


def test_the_edge_calls_a_credential_free_gateway_and_the_proxy_one_with_a_credential(
    mesh: Mesh, admin_token: str, authprobe: str
) -> None:
    secret = f"upstream-{uuid.uuid4().hex}"
    plain = registered(mesh, admin_token, authprobe, None)
    sealed = registered(mesh, admin_token, authprobe, {"type": "bearer", "token": secret})
    headers = {"Authorization": f"Bearer {admin_token}"}
    try:
        before = counts(mesh)
        assert whoami(mesh, admin_token, f"{plain['slug']}-whoami")["authorization"] is None
        middle = counts(mesh)
        seen = whoami(mesh, admin_token, f"{sealed['slug']}-whoami")
        after = counts(mesh)
    finally:
        for gateway in (plain, sealed):
            httpx.delete(f"{mesh.url}/gateways/{gateway['id']}", headers=headers, timeout=30)
    # The credential-free gateway's call: made by the edge (or, with `remote`, the proxy).
    caller = upstream_process()
    assert {name: middle[name] - before[name] for name in middle} == {
        "edge": 1 if caller == "edge" else 0,
        "upstream_proxy": 1 if caller == "upstream_proxy" else 0,
    }
    # The one with a credential: always the upstream-proxy, which sent the token.
    assert seen["authorization"] == f"Bearer {secret}"
    assert {name: after[name] - middle[name] for name in after} == {"edge": 0, "upstream_proxy": 1}
