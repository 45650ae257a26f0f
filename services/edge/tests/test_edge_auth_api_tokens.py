"""API tokens at the edge: found by hash in the identity cache, refused (401) when not valid,
forbidden (403) outside their networks, time window or virtual server; narrowed, counted."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
from typing import Any

import msgspec
from edge_harness import IdentityRegistry, client, edge_on, router, rpc_body, stop, until, user

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.proto.identity import TokenEntry, TokenUsage

ALICE = user("alice@example.com", "developer")
ADMIN = user("root@example.com", "platform_admin")
GONE = user("gone@example.com", "developer", active=False)
LIST = rpc_body("tools/list")
CALL = rpc_body("tools/call", {"name": "echo"})


def entry(raw: str, owner: str = ALICE.email, **scope: Any) -> TokenEntry:
    fields: dict[str, Any] = {
        "id": "tok-" + raw[-6:],
        "token_hash": hashlib.sha256(raw.encode()).hexdigest(),
        "user_email": owner,
        "name": raw,
        **scope,
    }
    return TokenEntry(**fields)


def _hhmm(moment: datetime.datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _outside_window() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "window_start": _hhmm(now + datetime.timedelta(hours=2)),
        "window_end": _hhmm(now + datetime.timedelta(hours=3)),
    }


def _inside_window() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "window_start": _hhmm(now - datetime.timedelta(hours=1)),
        "window_end": _hhmm(now + datetime.timedelta(hours=1)),
        "window_days": (now.isoweekday(),),
    }


def _not_today() -> dict[str, Any]:
    today = datetime.datetime.now(datetime.UTC).isoweekday()
    return {"window_days": tuple(d for d in range(1, 8) if d != today)}


TOKENS = {
    "plain": entry("forge_plain_000001"),
    "expired": entry("forge_expired_00002", expires_at=time.time() - 10),
    "early": entry("forge_early_0000003", not_before=time.time() + 3600),
    "inactive": entry("forge_inactive_0004", active=False),
    "orphan": entry("forge_orphan_000005", owner=GONE.email),
    "cidr": entry("forge_cidr_00000006", cidrs=("10.20.0.0/16",)),
    "cidr6": entry("forge_cidr6_0000007", cidrs=("2001:db8::/32", "192.0.2.0/24")),
    "late": entry("forge_late_00000008", **_outside_window()),
    "weekend": entry("forge_weekend_00009", **_not_today()),
    "now": entry("forge_now_000000010", **_inside_window()),
    "server": entry("forge_server_000011", server_id="s-a"),
    "narrow": entry("forge_narrow_000012", permissions=("tools.read",), teams=("team-a",)),
    "admin-narrow": entry("forge_adminnarrow13", owner=ADMIN.email, permissions=("tools.read",)),
    "admin-wide": entry("forge_adminwide_014", owner=ADMIN.email),
}


def raw(kind: str) -> str:
    return TOKENS[kind].name


async def started(bus: NatsBus) -> tuple[IdentityRegistry, Any]:
    registry = await IdentityRegistry(bus, [ALICE, ADMIN, GONE], list(TOKENS.values())).start()
    await router(bus)
    return registry, await edge_on(bus)


async def test_a_valid_api_token_acts_as_its_owner(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        async with client(edge, raw("plain")) as http:
            response = await http.post("/mcp", json=CALL)
        assert response.status_code == 200, response.text
        principal = response.json()["result"]["principal"]
        assert principal["subject"] == ALICE.email
        assert principal["auth_method"] == "api_token"
        assert principal["token_id"] == TOKENS["plain"].id
        assert principal["teams"] == [ALICE.personal_team, "team-a"]
        assert "subject_token" not in principal
    finally:
        await stop(edge)


async def test_invalid_api_tokens_are_refused_with_401(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        for kind in ("expired", "early", "inactive", "orphan"):
            async with client(edge, raw(kind)) as http:
                response = await http.post("/mcp", json=LIST)
            assert response.status_code == 401, (kind, response.text)
            assert response.json()["error"]["code"] == -32004
        async with client(edge, "forge_never_issued") as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 401
    finally:
        await stop(edge)


async def test_a_token_is_forbidden_outside_its_networks(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        for kind, ip, status in [
            ("cidr", "10.20.3.4", 200),
            ("cidr", "10.21.0.1", 403),
            ("cidr", "127.0.0.1", 403),
            ("cidr6", "2001:db8::7", 200),
            ("cidr6", "::ffff:192.0.2.9", 200),
            ("cidr6", "2001:db9::1", 403),
        ]:
            async with client(edge, raw(kind), ip=ip) as http:
                response = await http.post("/mcp", json=LIST)
            assert response.status_code == status, (kind, ip, response.text)
            if status == 403:
                assert response.json()["error"]["code"] == -32005
    finally:
        await stop(edge)


async def test_a_token_is_forbidden_outside_its_time_window(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        for kind, status in [("late", 403), ("weekend", 403), ("now", 200)]:
            async with client(edge, raw(kind)) as http:
                response = await http.post("/mcp", json=LIST)
            assert response.status_code == status, (kind, response.text)
    finally:
        await stop(edge)


async def test_a_server_scoped_token_works_only_on_that_servers_endpoints(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        async with client(edge, raw("server")) as http:
            here = await http.post("/servers/s-a/mcp", json=LIST)
            assert here.status_code == 200, here.text
            assert here.json()["result"]["principal"]["server_scope"] == "s-a"
            for path in ("/servers/s-b/mcp", "/mcp"):
                response = await http.post(path, json=LIST)
                assert response.status_code == 403, (path, response.text)
                assert response.json()["error"]["code"] == -32005
            assert (await http.get("/servers/s-b/sse")).status_code == 403
            assert (
                await http.post("/servers/s-b/message?session_id=x", json=LIST)
            ).status_code == 403
            rest = await http.get("/tools")
            assert rest.status_code == 403 and rest.json()["code"] == -32005
    finally:
        await stop(edge)


async def test_a_token_narrows_its_owners_permissions_and_teams(bus: NatsBus) -> None:
    _, edge = await started(bus)
    try:
        for kind in ("narrow", "admin-narrow"):
            async with client(edge, raw(kind)) as http:
                listed = await http.post("/mcp", json=LIST)
                assert listed.status_code == 200
                principal = listed.json()["result"]["principal"]
                assert principal["permissions"] == ["tools.read"]
                assert "is_admin" not in principal
                called = await http.post("/mcp", json=CALL)
                assert called.status_code == 403 and called.json()["error"]["code"] == -32005
        async with client(edge, raw("narrow")) as http:
            teams = (await http.post("/mcp", json=LIST)).json()["result"]["principal"]["teams"]
        assert teams == ["team-a"]
        async with client(edge, raw("admin-wide")) as http:
            principal = (await http.post("/mcp", json=CALL)).json()["result"]["principal"]
        assert principal["is_admin"] is True
    finally:
        await stop(edge)


async def test_a_token_revoked_by_event_is_refused_at_once(bus: NatsBus) -> None:
    registry, edge = await started(bus)
    try:
        async with client(edge, raw("plain")) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 200
            await registry.publish("tokens", "deleted", {"id": TOKENS["plain"].id})
            await until(edge, lambda: TOKENS["plain"].token_hash not in edge.identity.tokens)
            assert (await http.post("/mcp", json=LIST)).status_code == 401
        async with client(edge, raw("now")) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 200
            off = msgspec.structs.replace(TOKENS["now"], active=False)
            await registry.publish("tokens", "changed", off)
            await until(edge, lambda: not edge.identity.tokens[off.token_hash].active)
            assert (await http.post("/mcp", json=LIST)).status_code == 401
    finally:
        await stop(edge)


async def test_a_token_created_after_start_arrives_by_event(bus: NatsBus) -> None:
    registry, edge = await started(bus)
    fresh = entry("forge_fresh_0000099")
    try:
        async with client(edge, fresh.name) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 401
            await registry.publish("tokens", "changed", fresh)
            await until(edge, lambda: fresh.token_hash in edge.identity.tokens)
            assert (await http.post("/mcp", json=LIST)).status_code == 200
    finally:
        await stop(edge)


async def test_uses_are_counted_and_published_in_batches(bus: NatsBus) -> None:
    batches: asyncio.Queue[TokenUsage] = asyncio.Queue()

    async def on_usage(subject: str, data: bytes) -> None:
        batches.put_nowait(msgspec.json.decode(data, type=TokenUsage))

    await bus.subscribe(subjects.TOKEN_USAGE, on_usage)
    _, edge = await started(bus)
    try:
        async with client(edge, raw("plain")) as http:
            for _ in range(3):
                assert (await http.post("/mcp", json=LIST)).status_code == 200
        async with client(edge, raw("server")) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 403  # not a use
        await edge.auth.flush_usage()
        async with asyncio.timeout(5):
            batch = await batches.get()
        assert batch.counts == {TOKENS["plain"].id: 3}
        assert batch.last_used[TOKENS["plain"].id] <= time.time()
        await edge.auth.flush_usage()  # nothing new: nothing sent
        await bus.flush()
        assert batches.empty()
        async with client(edge, raw("plain")) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 200
    finally:
        await stop(edge)  # publishes the last batch
    async with asyncio.timeout(5):
        assert (await batches.get()).counts == {TOKENS["plain"].id: 1}
