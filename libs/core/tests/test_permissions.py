"""Each service's NATS user (forge.core.permissions) on a real nats-server: what it needs works,
the rest is refused; and the table agrees with docs/architecture.md's subjects table."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from forge.core import permissions, subjects
from forge.core.bus import Headers, LogLimits, NatsBus
from forge.core.errors import ServiceUnavailableError
from forge.embedded.nats import EmbeddedNats, nats_server_path, start_nats
from forge.testing import eventually

SMALL = 64 * 1024  # a small max_payload, so large messages go by claim check
USERS = [*permissions.SERVICES, permissions.OPERATOR]
PASSWORDS = {user: secrets.token_urlsafe(16) for user in USERS}
ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    config = permissions.nats_config(PASSWORDS, operator=True)
    server = start_nats(
        tmp_path_factory.mktemp("locked-nats"), max_payload=SMALL, authorization=config
    )
    try:
        yield server
    finally:
        server.stop()


def url_of(server: EmbeddedNats, user: str, password: str | None = None) -> str:
    host = server.url.removeprefix("nats://")
    return f"nats://{user}:{password or PASSWORDS[user]}@{host}"


@pytest.fixture
async def buses(locked: EmbeddedNats) -> AsyncIterator[dict[str, NatsBus]]:
    """A connection per user, as each service makes it."""
    made = {user: await NatsBus.connect(url_of(locked, user), f"forge-{user}") for user in USERS}
    try:
        yield made
    finally:
        for bus in made.values():
            await bus.close()


async def echo(data: bytes, headers: Headers) -> bytes:
    return b"echo:" + data


async def ask(bus: NatsBus, subject: str, payload: bytes) -> bytes:
    """A request, asked again on "no responders": a subscription just made is seldom not yet
    seen by the server (seen with plain nats-py and no permissions too), not what is tested."""
    reply: bytes = await eventually(
        lambda: bus.request(subject, payload, deadline=time.time() + 5),
        retry_on=(ServiceUnavailableError,),
    )
    return reply


# (caller, server, the subject asked, the subject served): every request/reply hop of the mesh.
REQUESTS = [
    ("edge", "router", subjects.ROUTER_RPC, subjects.ROUTER_RPC),
    # The router in the edge's process (FORGE_EDGE_ROUTER=local) asks what the router asks.
    ("edge", "upstream_proxy", subjects.upstream("g1", "rpc"), subjects.upstream_any("rpc")),
    ("edge", "a2a_bridge", subjects.a2a("ag", "call"), subjects.a2a_any("call")),
    ("edge", "router", subjects.ROUTER_HEALTH, subjects.ROUTER_HEALTH),
    (
        "edge",
        "registry",
        subjects.registry(subjects.IDENTITY, "users", "get"),
        subjects.registry_all(subjects.IDENTITY),
    ),
    (
        "edge",
        "registry",
        subjects.registry(subjects.CATALOG, "gateways", "create"),
        subjects.registry_all(subjects.CATALOG),
    ),
    (
        "edge",
        "registry",
        subjects.registry_health(subjects.IDENTITY),
        subjects.registry_health(subjects.IDENTITY),
    ),
    ("edge", "upstream_proxy", subjects.upstream_oauth("g1"), subjects.upstream_any("oauth")),
    ("edge", "upstream_proxy", subjects.UPSTREAM_HEALTH, subjects.UPSTREAM_HEALTH),
    ("edge", "a2a_bridge", subjects.a2a("ag", "send"), subjects.a2a_any("send")),
    ("edge", "a2a_bridge", subjects.A2A_HEALTH, subjects.A2A_HEALTH),
    ("edge", "plugin_runner", subjects.plugins_call("tool_pre_invoke"), subjects.plugins_call("*")),
    ("edge", "plugin_runner", subjects.PLUGINS_MANIFEST_GET, subjects.PLUGINS_MANIFEST_GET),
    (
        "router",
        "registry",
        subjects.registry(subjects.CATALOG, "snapshot", "get"),
        subjects.registry_all(subjects.CATALOG),
    ),
    ("router", "upstream_proxy", subjects.upstream("g1", "rpc"), subjects.upstream_any("rpc")),
    ("router", "a2a_bridge", subjects.a2a("ag", "call"), subjects.a2a_any("call")),
    ("router", "plugin_runner", subjects.plugins_call("x"), subjects.plugins_call("*")),
    ("registry", "upstream_proxy", subjects.upstream("g1", "discover"), subjects.upstream_any("*")),
    ("registry", "registry", subjects.AUDIT_LAUNCH, subjects.AUDIT_LAUNCH),
    ("upstream_proxy", "registry", subjects.AUDIT_LAUNCH, subjects.AUDIT_LAUNCH),
    (
        "upstream_proxy",
        "registry",
        subjects.registry(subjects.CATALOG, "gateways", "get"),
        subjects.registry_all(subjects.CATALOG),
    ),
    (
        "upstream_proxy",
        "upstream_proxy",
        subjects.upstream("g1", "pinned-rpc"),
        subjects.upstream("g1", "pinned-rpc"),
    ),
    ("upstream_proxy", "upstream_proxy", subjects.resume("r1"), subjects.resume("r1")),
    ("upstream_proxy", "edge", subjects.stream("req1"), subjects.stream("*")),
    ("a2a_bridge", "edge", subjects.stream("req2"), subjects.stream("*")),
    (
        "a2a_bridge",
        "registry",
        subjects.registry(subjects.CATALOG, "agents", "get"),
        subjects.registry_all(subjects.CATALOG),
    ),
    ("a2a_bridge", "plugin_runner", subjects.plugins_call("agent_pre_invoke"), "forge.plugins.>"),
    (
        "plugin_runner",
        "registry",
        subjects.registry(subjects.CATALOG, "plugin_bindings", "snapshot"),
        subjects.registry_all(subjects.CATALOG),
    ),
]

# (publisher, subscriber, subject published, subject followed): every pub/sub hop.
EVENTS = [
    ("registry", "router", subjects.event("catalog", "tools", "changed"), subjects.CATALOG_EVENTS),
    ("registry", "edge", subjects.event("identity", "users", "deleted"), subjects.IDENTITY_EVENTS),
    (
        "registry",
        "upstream_proxy",
        subjects.event("catalog", "gateways", "changed"),
        subjects.entity_events("catalog", "gateways"),
    ),
    (
        "registry",
        "plugin_runner",
        subjects.event("catalog", "plugin_bindings", "changed"),
        subjects.entity_events("catalog", "plugin_bindings"),
    ),
    (
        "registry",
        "a2a_bridge",
        subjects.event("catalog", "agents", "changed"),
        subjects.entity_events("catalog", "agents"),
    ),
    ("plugin_runner", "router", subjects.PLUGINS_MANIFEST, subjects.PLUGINS_MANIFEST),
    ("plugin_runner", "edge", subjects.PLUGINS_MANIFEST, subjects.PLUGINS_MANIFEST),
    ("plugin_runner", "a2a_bridge", subjects.PLUGINS_MANIFEST, subjects.PLUGINS_MANIFEST),
    ("router", "registry", subjects.metrics("tools"), subjects.metrics("*")),
    ("a2a_bridge", "registry", subjects.metrics("agents"), subjects.metrics("*")),
    ("edge", "registry", subjects.TOKEN_USAGE, subjects.metrics("*")),
    ("edge", "upstream_proxy", subjects.cancel("r1"), subjects.CANCEL_ANY),
    ("edge", "a2a_bridge", subjects.cancel("r1"), subjects.CANCEL_ANY),
    ("edge", "edge", subjects.session("s1"), subjects.session("*")),
    ("upstream_proxy", "edge", subjects.resource_updated("g1"), subjects.RESOURCE_UPDATED_ANY),
    ("upstream_proxy", "edge", subjects.stream("r1"), subjects.stream("*")),
    ("a2a_bridge", "edge", subjects.stream("r1"), subjects.stream("*")),
]

# (caller, subject): requests a service's user may not make; the operator would answer them.
REFUSED_REQUESTS = [
    ("upstream_proxy", subjects.registry(subjects.IDENTITY, "users", "get")),
    ("upstream_proxy", subjects.ROUTER_RPC),
    ("edge", subjects.upstream("g1", "discover")),
    ("router", subjects.registry(subjects.IDENTITY, "teams", "list")),
    ("router", subjects.upstream("g1", "discover")),
    ("registry", subjects.ROUTER_RPC),
    ("plugin_runner", subjects.upstream("g1", "rpc")),
    ("plugin_runner", subjects.registry(subjects.IDENTITY, "tokens", "get")),
    ("a2a_bridge", subjects.ROUTER_RPC),
    ("a2a_bridge", subjects.registry(subjects.IDENTITY, "users", "get")),
]

# (publisher, subject): announcements a service's user may not make.
REFUSED_PUBLISHES = [
    ("edge", "forge.events.catalog.x.changed"),
    ("router", subjects.TOKEN_USAGE),
    ("router", subjects.event("identity", "users", "changed")),
    ("upstream_proxy", subjects.PLUGINS_MANIFEST),
    ("upstream_proxy", subjects.event("catalog", "gateways", "deleted")),
    ("a2a_bridge", subjects.cancel("r1")),
    ("plugin_runner", subjects.session("s1")),
    ("registry", subjects.stream("r1")),
]

# (subscriber, subject): what a service's user may not listen to.
REFUSED_SUBSCRIPTIONS = [
    ("upstream_proxy", "_INBOX.edge.>"),
    ("edge", subjects.registry_all(subjects.IDENTITY)),
    ("router", subjects.stream("*")),
    ("a2a_bridge", subjects.upstream_any("rpc")),
    ("plugin_runner", subjects.IDENTITY_EVENTS),
    ("registry", subjects.CANCEL_ANY),
]


@pytest.mark.parametrize(("caller", "server", "asked", "served"), REQUESTS)
async def test_each_request_a_service_makes_is_answered(
    buses: dict[str, NatsBus], caller: str, server: str, asked: str, served: str
) -> None:
    await buses[server].serve(served, echo, queue="q")
    await buses[server].flush()
    assert await ask(buses[caller], asked, b"hi") == b"echo:hi"


@pytest.mark.parametrize(("publisher", "subscriber", "published", "followed"), EVENTS)
async def test_each_event_a_service_publishes_reaches_its_followers(
    buses: dict[str, NatsBus], publisher: str, subscriber: str, published: str, followed: str
) -> None:
    heard: list[str] = []

    async def on(subject: str, data: bytes) -> None:
        heard.append(subject)

    await buses[subscriber].subscribe(followed, on)
    await buses[subscriber].flush()

    async def published_and_heard() -> bool:
        # Published again on each try: a message sent right after a connection opens is
        # seldom lost (seen without any permissions too), which is not what this test checks.
        await buses[publisher].publish(published, b"{}")
        await buses[publisher].flush()
        return published in heard

    await eventually(published_and_heard, detail=lambda: str(heard))
    assert set(heard) == {published}


@pytest.mark.parametrize(("caller", "subject"), REFUSED_REQUESTS)
async def test_a_request_outside_a_services_rights_is_refused(
    buses: dict[str, NatsBus], caller: str, subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    await buses[permissions.OPERATOR].serve(subject, echo)
    await buses[permissions.OPERATOR].flush()
    with caplog.at_level(logging.ERROR, "forge.bus"):
        # The server drops the request and says so: the request fails then, long before its
        # deadline (decision 0027), with the permissions named; the log says why too.
        async with asyncio.timeout(30):
            with pytest.raises(ServiceUnavailableError) as failed:
                await buses[caller].request(subject, b"hi", deadline=time.time() + 120)
        assert failed.value.data is None  # not "retry later", unlike no responders: it won't do
        await eventually(
            lambda: any(
                "permissions violation for publish" in r.getMessage().lower()
                and subject in r.getMessage()
                for r in caplog.records
            )
        )
    assert any(r.getMessage().startswith("nats refused:") for r in caplog.records)


@pytest.mark.parametrize(("publisher", "subject"), REFUSED_PUBLISHES)
async def test_an_announcement_outside_a_services_rights_is_dropped(
    buses: dict[str, NatsBus], publisher: str, subject: str
) -> None:
    heard: list[bytes] = []

    async def on(subject: str, data: bytes) -> None:
        heard.append(data)

    operator = buses[permissions.OPERATOR]
    await operator.subscribe(subject, on)
    await operator.subscribe("forge.body.marker", on)
    await operator.flush()

    async def refused_then_marker() -> bool:
        await buses[publisher].publish(subject, b"refused")
        # Published after, on the same connection: when it has arrived, the first would have.
        await buses[publisher].publish("forge.body.marker", b"marker")
        await buses[publisher].flush()
        return b"marker" in heard

    await eventually(refused_then_marker, detail=lambda: str(heard))
    assert b"refused" not in heard


@pytest.mark.parametrize(("subscriber", "subject"), REFUSED_SUBSCRIPTIONS)
async def test_a_subscription_outside_a_services_rights_hears_nothing(
    buses: dict[str, NatsBus], subscriber: str, subject: str
) -> None:
    heard: list[bytes] = []

    async def on(subject: str, data: bytes) -> None:
        heard.append(data)

    bus = buses[subscriber]
    await bus.subscribe(subject, on)
    await bus.subscribe("forge.body.marker", on)
    await bus.flush()
    operator = buses[permissions.OPERATOR]
    concrete = subject.replace(">", "x").replace("*", "x")

    async def overheard_then_marker() -> bool:
        await operator.publish(concrete, b"overheard")
        await operator.publish("forge.body.marker", b"marker")
        await operator.flush()
        return b"marker" in heard

    await eventually(overheard_then_marker, detail=lambda: str(heard))
    assert b"overheard" not in heard


async def test_a_large_request_and_reply_cross_by_claim_check_between_services(
    buses: dict[str, NatsBus],
) -> None:
    async def reverse(data: bytes, headers: Headers) -> bytes:
        return data[::-1]

    await buses["upstream_proxy"].serve(subjects.upstream_any("rpc"), reverse, queue="q")
    await buses["upstream_proxy"].flush()
    body = os.urandom(SMALL * 3 + 17)
    reply = await ask(buses["router"], subjects.upstream("g1", "rpc"), body)
    assert reply == body[::-1]


async def test_a_client_answer_relayed_by_the_edge_reaches_the_asking_service(
    buses: dict[str, NatsBus],
) -> None:
    """A server-to-client request: the upstream-proxy asks on forge.stream.<id>; the edge
    replica that hears it is not the one the client answers: another publishes the answer to
    the reply inbox (`_INBOX.upstream_proxy.…`)."""
    inboxes: list[str] = []

    async def on(subject: str, data: bytes, reply: str) -> None:
        inboxes.append(reply)

    await buses["edge"].subscribe_with_reply(subjects.stream("r9"), on)
    await buses["edge"].flush()
    asking = asyncio.create_task(ask(buses["upstream_proxy"], subjects.stream("r9"), b"ask"))
    await eventually(lambda: len(inboxes) == 1)
    assert inboxes[0].startswith(subjects.inbox("upstream_proxy") + ".")
    assert subjects.is_inbox(inboxes[0])
    other_edge = buses["edge"]  # any edge connection: the user is what NATS checks
    await other_edge.publish(inboxes[0], b"answer")
    assert await asking == b"answer"


@pytest.mark.parametrize(
    ("service", "bucket"),
    [
        ("edge", permissions.SESSIONS_REVOKED),
        ("upstream_proxy", permissions.UPSTREAM_LEASES),
        ("upstream_proxy", permissions.UPSTREAM_USER_TOKENS),
        ("a2a_bridge", permissions.A2A_PUSH),
        ("a2a_bridge", permissions.A2A_TASKS),
        ("plugin_runner", "forge_ratelimit_60s"),
    ],
)
async def test_each_service_uses_its_own_key_value_buckets(
    buses: dict[str, NatsBus], service: str, bucket: str
) -> None:
    bus = buses[service]
    seen: dict[str, bytes | None] = {}
    await bus.kv_put(bucket, "k1", b"v1")
    assert await bus.kv_get(bucket, "k1") == b"v1"
    assert await bus.kv_create(bucket, "k2", b"v2", ttl_s=60)
    assert not await bus.kv_create(bucket, "k2", b"again")
    watch = await bus.kv_watch(bucket, lambda key, value: seen.__setitem__(key, value))
    await bus.kv_delete(bucket, "k2")
    await eventually(lambda: "k2" in seen and seen["k2"] is None)
    await watch.unsubscribe()


@pytest.mark.parametrize(
    ("service", "bucket"),
    [
        ("edge", permissions.UPSTREAM_USER_TOKENS),
        ("plugin_runner", permissions.SESSIONS_REVOKED),
        ("plugin_runner", permissions.UPSTREAM_USER_TOKENS),
        ("router", permissions.A2A_TASKS),
        ("a2a_bridge", permissions.UPSTREAM_LEASES),
    ],
)
async def test_another_services_bucket_is_refused(
    buses: dict[str, NatsBus], service: str, bucket: str
) -> None:
    await buses[permissions.OPERATOR].kv_put(bucket, "secret", b"sealed")
    with pytest.raises(TimeoutError):  # the refused JetStream API request is never answered
        await asyncio.wait_for(buses[service].kv_get(bucket, "secret"), 1)


async def test_the_edge_appends_to_and_follows_its_event_log(buses: dict[str, NatsBus]) -> None:
    edge = buses["edge"]
    limits = LogLimits(ttl_s=60, max_bytes=1 << 20)
    record = os.urandom(SMALL + 5)  # stored in pieces
    await edge.log_append(permissions.SSE_LOG, "s1", b"first", limits)
    await edge.log_append(permissions.SSE_LOG, "s1", record, limits)
    got: list[bytes] = []

    async def follow() -> None:
        async for item in edge.log_follow(permissions.SSE_LOG, "s1"):
            got.append(item)
            if len(got) == 2:
                return

    await asyncio.wait_for(follow(), 10)
    assert got == [b"first", record]


async def test_a_wrong_password_is_a_clear_error_without_the_password(
    locked: EmbeddedNats,
) -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        await NatsBus.connect(url_of(locked, "edge", "not-the-password"), "forge-edge", 3)
    assert "not-the-password" not in caught.value.message
    assert caught.value.message == f"NATS at {locked.url} refused the user and password"


def test_the_rendered_configuration_without_passwords_reads_them_from_the_environment(
    tmp_path: Path,
) -> None:
    config = permissions.nats_config()
    for user in permissions.SERVICES:
        assert "$" + permissions.env_password(user) in config
    assert permissions.OPERATOR not in config
    path = tmp_path / "nats.conf"
    path.write_text(config)
    env = {permissions.env_password(user): "pw" for user in permissions.SERVICES}
    checked = subprocess.run(
        [str(nats_server_path()), "-t", "-c", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# The subjects table: `| subject | built by | from → to | kind |`.
_SERVICE_NAMES = {
    "edge": "edge",
    "router": "router",
    "registry": "registry",
    "upstream-proxy": "upstream_proxy",
    "a2a-bridge": "a2a_bridge",
    "plugin-runner": "plugin_runner",
}
_NAME = re.compile(r"\b(" + "|".join(re.escape(n) for n in _SERVICE_NAMES) + r")\b")


def _strip(text: str) -> str:
    """Text outside parentheses and backticks (where names are examples, not parties)."""
    text = re.sub(r"`[^`]*`", "", text)
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            return text
        text = stripped


def _names(text: str) -> set[str]:
    return {_SERVICE_NAMES[m] for m in _NAME.findall(_strip(text))}


def _overlap(a: str, b: str) -> bool:
    """Whether two NATS subject patterns can match one same subject."""
    left, right = a.split("."), b.split(".")
    for i, (x, y) in enumerate(zip(left, right, strict=False)):
        if x == ">" or y == ">":
            return True
        if x != y and "*" not in (x, y):
            return False
        if i == min(len(left), len(right)) - 1:
            return len(left) == len(right)
    return False


def _rows() -> list[tuple[str, str, str]]:
    text = ARCHITECTURE.read_text()
    table = text.split("## Subjects", 1)[1].split("\n\n", 2)[2]
    rows = []
    for line in table.split("\n\n", 1)[0].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        pattern = re.sub(r"<[^>]+>", "*", cells[0].strip("`")).replace("…", ">")
        rows.append((pattern, cells[2], cells[3]))
    return rows


def _allowed(service: str, direction: str) -> list[str]:
    return list(permissions.permissions(service)[direction]["allow"])


def test_the_table_agrees_with_the_architectures_subjects_table() -> None:
    rows = _rows()
    assert len(rows) > 20
    checked = 0
    for pattern, parties, _kind in rows:
        for hop in _strip(parties).split(";"):
            if "→" in hop:
                sender, receiver = hop.split("→", 1)
                senders, receivers = _names(sender), _names(receiver)
            else:  # "what every upstream-proxy replica serves", "router (...), edge (...)"
                senders, receivers = set(), _names(hop)
            for service in senders:
                assert any(_overlap(pattern, s) for s in _allowed(service, "publish")), (
                    f"{service} may not publish to {pattern} ({hop.strip()})"
                )
                checked += 1
            for service in receivers:
                assert any(_overlap(pattern, s) for s in _allowed(service, "subscribe")), (
                    f"{service} may not subscribe to {pattern} ({hop.strip()})"
                )
                checked += 1
    assert checked > 30


_NAMED_OPS = re.compile(r"\b(" + "|".join(re.escape(n) for n in _SERVICE_NAMES) + r") \(([^()]*)\)")


def test_the_operations_the_architecture_names_per_caller_are_allowed() -> None:
    """`router (`catalog.snapshot.get`, `gateways.get`) → registry`: the router may ask
    `forge.registry.catalog.snapshot.get` (the ops fill the subject's last placeholders)."""
    checked = 0
    for pattern, parties, kind in _rows():
        if not kind.startswith("request/reply"):
            continue
        for segment in parties.split(";"):
            callers = segment.split("→", 1)[0] if "→" in segment else ""
            for name, inside in _NAMED_OPS.findall(callers):
                tokens = pattern.split(".")
                wildcards = [i for i, t in enumerate(tokens) if t == "*"]
                for op in re.findall(r"`([a-z_.-]+)`", inside):
                    parts = op.split(".")
                    if len(parts) > len(wildcards):
                        continue
                    concrete = list(tokens)
                    for index, part in zip(wildcards[-len(parts) :], parts, strict=True):
                        concrete[index] = part
                    subject = ".".join(concrete)
                    service = _SERVICE_NAMES[name]
                    assert any(_overlap(subject, s) for s in _allowed(service, "publish")), (
                        f"{service} may not ask {subject} ({segment.strip()[:80]})"
                    )
                    checked += 1
    assert checked > 5


def test_every_service_has_rights_and_an_inbox_of_its_own() -> None:
    assert set(permissions.TABLE) == set(permissions.SERVICES)
    for service in permissions.SERVICES:
        shape = permissions.permissions(service)
        assert shape["allow_responses"] is True
        assert subjects.inbox(service) + ".>" in shape["subscribe"]["allow"]
        assert "_INBOX.>" not in shape["subscribe"]["allow"]
