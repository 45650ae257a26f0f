"""The REST identity API at the edge: login, account, teams, tokens, RBAC and audit routes against
a real edge app and a small identity registry answering on a real NATS bus."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from edge_harness import SECRET, IdentityRegistry, client, edge_on, stop, user
from joserfc import jwt
from joserfc.jwk import OctKey

from forge.cli.tokens import mint
from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import TooManyRequestsError, UnauthorizedError
from forge.edge.rest.identity import ACCOUNT, VERSIONED
from forge.edge.state import Edge
from forge.proto import access
from forge.proto.envelope import Envelope, Principal
from forge.proto.identity import UserAccess

ADMIN = user("admin@example.com", "platform_admin")
DEV = user("dev@example.com", "developer")
AUDITOR = user("auditor@example.com", "platform_viewer")
NOBODY = UserAccess(email="nobody@example.com", id="u-nobody", teams=("p-nobody",))
_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
Answer = Callable[[dict[str, Any]], Any]


@dataclass
class Ops:
    """Identity registry operations other than the cache's: answers from `answers` (default:
    an echo of the operation and its params), every request recorded in `asked`."""

    bus: Bus
    answers: dict[str, Answer] = field(default_factory=dict)
    asked: list[tuple[str, Principal, dict[str, Any]]] = field(default_factory=list)

    async def serve(self, *names: str) -> None:
        for name in names:
            entity, op = name.split(".")
            await rpc.serve_envelopes(
                self.bus,
                subjects.registry(subjects.IDENTITY, entity, op),
                self._handler(name),
                queue=None,
            )

    def _handler(self, name: str) -> Callable[[Envelope], Any]:
        async def handle(envelope: Envelope) -> bytes:
            params = _ANY.decode(envelope.params)
            self.asked.append((name, envelope.principal, params))
            answer = self.answers.get(name)
            result = answer(params) if answer is not None else {"op": name, "params": params}
            return _ENC.encode(result)

        return handle

    def last(self, name: str) -> tuple[Principal, dict[str, Any]]:
        found = [(p, params) for op, p, params in self.asked if op == name]
        assert found, f"{name} was never asked"
        return found[-1]


@dataclass
class World:
    edge: Edge
    registry: IdentityRegistry
    ops: Ops


OPS = {f"{s.entity}.{s.op}" for s in (*ACCOUNT, *VERSIONED)} | {
    "users.login",
    "users.register",
    "revocations.create",
}


@pytest.fixture
async def world(bus: Bus) -> AsyncIterator[World]:
    registry = await IdentityRegistry(bus, users=[ADMIN, DEV, AUDITOR, NOBODY]).start()
    ops = Ops(bus)
    await ops.serve(*sorted(OPS))
    edge = await edge_on(bus)
    try:
        yield World(edge, registry, ops)
    finally:
        await stop(edge)


def token(who: UserAccess, **extra: Any) -> str:
    return mint(SECRET, who.email, extra=extra or None)


def _concrete(path: str) -> tuple[str, dict[str, str]]:
    values = {
        "id": "x1",
        "team_id": "t1",
        "email": "bob@example.com",
        "token": "inv-tok",
        "name": "auditor",
        "role": "developer",
    }
    params = {}
    for name, value in values.items():
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", value)
            params[name] = value
    return path, params


async def test_every_identity_route_asks_its_registry_operation_with_the_path_parameters(
    world: World,
) -> None:
    async with client(world.edge, token(ADMIN)) as http:
        routes = [("", s) for s in ACCOUNT] + [(p, s) for p in ("", "/v1") for s in VERSIONED]
        for prefix, spec in routes:
            path, path_params = _concrete(spec.path)
            body = {"description": "d", "email": "body-cannot-override@example.com"}
            sent = body if spec.method in ("POST", "PUT") else None
            response = await http.request(spec.method, prefix + path, json=sent)
            assert response.status_code == spec.status, (spec, response.text)
            answer = response.json()
            assert answer["op"] == f"{spec.entity}.{spec.op}", spec
            expected = dict(path_params)
            if spec.own:
                expected["email"] = ADMIN.email
            assert answer["params"].items() >= expected.items(), spec
            if sent is not None:
                assert answer["params"]["description"] == "d"


async def test_a_user_without_permissions_reaches_only_the_routes_about_themselves(
    world: World,
) -> None:
    async with client(world.edge, token(NOBODY)) as http:
        for spec in (*ACCOUNT, *VERSIONED):
            path, _ = _concrete(spec.path)
            sent: dict[str, Any] | None = {} if spec.method in ("POST", "PUT") else None
            url = "/v1" + path if spec in VERSIONED else path
            response = await http.request(spec.method, url, json=sent)
            expected = 403 if spec.permission else spec.status
            assert response.status_code == expected, spec


async def test_login_answers_a_session_token_that_then_authenticates(world: World) -> None:
    world.ops.answers["users.login"] = lambda params: DEV
    async with client(world.edge) as http:
        for path in ("/auth/login", "/auth/email/login"):
            response = await http.post(path, json={"email": DEV.email, "password": "pw-123456789"})
            assert response.status_code == 200
            body = response.json()
            assert body["token_type"] == "bearer"
            assert 0 < body["expires_in"] <= world.edge.config.session_token_ttl_s
            assert body["user"] == {
                "email": DEV.email,
                "full_name": None,
                "is_admin": False,
                "teams": [DEV.personal_team, "team-a"],
                "roles": ["developer"],
            }
            principal, params = world.ops.last("users.login")
            assert principal.subject == "anonymous"
            assert params["password"] == "pw-123456789"
            me = await http.get(
                "/auth/email/me", headers={"Authorization": "Bearer " + body["access_token"]}
            )
            assert me.status_code == 200
            assert me.json()["params"] == {"email": DEV.email}


async def test_a_login_answers_a_device_cookie_that_the_next_login_presents(
    world: World,
) -> None:
    """Red-team F5: clients that signed in before are told apart from strangers by a signed
    device cookie (browsers: the cookie; API clients: `device_token` in the body)."""
    world.ops.answers["users.login"] = lambda params: DEV
    forged = {"device": "made-up", "device_account": DEV.id}  # only the edge may set these
    sign_in = {"email": DEV.email, "password": "pw-123456789", **forged}
    async with client(world.edge) as browser:
        first = await browser.post("/auth/login", json=sign_in)
        assert first.status_code == 200
        assert world.ops.last("users.login")[1]["device"] is None
        device_token = first.json()["device_token"]
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/auth" in cookie
        assert (await browser.post("/auth/email/login", json=sign_in)).status_code == 200
        params = world.ops.last("users.login")[1]
        assert params["device"] not in (None, "made-up") and params["device_account"] == DEV.id
    async with client(world.edge) as api:
        with_token = {**sign_in, "device_token": device_token}
        assert (await api.post("/auth/login", json=with_token)).status_code == 200
        params = world.ops.last("users.login")[1]
        assert params["device_account"] == DEV.id and "device_token" not in params
        # Another account's email: the cookie does not count.
        other = {**with_token, "email": ADMIN.email}
        assert (await api.post("/auth/login", json=other)).status_code == 200
        assert world.ops.last("users.login")[1]["device"] is None
        bad = await api.post("/auth/login", json={**sign_in, "device_token": 5})
        assert bad.status_code == 422 and bad.json()["data"]["field"] == "device_token"


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (UnauthorizedError("wrong email or password"), 401, -32004),
        (TooManyRequestsError("locked for 15 minutes"), 429, -32012),
    ],
)
async def test_a_refused_login_passes_the_registry_answer_through(
    world: World, refusal: Exception, status: int, code: int
) -> None:
    def refuse(params: dict[str, Any]) -> Any:
        raise refusal

    world.ops.answers["users.login"] = refuse
    async with client(world.edge) as http:
        response = await http.post("/auth/login", json={"email": DEV.email, "password": "nope"})
    assert response.status_code == status
    assert response.json()["code"] == code
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/auth/login", b"{not json"),
        ("/auth/login", b"[1, 2]"),
        ("/auth/login", b""),
        ("/teams", b'{"name": '),
        ("/rbac/permissions/check", b"nope"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    world: World, path: str, content: bytes
) -> None:
    async with client(world.edge, token(ADMIN)) as http:
        response = await http.post(path, content=content)
    assert response.status_code == 400
    assert response.json()["code"] == -32600
    assert not [op for op, _, _ in world.ops.asked if op in ("users.login", "teams.create")]


async def test_wrong_field_types_and_bad_query_numbers_are_422_naming_the_field(
    world: World,
) -> None:
    async with client(world.edge, token(DEV)) as http:
        check = await http.post("/rbac/permissions/check", json={"permission": 5})
        limit = await http.get("/teams", params={"limit": "ten"})
        flag = await http.get("/tokens", params={"all": "maybe"})
        unknown = await http.post("/rbac/permissions/check", json={"permission": "tools.fly"})
    for response, field_name in (
        (check, "permission"),
        (limit, "limit"),
        (flag, "all"),
        (unknown, "permission"),
    ):
        assert response.status_code == 422
        assert response.json()["code"] == -32602
        assert field_name in response.text
    async with client(world.edge, token(ADMIN)) as http:
        listed = await http.get("/audit", params={"limit": "5", "actor": "dev@example.com"})
    assert listed.json()["params"] == {"limit": 5, "actor": "dev@example.com"}


async def test_each_route_checks_its_permission_before_asking_the_registry(world: World) -> None:
    async with client(world.edge, token(DEV)) as http:
        denied = [
            await http.get("/auth/email/admin/users"),
            await http.post("/rbac/roles", json={"name": "r", "permissions": []}),
            await http.get("/audit"),
            await http.get("/v1/rbac/permissions"),
        ]
        allowed = await http.post("/tokens", json={"name": "ci"})
    for response in denied:
        assert response.status_code == 403
        assert response.json()["code"] == -32005
    assert allowed.status_code == 201
    asked = {op for op, _, _ in world.ops.asked}
    assert asked == {"tokens.create"}
    async with client(world.edge) as anonymous:
        response = await anonymous.get("/teams")
    assert response.status_code == 401
    assert "resource_metadata" in response.headers["www-authenticate"]


async def test_account_routes_act_on_the_caller_whatever_the_request_names(world: World) -> None:
    async with client(world.edge, token(DEV)) as http:
        me = await http.get("/auth/email/me", params={"email": ADMIN.email})
        changed = await http.post(
            "/auth/email/change-password",
            json={"email": ADMIN.email, "old_password": "a" * 12, "new_password": "b" * 12},
        )
        roles = await http.get("/rbac/my/roles", params={"email": ADMIN.email})
    assert me.json()["params"]["email"] == DEV.email
    assert changed.json()["params"] == {
        "email": DEV.email,
        "old_password": "a" * 12,
        "new_password": "b" * 12,
    }
    assert roles.json()["params"]["email"] == DEV.email
    principal, _ = world.ops.last("users.change_password")
    assert principal.subject == DEV.email and principal.subject_token is None


async def test_logout_revokes_the_tokens_jti_until_it_would_expire(world: World) -> None:
    now = int(time.time())
    claims = {
        "sub": DEV.email,
        "iat": now,
        "exp": now + 600,
        "jti": "jti-logout-1",
        "aud": "forge",
        "iss": "forge",
    }
    raw = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))
    async with client(world.edge, raw) as http:
        response = await http.post("/auth/logout")
    assert response.status_code == 200
    principal, params = world.ops.last("revocations.create")
    assert params == {"jti": "jti-logout-1", "expires_at": now + 600, "reason": "logout"}
    assert principal.subject == DEV.email


async def test_signup_is_refused_unless_enabled(bus: Bus, world: World) -> None:
    registered = user("new@example.com", "viewer")
    world.ops.answers["users.register"] = lambda params: registered
    body = {"email": registered.email, "password": "long-enough-pw"}
    async with client(world.edge) as http:
        refused = await http.post("/auth/email/register", json=body)
    assert refused.status_code == 403
    assert not [op for op, _, _ in world.ops.asked if op == "users.register"]
    open_edge = await edge_on(bus, allow_signup=True)
    try:
        async with client(open_edge) as http:
            created = await http.post("/auth/email/register", json=body)
    finally:
        await stop(open_edge)
    assert created.status_code == 201
    assert created.json()["user"]["email"] == registered.email
    assert created.json()["access_token"]


async def test_permissions_are_listed_with_their_default_roles(world: World) -> None:
    async with client(world.edge, token(AUDITOR)) as http:
        listed = await http.get("/rbac/permissions")
    assert listed.status_code == 200
    entries = {e["name"]: e for e in listed.json()["permissions"]}
    assert set(entries) == set(access.PERMISSIONS)
    assert entries["tools.execute"]["default_roles"] == [
        "platform_admin",
        "team_admin",
        "developer",
    ]
    assert entries["audit.read"]["default_roles"] == ["platform_admin", "platform_viewer"]


async def test_my_permissions_and_permission_checks_follow_the_callers_roles(
    world: World,
) -> None:
    async with client(world.edge, token(DEV)) as http:
        mine = await http.get("/rbac/my/permissions")
        execute = await http.post("/rbac/permissions/check", json={"permission": "tools.execute"})
        delete = await http.post("/v1/rbac/permissions/check", json={"permission": "users.delete"})
        other = await http.post(
            "/rbac/permissions/check", json={"permission": "users.read", "email": ADMIN.email}
        )
    assert mine.json() == [p for p in access.PERMISSIONS if p in access.BUILTIN_ROLES["developer"]]
    assert execute.json() == {"permission": "tools.execute", "granted": True}
    assert delete.json() == {"permission": "users.delete", "granted": False}
    assert other.status_code == 403
    world.ops.answers["users.get"] = lambda params: DEV
    async with client(world.edge, token(ADMIN)) as http:
        everything = await http.get("/rbac/my/permissions")
        of_dev = await http.post(
            "/rbac/permissions/check", json={"permission": "users.read", "email": DEV.email}
        )
    assert everything.json() == list(access.PERMISSIONS)
    assert of_dev.json()["granted"] is False
    assert world.ops.last("users.get")[1] == {"email": DEV.email}


async def test_an_oversized_body_is_refused_before_the_registry_hears_of_it(bus: Bus) -> None:
    registry = await IdentityRegistry(bus, users=[ADMIN]).start()
    ops = Ops(bus)
    await ops.serve("teams.create")
    edge = await edge_on(bus, max_body_bytes=64)
    try:
        async with client(edge, token(ADMIN)) as http:
            response = await http.post("/teams", json={"name": "x" * 100})
    finally:
        await stop(edge)
    assert response.status_code == 413
    assert ops.asked == [] and registry.asked
