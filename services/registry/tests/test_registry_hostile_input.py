"""Hostile registrations: upstream addresses the operator did not allow, injection strings."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from registry_harness import (
    CONFIG,
    Client,
    FakeUpstreamProxy,
    code_of,
    error_of,
    person,
    start_registry,
)

from forge.core.errors import FORBIDDEN, INVALID_PARAMS, INVALID_REQUEST, NOT_FOUND, ForgeError
from forge.registry.catalog.store import Store

STRICT = msgspec.structs.replace(CONFIG, upstream_allowed_networks="")
FORBIDDEN_URLS = [
    "http://127.0.0.1:9000/mcp",
    "http://169.254.169.254/",
    "http://10.1.2.3/mcp",
    "http://[::1]:9000/mcp",
    "ws://192.168.1.1/ws",
]


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
async def test_private_loopback_and_metadata_addresses_are_refused_before_discovery(
    store: Store, url: str
) -> None:
    upstream = FakeUpstreamProxy()
    strict = await start_registry(store, STRICT, upstream)
    transport = "websocket" if url.startswith("ws") else "streamablehttp"
    params = {"name": "Inside", "url": url, "transport": transport}
    error = await error_of(strict("gateways", "create", params))
    assert error.code == FORBIDDEN
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    assert host.split(":")[0] in error.message or host in error.message
    assert upstream.seen == [] and await strict("gateways", "list") == []


async def test_an_allowed_network_may_be_registered_and_nothing_else(store: Store) -> None:
    upstream = FakeUpstreamProxy()
    loopback = await start_registry(
        store, msgspec.structs.replace(CONFIG, upstream_allowed_networks="127.0.0.0/8"), upstream
    )
    created = await loopback("gateways", "create", {"name": "Local", "url": FORBIDDEN_URLS[0]})
    assert len(upstream.seen) == 1
    metadata = {"name": "Meta", "url": "http://169.254.169.254/latest/meta-data/"}
    assert await code_of(loopback("gateways", "create", metadata)) == FORBIDDEN
    moved = {"id": created["id"], "url": "http://169.254.169.254/"}
    assert await code_of(loopback("gateways", "update", moved)) == FORBIDDEN
    assert (await loopback("gateways", "get", {"id": created["id"]}))["url"] == FORBIDDEN_URLS[0]
    token_url = {
        "name": "Sneaky",
        "url": FORBIDDEN_URLS[0],
        "auth_type": "oauth",
        "oauth_config": {
            "token_url": "http://169.254.169.254/token",
            "client_id": "c",
            "client_secret": "s",
        },
    }
    assert await code_of(loopback("gateways", "create", token_url)) == FORBIDDEN
    assert len(upstream.seen) == 1


async def test_stdio_gateways_have_no_address_to_check(store: Store) -> None:
    strict = await start_registry(store, STRICT)
    params = {"name": "Child", "transport": "stdio", "command": ["/usr/bin/server"]}
    assert (await strict("gateways", "create", params))["transport"] == "stdio"


HOSTILE = [
    "'; DROP TABLE gateways; --",
    '{"$gt": ""}',
    "quote \" and ' and ` and \\",
    "ünïcødé ☃ 名前 🚀",
    "a\u202eb rtl",
    "%s %d {0} ${x}",
]


def allowed(call_code: int | None) -> bool:
    """Stored verbatim (no error), refused as invalid, or simply not found: never internal."""
    return call_code in (None, INVALID_PARAMS, NOT_FOUND)


async def outcome(call: Any) -> tuple[int | None, Any]:
    try:
        return None, await call
    except ForgeError as exc:
        return exc.code, None


@pytest.mark.parametrize("text", HOSTILE)
async def test_injection_strings_in_every_name_field_are_stored_verbatim_or_refused(
    client: Client, text: str
) -> None:
    code, gateway = await outcome(
        client(
            "gateways",
            "create",
            {
                "name": f"gw {text}",
                "url": "http://127.0.0.1:9000/mcp",
                "description": text,
                "tags": [text],
                "team_id": text,
            },
        )
    )
    assert code is None
    assert (gateway["name"], gateway["description"], gateway["tags"], gateway["team_id"]) == (
        f"gw {text}",
        text,
        [text],
        text,
    )
    assert await client("gateways", "get", {"id": gateway["id"]}) == gateway
    server_params = {"name": text, "description": text, "tags": [text]}
    code, server = await outcome(client("servers", "create", server_params))
    assert code is None and (server["name"], server["description"]) == (text, text)
    for entity, params in [
        ("gateways", {"name": "x", "url": "http://127.0.0.1:1/", "visibility": text}),
        ("gateways", {"name": "y", "url": text}),
        ("gateways", {"name": "z", "url": "http://127.0.0.1:1/", "transport": text}),
        ("gateways", {"name": "h", "url": "http://127.0.0.1:1/", "auth_type": text}),
        (
            "gateways",
            {
                "name": "k",
                "url": "http://127.0.0.1:1/",
                "auth_type": "authheaders",
                "auth_headers": {text: "v"},
            },
        ),
        ("servers", {"name": "s2", "associated_tools": [text]}),
        ("servers", {"name": "s3", "associated_resources": [text]}),
        ("servers", {"name": "s4", "associated_prompts": [text]}),
        ("servers", {"name": "s5", "visibility": text}),
    ]:
        code, _ = await outcome(client(entity, "create", params))
        assert code == INVALID_PARAMS, (entity, params)
    for entity in ("gateways", "tools", "servers", "resources", "resource_templates", "prompts"):
        code, _ = await outcome(client(entity, "get", {"id": text}))
        assert code == NOT_FOUND
    for op, params in [
        ("update", {"id": gateway["id"], "name": f"renamed {text}", "description": text}),
        ("update", {"id": text, "name": "n"}),
        ("delete", {"id": text}),
    ]:
        code, _ = await outcome(client("gateways", op, params))
        assert allowed(code)
    assert (await client("gateways", "get", {"id": gateway["id"]}))["name"] == f"renamed {text}"
    outsider = person(text, text, role="developer")
    code, _ = await outcome(
        client("servers", "create", {"name": "o", "team_id": text}, as_=outsider)
    )
    assert code is None
    assert len(await client("gateways", "list")) == 1  # the table is still there


# What PostgreSQL cannot store: a NUL in text or jsonb, an unpaired surrogate (no UTF-8 form).
# The edge refuses them first; the registry still answers -32602 (or 404), never -32603. Sent as
# raw JSON escapes, the way they arrive from the bus.
UNSTORABLE = ['"nul \\u0000 inside"', '"\\ud800 lone surrogate"']


@pytest.mark.parametrize("text", UNSTORABLE)
async def test_text_postgresql_cannot_store_is_invalid_params(client: Client, text: str) -> None:
    gateway = await client("gateways", "create", {"name": "ok", "url": "http://127.0.0.1:9/"})
    url = '"http://127.0.0.1:9/"'
    for entity, op, params in [
        ("gateways", "create", f'{{"name":{text},"url":{url}}}'),
        ("gateways", "create", f'{{"name":"d","url":{url},"description":{text}}}'),
        ("gateways", "create", f'{{"name":"t","url":{url},"tags":[{text}]}}'),
        ("gateways", "update", f'{{"id":"{gateway["id"]}","description":{text}}}'),
        ("gateways", "get", f'{{"id":{text}}}'),
        ("gateways", "delete", f'{{"id":{text}}}'),
        ("tools", "get", f'{{"id":{text}}}'),
        ("servers", "create", f'{{"name":{text}}}'),
        ("servers", "get", f'{{"id":{text}}}'),
        ("prompts", "get", f'{{"id":{text}}}'),
        ("resources", "get", f'{{"id":{text}}}'),
    ]:
        code, _ = await outcome(client(entity, op, msgspec.Raw(params.encode())))
        assert code in (INVALID_PARAMS, INVALID_REQUEST, NOT_FOUND), (entity, op, params, code)
    assert len(await client("gateways", "list")) == 1


async def test_env_is_refused_on_a_gateway_that_runs_no_process(store: Store) -> None:
    """Red-team F8: an HTTP gateway stored `{"LD_PRELOAD": ...}` (sealed, never used)."""
    upstream = FakeUpstreamProxy()
    loopback = await start_registry(
        store, msgspec.structs.replace(CONFIG, upstream_allowed_networks="127.0.0.0/8"), upstream
    )
    env = {"LD_PRELOAD": "/tmp/x.so"}
    params = {"name": "Envy", "url": FORBIDDEN_URLS[0], "env": env}
    assert await code_of(loopback("gateways", "create", params)) == INVALID_PARAMS
    created = await loopback("gateways", "create", {"name": "Plain", "url": FORBIDDEN_URLS[0]})
    update = {"id": created["id"], "env": env}
    assert await code_of(loopback("gateways", "update", update)) == INVALID_PARAMS
    assert await loopback("gateways", "update", {"id": created["id"], "env": {}})


@pytest.mark.parametrize(
    ("field", "value"),
    [("description", "d" * 3_000_000), ("name", "n" * 256), ("tags", ["t"] * 65)],
)
async def test_a_field_beyond_its_limit_is_invalid_params(
    store: Store, field: str, value: Any
) -> None:
    upstream = FakeUpstreamProxy()
    loopback = await start_registry(
        store, msgspec.structs.replace(CONFIG, upstream_allowed_networks="127.0.0.0/8"), upstream
    )
    created = await loopback("gateways", "create", {"name": "Limited", "url": FORBIDDEN_URLS[0]})
    update = {"id": created["id"], field: value}
    assert await code_of(loopback("gateways", "update", update)) == INVALID_PARAMS


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "127.1"])
async def test_a_non_canonical_ipv4_host_is_invalid_params(store: Store, host: str) -> None:
    upstream = FakeUpstreamProxy()
    loopback = await start_registry(
        store, msgspec.structs.replace(CONFIG, upstream_allowed_networks="127.0.0.0/8"), upstream
    )
    params = {"name": "Odd", "url": f"http://{host}:9000/mcp"}
    assert await code_of(loopback("gateways", "create", params)) == INVALID_PARAMS
    assert upstream.seen == []
