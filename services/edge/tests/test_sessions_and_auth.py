"""Sealed legacy sessions and bearer-token checks, in process."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from forge.cli.tokens import mint
from forge.core.errors import SessionNotFoundError, UnauthorizedError
from forge.core.sealing import derive_key
from forge.edge.auth.bearer import Authenticator
from forge.edge.auth.identity_cache import IdentityCache
from forge.edge.config import EdgeConfig
from forge.edge.transports.sessions import Sessions, SessionState, endpoint
from forge.proto.identity import IdentitySnapshot, UserAccess
from forge.testing.membus import MemoryBus

SECRET = "s" * 40
RAW = msgspec.Raw(b"{}")


def sessions() -> Sessions:
    return Sessions(derive_key(SECRET, b"test"), ttl_s=60)


def test_a_sealed_session_opens_on_any_replica_with_the_same_secret() -> None:
    token, state = sessions().new(
        "alice", "2025-11-25", msgspec.Raw(b"{}"), msgspec.Raw(b"{}"), "mcp"
    )
    opened = sessions().open(token, "alice", "mcp")
    assert opened.sid == state.sid and opened.version == "2025-11-25"


def test_a_session_is_refused_to_another_user_or_when_tampered() -> None:
    store = sessions()
    token, _ = store.new("alice", "2025-11-25", msgspec.Raw(b"{}"), msgspec.Raw(b"{}"), "mcp")
    with pytest.raises(SessionNotFoundError):
        store.open(token, "mallory", "mcp")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(SessionNotFoundError):
        sessions().open(tampered, "alice", "mcp")
    with pytest.raises(SessionNotFoundError):
        Sessions(derive_key("x" * 40, b"test"), 60).open(token, "alice", "mcp")


@pytest.mark.parametrize(
    ("opened_on", "used_on"),
    [
        (("mcp", None), ("mcp", "s-1")),
        (("mcp", "s-1"), ("mcp", None)),
        (("mcp", "s-1"), ("mcp", "s-2")),
        (("sse", None), ("mcp", None)),
        (("sse", "s-1"), ("sse", "s-2")),
    ],
)
def test_a_session_opens_only_on_the_endpoint_it_was_opened_on(
    opened_on: tuple[str, str | None], used_on: tuple[str, str | None]
) -> None:
    store = sessions()
    token, _ = store.new("alice", "2025-11-25", RAW, RAW, endpoint(*opened_on))
    assert store.open(token, "alice", endpoint(*opened_on)).subject == "alice"
    with pytest.raises(SessionNotFoundError):
        store.open(token, "alice", endpoint(*used_on))


def test_a_session_sealed_without_an_endpoint_opens_nowhere() -> None:
    store = sessions()
    legacy = SessionState("sid", "alice", "2025-11-25", time.time())  # as sealed before binding
    token = store.seal(legacy)
    with pytest.raises(SessionNotFoundError):
        store.open(token, "alice", "mcp")


async def test_a_revoked_session_is_refused_by_every_watcher() -> None:
    bus = MemoryBus()
    first, second = sessions(), sessions()
    await second.watch(bus)
    token, state = first.new("alice", "2025-11-25", msgspec.Raw(b"{}"), msgspec.Raw(b"{}"), "mcp")
    assert second.open(token, "alice", "mcp").sid == state.sid
    await first.revoke(bus, state)
    with pytest.raises(SessionNotFoundError):
        second.open(token, "alice", "mcp")


async def test_tokens_verify_and_bad_ones_are_refused() -> None:
    identity = IdentityCache(MemoryBus())
    identity.apply_snapshot(IdentitySnapshot(users=[UserAccess(email="alice", id="u-1")]))
    identity.loaded.set()
    auth = Authenticator(EdgeConfig(jwt_secret=SECRET), identity)
    where: dict[str, Any] = {
        "client_ip": "127.0.0.1",
        "resource": "http://127.0.0.1:4444/mcp",
        "server_id": None,
    }
    principal = await auth.authenticate("Bearer " + mint(SECRET, "alice", admin=True), **where)
    assert principal.subject == "alice" and not principal.is_admin  # claims grant nothing
    for header in (
        None,
        "Bearer",
        "Token abc",
        "Bearer " + mint("y" * 40, "alice"),
        "Bearer " + mint(SECRET, "alice", ttl_s=-100),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.",
    ):
        with pytest.raises(UnauthorizedError):
            await auth.authenticate(header, **where)
