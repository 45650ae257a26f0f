"""Static upstream credentials reach the upstream as configured, on every HTTP transport."""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import msgspec
import pytest
from auth_harness import KEYRING, SECRET_KEYS, make_pki, sealed_gateway, seen, whoami
from proxy_harness import call, discover, text_of, tool_call

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.servers.process import ServerProcess, spawn

TRANSPORTS = {
    "http-legacy": ("authprobe", "/mcp", "http", "streamablehttp"),
    "http-modern": ("authprobe_modern", "/mcp", "http", "streamablehttp"),
    "sse": ("authprobe", "/sse", "http", "sse"),
    "websocket": ("authprobe", "/ws", "ws", "websocket"),
}


def probe_url(request: pytest.FixtureRequest, transport: str) -> tuple[str, str]:
    fixture, path, scheme, kind = TRANSPORTS[transport]
    server: ServerProcess = request.getfixturevalue(fixture)
    return f"{scheme}://127.0.0.1:{server.port}{path}", kind


def static(kind: str, unique: str) -> tuple[UpstreamAuth, str, object]:
    """(credentials, the whoami field that shows them, what it must read), unique per test."""
    if kind == "basic":
        auth = UpstreamAuth(type="basic", username="ada", password=f"s3cret:{unique}")
        return (
            auth,
            "authorization",
            "Basic " + base64.b64encode(f"ada:s3cret:{unique}".encode()).decode(),
        )
    if kind == "bearer":
        return (
            UpstreamAuth(type="bearer", token=f"tok-{unique}"),
            "authorization",
            f"Bearer tok-{unique}",
        )
    if kind == "headers":
        headers = {"X-Api-Key": f"k-{unique}", "X-Tenant": "blue"}
        expected = {"x-api-key": f"k-{unique}", "x-tenant": "blue"}
        return UpstreamAuth(type="headers", headers=headers), "headers", expected
    auth = UpstreamAuth(type="query_param", query_param="api_key", query_value=f"q s&{unique}")
    return auth, "query", ("api_key", f"q s&{unique}")


def shows(record: dict[str, object], field: str, expected: object) -> bool:
    if field == "query":  # the SSE message endpoint adds its own session id
        return expected in parse_qsl(str(record["query"]))
    return record[field] == expected


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("kind", ["basic", "bearer", "headers", "query_param"])
async def test_each_static_credential_reaches_the_upstream_on_each_transport(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str, kind: str
) -> None:
    auth, field, expected = static(kind, uuid.uuid4().hex[:8])
    url, transport_kind = probe_url(request, transport)
    gw = sealed_gateway(url, auth, transport_kind)
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    assert shows(await whoami(bus, gw), field, expected)
    # The handshake carried it too (SSE: the event stream's GET; HTTP: initialize or discover).
    ours = [r for r in await seen(bus, gw) if shows(r, field, expected)]
    assert len(ours) >= (1 if transport == "websocket" else 2)  # one upgrade carries a socket
    if transport == "sse":
        assert any(r["method"] == "GET" and r["path"] == "/sse" for r in ours)


async def test_credentials_of_another_gateway_do_not_open(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess
) -> None:
    """The sealed value is bound to its gateway id: moved to another gateway, it is refused."""
    gw = sealed_gateway(authprobe.url, UpstreamAuth(type="bearer", token="moved-secret-1"))
    moved = msgspec.structs.replace(gw, id=uuid.uuid4().hex[:12])
    await start_proxy(moved, secret_keys=SECRET_KEYS)
    with pytest.raises(ForgeError) as caught:
        await call(bus, moved, tool_call("whoami"))
    assert caught.value.to_object().code == -32001
    assert "moved-secret-1" not in caught.value.message


async def test_a_gateway_without_credentials_sends_no_authorization(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess
) -> None:
    gw = Gateway(id=uuid.uuid4().hex[:12], name="plain", slug="plain", url=authprobe.url)
    await start_proxy(gw)
    found = await whoami(bus, gw)
    assert found["authorization"] is None and found["query"] == ""


@pytest.fixture(scope="module")
def tls_probe(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """An https/wss authprobe that requires a client certificate from the test CA."""
    pki = make_pki()
    cert, key, ca = pki.write_server(Path(tmp_path_factory.mktemp("pki")))
    args = ("--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca)
    with spawn("forge.servers.authprobe", *args, scheme="https") as server:
        yield server, {"ca": pki.ca, "cert": pki.client_cert, "key": pki.client_key}


@pytest.mark.parametrize("transport", ["streamablehttp", "sse", "websocket"])
async def test_a_client_certificate_reaches_an_upstream_that_requires_one(
    bus: NatsBus,
    start_proxy: StartProxy,
    tls_probe: tuple[ServerProcess, dict[str, str]],
    transport: str,
) -> None:
    server, pem = tls_probe
    path, scheme = {"streamablehttp": ("/mcp", "https"), "sse": ("/sse", "https")}.get(
        transport, ("/ws", "wss")
    )
    auth = UpstreamAuth(
        type="bearer",  # mTLS combines with any type
        token="over-tls",
        client_cert_pem=pem["cert"],
        client_key_pem=pem["key"],
        ca_pem=pem["ca"],
    )
    gw = sealed_gateway(f"{scheme}://127.0.0.1:{server.port}{path}", auth, transport)
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    found = await whoami(bus, gw)
    assert found["client_cert"] == "CN=forge-client"
    assert found["authorization"] == "Bearer over-tls"


async def test_without_its_client_certificate_the_tls_upstream_refuses_the_connection(
    bus: NatsBus, start_proxy: StartProxy, tls_probe: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, pem = tls_probe
    gw = sealed_gateway(
        f"https://127.0.0.1:{server.port}/mcp", UpstreamAuth(type="none", ca_pem=pem["ca"])
    )
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, tool_call("whoami"))
    assert caught.value.to_object().code in (-32001, -32003)


async def test_the_mtls_key_is_not_left_on_disk(
    bus: NatsBus, start_proxy: StartProxy, tls_probe: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, pem = tls_probe
    auth = UpstreamAuth(
        type="mtls", client_cert_pem=pem["cert"], client_key_pem=pem["key"], ca_pem=pem["ca"]
    )
    gw = sealed_gateway(f"https://127.0.0.1:{server.port}/mcp", auth)
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    assert (await whoami(bus, gw))["client_cert"] == "CN=forge-client"
    assert leftovers() == []


def leftovers() -> list[Path]:
    """Private key folders the proxy may have left behind."""
    found: list[Path] = []
    for folder in (Path("/dev/shm"), Path("/tmp")):
        if folder.is_dir():
            found.extend(folder.glob("forge-mtls-*"))
    return found


async def test_a_stdio_child_gets_its_environment_from_the_sealed_credentials(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gateway_id = uuid.uuid4().hex[:12]
    auth = UpstreamAuth(env={"DEMO_TOKEN": "sealed-value"})
    gw = Gateway(
        id=gateway_id,
        name="stdio-sealed",
        slug="stdio-sealed",
        url="",
        transport="stdio",
        command=[sys.executable, "-m", "forge.servers.demo", "--transport", "stdio", "--env-tool"],
        # The registry keeps the names with empty values; older rows still hold plain values.
        env={"DEMO_TOKEN": "", "DEMO_PLAIN": "plain-value"},
        auth=KEYRING.seal(msgspec.json.encode(auth), gateway_id.encode()),
    )
    await start_proxy(gw, secret_keys=SECRET_KEYS)

    async def env_of(name: str) -> str:
        return str(text_of(await call(bus, gw, tool_call("env", name=name))))

    assert await env_of("DEMO_TOKEN") == "sealed-value"
    assert await env_of("DEMO_PLAIN") == "plain-value"


async def test_a_discovery_sends_the_credentials_too(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess
) -> None:
    gw = sealed_gateway(authprobe.url, UpstreamAuth(type="bearer", token="at-discovery"))
    await start_proxy(secret_keys=SECRET_KEYS)  # not in the catalog yet: registration's probe
    found = await discover(bus, gw)
    assert "whoami" in {t["name"] for t in found["tools"]}  # type: ignore[attr-defined]
