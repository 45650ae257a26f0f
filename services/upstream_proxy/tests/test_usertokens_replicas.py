"""Per-user upstream tokens across replicas: a token stored on one is usable on the next at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from forge.core.bus import NatsBus
from forge.core.sealing import Keyring
from forge.proto.upstream import UserToken
from forge.upstream_proxy.auth.usertokens import UserTokens, key_of

KEYRING = Keyring.parse("", fallback_secret="usertokens-test-secret-" + "x" * 32)


@pytest.fixture
async def other_bus(nats_url: str) -> AsyncIterator[NatsBus]:
    """A second connection: another replica of the upstream-proxy."""
    connected = await NatsBus.connect(nats_url, "forge-test-replica-b")
    try:
        yield connected
    finally:
        await connected.close()


def _gateway() -> str:
    return "gw-" + uuid.uuid4().hex[:12]


async def test_a_token_stored_on_one_replica_is_read_at_once_on_another(
    bus: NatsBus, other_bus: NatsBus
) -> None:
    a, b = UserTokens(bus, lambda: KEYRING), UserTokens(other_bus, lambda: KEYRING)
    await a.start()
    await b.start()
    try:
        gateway = _gateway()
        await a.put(gateway, "ada@example.com", UserToken("at-1", "rt-1"))
        # No wait for b's watch: the very next call, on b, finds the token.
        found = await b.get(gateway, "ada@example.com")
        assert found == UserToken("at-1", "rt-1")
        assert await b.get(gateway, "bob@example.com") is None
    finally:
        await a.close()
        await b.close()


async def test_a_replica_whose_watch_lags_reads_the_bucket_on_a_miss(
    bus: NatsBus, other_bus: NatsBus
) -> None:
    a = UserTokens(bus, lambda: KEYRING)
    lagging = UserTokens(other_bus, lambda: KEYRING)  # its watch has delivered nothing yet
    await a.start()
    try:
        gateway = _gateway()
        await a.put(gateway, "ada@example.com", UserToken("at-2", "rt-2", scope="read"))
        assert key_of(gateway, "ada@example.com") not in lagging.sealed
        assert await lagging.get(gateway, "ada@example.com") == UserToken(
            "at-2", "rt-2", scope="read"
        )
        await a.forget(gateway, "ada@example.com")
        assert await lagging.get(gateway, "ada@example.com") is None
    finally:
        await a.close()


async def test_a_bucket_entry_under_another_key_does_not_open(
    bus: NatsBus, other_bus: NatsBus
) -> None:
    a = UserTokens(bus, lambda: KEYRING)
    lagging = UserTokens(other_bus, lambda: KEYRING)
    gateway = _gateway()
    await a.put(gateway, "ada@example.com", UserToken("at-3"))
    # Copied to Bob's key, Ada's sealed token must not open for Bob (sealed with her key).
    sealed = a.sealed[key_of(gateway, "ada@example.com")].encode()
    await bus.kv_put("forge-upstream-user-tokens", key_of(gateway, "bob@example.com"), sealed)
    assert await lagging.get(gateway, "bob@example.com") is None
    assert await lagging.get(gateway, "ada@example.com") == UserToken("at-3")
