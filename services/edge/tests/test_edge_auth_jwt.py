"""JWTs at the edge, over real HTTP into the edge app, with a real identity registry peer on NATS:
every bad token is refused with 401, the identity comes from the registry, never the token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from edge_harness import (
    SECRET,
    IdentityRegistry,
    client,
    edge_on,
    router,
    rpc_body,
    stop,
    until,
    user,
)
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from forge.cli.tokens import mint
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.config import ConfigError
from forge.edge.app import build_edge
from forge.edge.auth.account_binding import STALE
from forge.edge.config import EdgeConfig
from forge.proto.identity import Revocation
from forge.testing.membus import MemoryBus

ALICE = user("alice@example.com", "developer")
VERA = user("vera@example.com", "viewer")
GONE = user("gone@example.com", "developer", active=False)
LIST = rpc_body("tools/list")
CALL = rpc_body("tools/call", {"name": "echo"})


def claims(subject: str = ALICE.email, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": subject,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "aud": "forge",
        "iss": "forge",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


async def refused(http: httpx.AsyncClient, token: str, path: str = "/mcp") -> httpx.Response:
    response = await http.post(path, json=LIST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == -32004
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="forge", resource_metadata="')
    assert 'error="invalid_token"' in challenge
    return response


async def test_bad_tokens_are_refused_with_401_and_a_challenge(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus)
    header = b64(b'{"alg":"none","typ":"JWT"}')
    payload = b64(json.dumps(claims()).encode())
    bad = {
        "forged signature": mint("f" * 48, ALICE.email),
        "alg none": f"{header}.{payload}.",
        "unknown algorithm": jwt.encode(
            {"alg": "HS512"}, claims(), OctKey.import_key(SECRET), algorithms=["HS512"]
        ),
        "expired": mint(SECRET, ALICE.email, ttl_s=-120),
        "no jti": jwt.encode({"alg": "HS256"}, claims(jti=None), OctKey.import_key(SECRET)),
        "no aud": jwt.encode({"alg": "HS256"}, claims(aud=None), OctKey.import_key(SECRET)),
        "no iss": jwt.encode({"alg": "HS256"}, claims(iss=None), OctKey.import_key(SECRET)),
        "no exp": jwt.encode({"alg": "HS256"}, claims(exp=None), OctKey.import_key(SECRET)),
        "wrong audience": mint(SECRET, ALICE.email, audience="someone-else"),
        "wrong issuer": mint(SECRET, ALICE.email, issuer="https://evil.example"),
        "not a jwt": "a.b.c",
    }
    try:
        async with client(edge) as http:
            assert (
                await http.post("/mcp", json=LIST, headers=_auth(mint(SECRET, ALICE.email)))
            ).status_code == 200
            for kind, token in bad.items():
                response = await refused(http, token)
                assert response.json()["error"]["message"], kind
    finally:
        await stop(edge)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rsa_files(tmp_path: Path) -> tuple[Any, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "rsa.pem"
    path.write_bytes(pem)
    return private, path


async def test_rs256_and_es256_tokens_verify_with_configured_public_keys(
    bus: NatsBus, tmp_path: Path
) -> None:
    rsa_private, rsa_path = _rsa_files(tmp_path)
    ec_private = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = ECKey.import_key(
        ec_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).as_dict()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**ec_jwk, "kid": "ec-1"}]}))
    await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus, jwt_public_keys=f"{rsa_path},{jwks}")
    rs_key = RSAKey.import_key(
        rsa_private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    es_key = ECKey.import_key(
        ec_private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rs256 = jwt.encode({"alg": "RS256"}, claims(), rs_key)
    es256 = jwt.encode({"alg": "ES256", "kid": "ec-1"}, claims(), es_key)
    try:
        async with client(edge) as http:
            for token in (rs256, es256):
                response = await http.post("/mcp", json=LIST, headers=_auth(token))
                assert response.status_code == 200, response.text
                assert response.json()["result"]["principal"]["auth_method"] == "jwt"
            # Key confusion: the RSA public key used as an HMAC secret, and an RS256 header on an
            # HMAC signature. Neither verifies: each algorithm has its own key.
            signed = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims()).encode())
            mac = hmac.new(rsa_path.read_bytes(), signed.encode(), hashlib.sha256).digest()
            await refused(http, f"{signed}.{b64(mac)}")
            _, body, signature = mint(SECRET, ALICE.email).split(".")
            relabelled = b64(b'{"alg":"RS256","typ":"JWT"}')
            await refused(http, f"{relabelled}.{body}.{signature}")
            # ES256 signed with a key of the right type but not the configured one.
            other = ECKey.generate_key("P-256")
            await refused(http, jwt.encode({"alg": "ES256", "kid": "ec-1"}, claims(), other))
    finally:
        await stop(edge)


async def test_an_hs256_only_edge_refuses_rs256_tokens(bus: NatsBus, tmp_path: Path) -> None:
    rsa_private, rsa_path = _rsa_files(tmp_path)
    await IdentityRegistry(bus, [ALICE]).start()
    edge = await edge_on(bus, jwt_public_keys=str(rsa_path), jwt_algorithms="HS256")
    key = RSAKey.import_key(
        rsa_private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    try:
        async with client(edge) as http:
            await refused(http, jwt.encode({"alg": "RS256"}, claims(), key))
    finally:
        await stop(edge)


async def test_identity_comes_from_the_registry_not_from_token_claims(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [VERA]).start()
    seen = await router(bus)
    edge = await edge_on(bus)
    token = mint(SECRET, VERA.email, admin=True, extra={"teams": ["t-x"], "permissions": ["*"]})
    try:
        async with client(edge, token) as http:
            listed = await http.post("/mcp", json=LIST)
            assert listed.status_code == 200
            principal = listed.json()["result"]["principal"]
            assert principal["subject"] == VERA.email
            assert principal["teams"] == [VERA.personal_team, "team-a"]  # personal first
            assert principal["roles"] == ["viewer"]
            assert "is_admin" not in principal  # omitted: false
            assert principal["permissions"] == list(VERA.permissions)
            assert principal["auth_method"] == "jwt"
            assert principal["token_id"]
            assert seen[-1].principal.subject_token == token
            called = await http.post("/mcp", json=CALL)
            assert called.status_code == 403
            assert called.json()["error"]["code"] == -32005
    finally:
        await stop(edge)


async def test_unknown_and_inactive_users_are_refused(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE, GONE]).start()
    edge = await edge_on(bus)
    try:
        async with client(edge) as http:
            await refused(http, mint(SECRET, "nobody@example.com"))
            await refused(http, mint(SECRET, GONE.email))
    finally:
        await stop(edge)


async def test_a_revoked_jti_is_refused_as_soon_as_the_event_arrives(bus: NatsBus) -> None:
    registry = await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus)
    jti = uuid.uuid4().hex
    token = jwt.encode({"alg": "HS256"}, claims(jti=jti), OctKey.import_key(SECRET))
    try:
        async with client(edge, token) as http:
            assert (await http.post("/mcp", json=LIST)).status_code == 200
            await registry.publish("revocations", "changed", Revocation(jti=jti))
            await until(edge, lambda: jti in edge.identity.revoked)
            response = await refused(http, token)
            assert response.json()["error"]["message"] == STALE  # as any other dead token
    finally:
        await stop(edge)


async def test_a_revocation_in_the_snapshot_is_refused(bus: NatsBus) -> None:
    jti = uuid.uuid4().hex
    await IdentityRegistry(bus, [ALICE], revocations=[Revocation(jti=jti)]).start()
    edge = await edge_on(bus)
    token = jwt.encode({"alg": "HS256"}, claims(jti=jti), OctKey.import_key(SECRET))
    try:
        async with client(edge) as http:
            await refused(http, token)
    finally:
        await stop(edge)


async def test_a_token_for_one_servers_resource_is_refused_elsewhere(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus, public_url="https://forge.example")
    audience = "https://forge.example/servers/s-a/mcp"
    token = mint(SECRET, ALICE.email, audience=audience)
    root = mint(SECRET, ALICE.email, audience="https://forge.example/mcp")
    try:
        async with client(edge, token) as http:
            here = await http.post("/servers/s-a/mcp", json=LIST)
            assert here.status_code == 200, here.text
            assert here.json()["result"]["server_id"] == "s-a"
            for path in ("/servers/s-b/mcp", "/mcp"):
                response = await refused(http, token, path)
                assert "resource_metadata=" in response.headers["www-authenticate"]
            assert (await http.get("/tools")).status_code == 401
            assert (await http.post("/mcp", json=LIST, headers=_auth(root))).status_code == 200
            await refused(http, root, "/servers/s-a/mcp")
    finally:
        await stop(edge)


async def test_session_tokens_verify_and_say_so(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus)
    token, expires = edge.auth.mint_session(ALICE)
    assert expires > time.time() + 3600
    try:
        async with client(edge, token) as http:
            principal = (await http.post("/mcp", json=LIST)).json()["result"]["principal"]
        assert principal["auth_method"] == "session"
        assert principal["subject"] == ALICE.email
    finally:
        await stop(edge)


async def test_a_user_missing_from_the_snapshot_is_asked_once_then_served_from_memory(
    bus: NatsBus, nats_url: str
) -> None:
    newcomer = user("new@example.com", "developer")
    registry = await IdentityRegistry(bus, [ALICE], hidden=[newcomer]).start()
    await router(bus)
    edge = await edge_on(bus)
    watcher = await NatsBus.connect(nats_url, "identity-watcher")
    seen: list[str] = []

    async def count(subject: str, data: bytes, reply: str) -> None:
        seen.append(subject)

    await watcher.subscribe_with_reply(subjects.registry_all(subjects.IDENTITY), count)
    await watcher.flush()
    try:
        async with client(edge, mint(SECRET, newcomer.email)) as http:
            first = await asyncio.gather(*(http.post("/mcp", json=LIST) for _ in range(5)))
            assert all(r.status_code == 200 for r in first)
            assert [a for a, _ in registry.asked].count("users.access") == 1
            await bus.flush()
            await watcher.flush()
            seen.clear()
            for _ in range(20):
                assert (await http.post("/mcp", json=LIST)).status_code == 200
            # Another token of the same user: verified, but the user is already in memory.
            other = mint(SECRET, newcomer.email)
            assert (await http.post("/mcp", json=LIST, headers=_auth(other))).status_code == 200
        await bus.flush()
        await watcher.flush()
        assert seen == []
        assert [a for a, _ in registry.asked].count("users.access") == 1
    finally:
        await watcher.close()
        await stop(edge)


async def test_an_identity_change_clears_cached_principals(bus: NatsBus) -> None:
    registry = await IdentityRegistry(bus, [VERA]).start()
    await router(bus)
    edge = await edge_on(bus)
    try:
        async with client(edge, mint(SECRET, VERA.email)) as http:
            assert (await http.post("/mcp", json=CALL)).status_code == 403
            promoted = user(VERA.email, "developer")
            await registry.publish("users", "changed", promoted)
            await until(edge, lambda: edge.identity.users[VERA.email] == promoted)
            assert (await http.post("/mcp", json=CALL)).status_code == 200
            await registry.publish("users", "deleted", {"email": VERA.email})
            await until(edge, lambda: VERA.email not in edge.identity.users)
            await refused(http, mint(SECRET, VERA.email))
            assert (await http.post("/mcp", json=LIST)).status_code == 401
    finally:
        await stop(edge)


@pytest.mark.parametrize(
    "settings",
    [
        {"jwt_algorithms": "HS256,none"},
        {"jwt_algorithms": "HS512"},
        {"jwt_algorithms": ""},
        {"jwt_public_keys": "/nonexistent/key.pem"},
    ],
)
def test_bad_key_settings_fail_at_start(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        build_edge(EdgeConfig(jwt_secret=SECRET, **settings), MemoryBus())


def test_a_file_that_holds_no_key_fails_at_start(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError):
        build_edge(EdgeConfig(jwt_secret=SECRET, jwt_public_keys=str(junk)), MemoryBus())
