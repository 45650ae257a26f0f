"""Upstream credentials: checked per type, sealed at rest, never shown, re-sealed on rotation."""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import msgspec
import pytest
from registry_harness import (
    ADMIN,
    CONFIG,
    KEYS,
    Client,
    FakeUpstreamProxy,
    code_of,
    error_of,
    start_registry,
)

from forge.core.errors import FORBIDDEN, INVALID_PARAMS
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.proto.envelope import Principal
from forge.registry.catalog.store import Store

GATEWAY = {"name": "Vault", "url": "http://127.0.0.1:9000/mcp"}
SECRET = "s3cret-Passw0rd"
STDIO = {"name": "Local", "transport": "stdio", "command": [sys.executable, "-m", "nothing"]}
_AUTH = msgspec.json.Decoder(UpstreamAuth)


async def stored_auth(dsn: str, gateway_id: str) -> tuple[str, str | None, str]:
    """auth_type, the auth column and the env column, as the database holds them."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT auth_type, auth, env FROM gateways WHERE id = $1", gateway_id
        )
    finally:
        await conn.close()
    return row["auth_type"], row["auth"], row["env"]


def opened(sealed: str, gateway_id: str, keys: str = KEYS) -> UpstreamAuth:
    return _AUTH.decode(Keyring.parse(keys).open(sealed, gateway_id.encode()))


def published(client: Client) -> bytes:
    return b"".join(body for _, body in client.bus.published)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"auth_type": "basic", "auth_username": "ann", "auth_password": SECRET},
            UpstreamAuth(type="basic", username="ann", password=SECRET),
        ),
        ({"auth_type": "bearer", "auth_token": SECRET}, UpstreamAuth(type="bearer", token=SECRET)),
        (
            {"auth_type": "authheaders", "auth_headers": [{"key": "X-Api-Key", "value": SECRET}]},
            UpstreamAuth(type="headers", headers={"X-Api-Key": SECRET}),
        ),
        (
            {"auth_type": "authheaders", "auth_headers": {"X-Api-Key": SECRET}},
            UpstreamAuth(type="headers", headers={"X-Api-Key": SECRET}),
        ),
        (
            {
                "auth_type": "query_param",
                "auth_query_param_key": "api_key",
                "auth_query_param_value": SECRET,
            },
            UpstreamAuth(type="query_param", query_param="api_key", query_value=SECRET),
        ),
        (
            {
                "auth_type": "oauth",
                "oauth_config": {
                    "grant_type": "client_credentials",
                    "token_url": "http://127.0.0.1:9/token",
                    "client_id": "forge",
                    "client_secret": SECRET,
                    "scopes": "read write",
                },
            },
            UpstreamAuth(
                type="oauth_client_credentials",
                token_url="http://127.0.0.1:9/token",
                client_id="forge",
                client_secret=SECRET,
                scopes=["read", "write"],
            ),
        ),
        (
            {"auth": {"type": "bearer", "token": SECRET}},
            UpstreamAuth(type="bearer", token=SECRET),
        ),
    ],
)
async def test_credentials_are_sealed_in_the_row_and_never_shown_in_clear(
    client: Client,
    upstream: FakeUpstreamProxy,
    catalog_dsn: str,
    params: dict[str, Any],
    expected: UpstreamAuth,
) -> None:
    created = await client("gateways", "create", {**GATEWAY, **params})
    assert created["auth_type"] == expected.type and created["auth"] is None
    auth_type, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert auth_type == expected.type
    assert sealed is not None and sealed.startswith("v1.k1.") and SECRET not in sealed
    assert opened(sealed, created["id"]) == expected
    replies = [
        created,
        await client("gateways", "get", {"id": created["id"]}),
        await client("gateways", "list"),
    ]
    assert SECRET not in msgspec.json.encode(replies).decode()
    assert SECRET not in published(client).decode()
    # Caches and the upstream-proxy get the sealed blob, and only that.
    assert client.events("gateways", "changed")[-1]["auth"] == sealed
    assert upstream.seen[-1]["auth"].startswith("v1.k1.")
    snapshot = await client("snapshot", "get")
    assert snapshot["gateways"][0]["auth"] == sealed


async def test_a_sealed_value_opens_only_for_its_own_gateway(
    client: Client, catalog_dsn: str
) -> None:
    created = await client(
        "gateways", "create", {**GATEWAY, "auth_type": "bearer", "auth_token": SECRET}
    )
    _, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert sealed is not None
    with pytest.raises(ValueError, match="does not open"):
        opened(sealed, "another-gateway")


async def test_stdio_environment_values_are_sealed_and_only_names_remain(
    client: Client, catalog_dsn: str
) -> None:
    created = await client("gateways", "create", {**STDIO, "env": {"API_KEY": SECRET, "MODE": "x"}})
    assert created["env"] == {"API_KEY": "", "MODE": ""}
    auth_type, sealed, env = await stored_auth(catalog_dsn, created["id"])
    assert auth_type == "none" and SECRET not in env
    assert sealed is not None
    assert opened(sealed, created["id"]).env == {"API_KEY": SECRET, "MODE": "x"}
    assert SECRET not in published(client).decode()

    # New credentials keep the environment; a new environment keeps the credentials.
    await client(
        "gateways", "update", {"id": created["id"], "auth_type": "bearer", "auth_token": "t1"}
    )
    _, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert sealed is not None
    assert opened(sealed, created["id"]) == UpstreamAuth(
        type="bearer", token="t1", env={"API_KEY": SECRET, "MODE": "x"}
    )
    await client("gateways", "update", {"id": created["id"], "env": {"OTHER": "y"}})
    _, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert sealed is not None
    assert opened(sealed, created["id"]) == UpstreamAuth(
        type="bearer", token="t1", env={"OTHER": "y"}
    )
    assert (await client("gateways", "get", {"id": created["id"]}))["env"] == {"OTHER": ""}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"auth_type": "basic", "auth_password": "p"}, "auth_username"),
        ({"auth_type": "basic", "auth_username": "ann"}, "auth_password"),
        ({"auth_type": "basic", "auth_username": "a:b", "auth_password": "p"}, "auth_username"),
        ({"auth_type": "bearer"}, "auth_token"),
        ({"auth_type": "bearer", "auth_token": "abc\r\nX-Evil: 1"}, "auth_token"),
        ({"auth_type": "authheaders", "auth_headers": []}, "auth_headers"),
        ({"auth_type": "authheaders", "auth_headers": {"Bad Header": "v"}}, "auth_headers"),
        (
            {"auth_type": "authheaders", "auth_headers": {"X-Key": "v\r\nHost: evil"}},
            "auth_headers",
        ),
        ({"auth_type": "authheaders", "auth_headers": {"Content-Length": "1"}}, "auth_headers"),
        ({"auth_type": "query_param", "auth_query_param_value": "v"}, "auth_query_param_key"),
        (
            {
                "auth_type": "query_param",
                "auth_query_param_key": "a&b=c",
                "auth_query_param_value": "v",
            },
            "auth_query_param_key",
        ),
        ({"auth_type": "oauth"}, "oauth_config"),
        (
            {"auth_type": "oauth", "oauth_config": {"grant_type": "password"}},
            "oauth_config.grant_type",
        ),
        (
            {
                "auth_type": "oauth",
                "oauth_config": {"token_url": "http://127.0.0.1:9/t", "client_secret": "s"},
            },
            "oauth_config.client_id",
        ),
        (
            {
                "auth_type": "oauth",
                "oauth_config": {"token_url": "ftp://x/t", "client_id": "c", "client_secret": "s"},
            },
            "oauth_config.token_url",
        ),
        (
            {
                "auth_type": "oauth",
                "oauth_config": {
                    "grant_type": "authorization_code",
                    "token_url": "http://127.0.0.1:9/t",
                    "client_id": "c",
                },
            },
            "oauth_config.authorization_url",
        ),
        ({"auth_type": "kerberos"}, "auth_type"),
        ({"auth_username": "ann"}, "auth_type"),
        ({"auth": {"type": "basic", "password": "p"}}, "auth.username"),
        (
            {"auth": {"type": "mtls", "client_cert_pem": "not pem", "client_key_pem": "x"}},
            "auth.client_cert_pem",
        ),
        ({"auth": {"type": "bearer", "token": "t"}, "auth_type": "bearer"}, "auth"),
        ({"auth": {"type": "none", "env": {"A": "b"}}}, "auth.env"),
    ],
)
async def test_incomplete_or_malformed_credentials_are_refused_naming_the_field(
    client: Client, upstream: FakeUpstreamProxy, params: dict[str, Any], field: str
) -> None:
    error = await error_of(client("gateways", "create", {**GATEWAY, **params}))
    assert error.code == INVALID_PARAMS
    assert error.data == {"field": field}
    assert upstream.seen == []


async def test_new_credentials_mean_a_new_discovery_and_other_changes_do_not(
    client: Client, upstream: FakeUpstreamProxy, catalog_dsn: str
) -> None:
    created = await client(
        "gateways", "create", {**GATEWAY, "auth_type": "bearer", "auth_token": "a"}
    )
    _, first, _ = await stored_auth(catalog_dsn, created["id"])
    await client("gateways", "update", {"id": created["id"], "description": "d", "tags": ["x"]})
    assert len(upstream.seen) == 1
    _, unchanged, _ = await stored_auth(catalog_dsn, created["id"])
    assert unchanged == first
    changed = await client(
        "gateways",
        "update",
        {"id": created["id"], "auth": {"type": "basic", "username": "u", "password": "p"}},
    )
    assert len(upstream.seen) == 2 and upstream.seen[-1]["auth_type"] == "basic"
    assert changed["auth_type"] == "basic" and changed["description"] == "d"
    cleared = await client("gateways", "update", {"id": created["id"], "auth_type": "none"})
    assert cleared["auth_type"] == "none"
    assert (await stored_auth(catalog_dsn, created["id"]))[1] is None
    moved = await client(
        "gateways", "update", {"id": created["id"], "url": "http://127.0.0.2:9/mcp"}
    )
    assert moved["url"] == "http://127.0.0.2:9/mcp" and len(upstream.seen) == 4


async def test_reseal_moves_every_credential_to_the_new_key(
    client: Client, store: Store, catalog_dsn: str
) -> None:
    ids = []
    for i in range(3):
        params = {
            "name": f"G{i}",
            "url": "http://127.0.0.1:9000/mcp",
            "auth_type": "bearer",
            "auth_token": f"tok{i}",
        }
        ids.append((await client("gateways", "create", params))["id"])
    plain = await client(
        "gateways", "create", {"name": "Plain", "url": "http://127.0.0.1:9000/mcp"}
    )
    new_key = new_key_spec("k2")
    rotated = await start_registry(
        store, msgspec.structs.replace(CONFIG, secret_keys=f"{new_key},{KEYS}")
    )
    viewer = Principal(subject="v@x", roles=("platform_viewer",))
    assert await code_of(rotated("secrets", "reseal", {}, as_=viewer)) == FORBIDDEN
    assert await rotated("secrets", "reseal", {}) == {"resealed": 3}
    for i, gateway_id in enumerate(ids):
        _, sealed, _ = await stored_auth(catalog_dsn, gateway_id)
        assert sealed is not None and sealed.startswith("v1.k2.")
        assert opened(sealed, gateway_id, keys=new_key).token == f"tok{i}"
    assert (await stored_auth(catalog_dsn, plain["id"]))[1] is None
    assert sorted(g["id"] for g in rotated.events("gateways", "changed")) == sorted(ids)
    assert await rotated("secrets", "reseal", {}) == {"resealed": 0}
    # With only the new key left, the registry still opens what it holds.
    only_new = await start_registry(store, msgspec.structs.replace(CONFIG, secret_keys=new_key))
    await only_new(
        "gateways", "update", {"id": ids[0], "auth_type": "bearer", "auth_token": "tok0-new"}
    )
    _, sealed, _ = await stored_auth(catalog_dsn, ids[0])
    assert sealed is not None
    assert opened(sealed, ids[0], keys=new_key) == UpstreamAuth(type="bearer", token="tok0-new")


async def test_reseal_seals_environment_values_stored_in_clear_before_sealing(
    client: Client, store: Store, catalog_dsn: str
) -> None:
    legacy = Gateway(
        id="old",
        name="old",
        slug="old",
        url="",
        transport="stdio",
        command=["x"],
        env={"KEY": SECRET},
    )
    await store.insert_gateway(legacy, [])
    assert await client("secrets", "reseal", {}) == {"resealed": 1}
    _, sealed, env = await stored_auth(catalog_dsn, "old")
    assert sealed is not None and SECRET not in env
    assert opened(sealed, "old").env == {"KEY": SECRET}
    assert (await client("gateways", "get", {"id": "old"}))["env"] == {"KEY": ""}


async def test_only_an_admin_reseals(client: Client) -> None:
    owner = Principal(subject="o@x", teams=("p-o",), roles=("team_admin",))
    assert await code_of(client("secrets", "reseal", {}, as_=owner)) == FORBIDDEN
    assert await client("secrets", "reseal", {}, as_=ADMIN) == {"resealed": 0}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"auth_type": ""},
        {"auth_type": "", "auth_username": "", "auth_password": ""},
        {"auth_type": "none", "auth_password": SECRET},
        {"auth": {"type": "none"}},
    ],
)
async def test_no_credentials_means_nothing_sealed(
    client: Client, catalog_dsn: str, params: dict[str, Any]
) -> None:
    created = await client("gateways", "create", {**GATEWAY, **params})
    assert await stored_auth(catalog_dsn, created["id"]) == ("none", None, "{}")


async def test_only_the_fields_of_the_type_are_kept(client: Client, catalog_dsn: str) -> None:
    params = {
        "auth_type": "bearer",
        "auth_token": "t",
        "auth_username": "stray",
        "auth_password": SECRET,
    }
    created = await client("gateways", "create", {**GATEWAY, **params})
    _, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert sealed is not None
    assert opened(sealed, created["id"]) == UpstreamAuth(type="bearer", token="t")


async def test_an_update_read_before_a_reseal_does_not_undo_it(
    client: Client, store: Store, catalog_dsn: str
) -> None:
    params = {**GATEWAY, "auth_type": "bearer", "auth_token": "t"}
    created = await client("gateways", "create", params)
    read_before = await store.get_gateway(created["id"])
    new_key = new_key_spec("k2")
    rotated = await start_registry(
        store, msgspec.structs.replace(CONFIG, secret_keys=f"{new_key},{KEYS}")
    )
    assert await rotated("secrets", "reseal", {}) == {"resealed": 1}
    changed = msgspec.structs.replace(read_before, description="written after the reseal")
    await store.update_gateway(changed, separator=None, discovered=None, sealed=False)
    _, sealed, _ = await stored_auth(catalog_dsn, created["id"])
    assert sealed is not None and sealed.startswith("v1.k2.")
    assert (await store.get_gateway(created["id"])).description == "written after the reseal"
