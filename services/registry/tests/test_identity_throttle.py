"""Sign-in throttling: per source and per account, a backoff that grows and decays, the real
owner heard from a clean address, and the same answers for known and unknown emails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from identity_harness import ADMIN_EMAIL, ADMIN_PASSWORD, EDGE, GOOD_PASSWORD, Identity, started

from forge.core.bus import NatsBus
from forge.core.errors import FORBIDDEN, TOO_MANY_REQUESTS, UNAUTHORIZED, ForgeError

ALICE = "alice@example.com"
WRONG = "Wrong-Password-1"
# The harness: 3 free failures, then 2 s, 4 s, 8 s ... up to 60 s; counts halve every 300 s.


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def attempt(idn: Identity, email: str, password: str, source: str) -> tuple[Any, ...]:
    """(code, message, data) of a refusal, or ("ok", email) of a login."""
    params = {"email": email, "password": password, "client_ip": source}
    try:
        found = await idn.call(EDGE, "users", "login", params)
    except ForgeError as exc:
        return (exc.code, exc.message, exc.data)
    return ("ok", found["email"])


def code(answer: tuple[Any, ...]) -> Any:
    return answer[0]


async def test_a_source_that_keeps_failing_waits_longer_each_time(idn: Identity) -> None:
    await idn.new_user(ALICE)
    for _ in range(3):
        assert code(await attempt(idn, ALICE, WRONG, "198.51.100.7")) == UNAUTHORIZED
    closed = await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.7")
    assert closed[0] == TOO_MANY_REQUESTS and closed[2] == {"retry_after_s": 2}
    # The same address is closed for every account, before any password is looked at.
    assert code(await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "198.51.100.7")) == (
        TOO_MANY_REQUESTS
    )
    idn.clock.advance(2.1)
    assert code(await attempt(idn, ALICE, WRONG, "198.51.100.7")) == UNAUTHORIZED
    longer = await attempt(idn, ALICE, WRONG, "198.51.100.7")
    assert longer[0] == TOO_MANY_REQUESTS and longer[2] == {"retry_after_s": 4}
    idn.clock.advance(4.1)
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.7") == ("ok", ALICE)


async def test_failures_from_elsewhere_never_lock_the_owner_out(idn: Identity) -> None:
    """The issue's attack: wrong passwords for the admin from anywhere, then the admin."""
    for i in range(20):  # many addresses, each failing once: the account closes
        assert code(await attempt(idn, ADMIN_EMAIL, WRONG, f"203.0.113.{i}")) == UNAUTHORIZED
    # Those addresses failed: while the account is closed they are not heard at all.
    assert code(await attempt(idn, ADMIN_EMAIL, WRONG, "203.0.113.0")) == TOO_MANY_REQUESTS
    assert await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.1") == ("ok", ADMIN_EMAIL)
    # A clean address is heard once; having failed, it waits while the account is closed.
    for i in range(3):
        assert code(await attempt(idn, ADMIN_EMAIL, WRONG, f"203.0.113.{100 + i}")) == (
            UNAUTHORIZED
        )
    assert code(await attempt(idn, ADMIN_EMAIL, WRONG, "192.0.2.99")) == UNAUTHORIZED
    again = await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.99")
    assert again[0] == TOO_MANY_REQUESTS
    assert await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.2") == ("ok", ADMIN_EMAIL)


async def test_known_and_unknown_emails_get_exactly_the_same_answers(idn: Identity) -> None:
    await idn.new_user(ALICE)
    known = [await attempt(idn, ALICE, WRONG, "198.51.100.1") for _ in range(6)]
    unknown = [await attempt(idn, "nobody@example.com", WRONG, "198.51.100.2") for _ in range(6)]
    malformed = [await attempt(idn, "not an email", WRONG, "198.51.100.3") for _ in range(6)]
    assert known == unknown == malformed
    assert [code(a) for a in known] == [UNAUTHORIZED] * 3 + [TOO_MANY_REQUESTS] * 3
    # Seen from a clean address, a closed known account and a closed unknown one alike.
    assert await attempt(idn, ALICE, WRONG, "192.0.2.10") == known[0]
    assert await attempt(idn, "nobody@example.com", WRONG, "192.0.2.11") == known[0]


async def test_counts_decay_and_a_success_ends_the_accounts_run(idn: Identity) -> None:
    await idn.new_user(ALICE)
    for _ in range(3):
        await attempt(idn, ALICE, WRONG, "198.51.100.4")
    idn.clock.advance(601)  # two halvings: 3 -> 0
    for _ in range(2):
        assert code(await attempt(idn, ALICE, WRONG, "198.51.100.4")) == UNAUTHORIZED
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.5") == ("ok", ALICE)
    # The account's run ended with the success; the failing source's has not.
    assert code(await attempt(idn, ALICE, WRONG, "198.51.100.6")) == UNAUTHORIZED
    assert code(await attempt(idn, ALICE, WRONG, "198.51.100.4")) == UNAUTHORIZED
    assert code(await attempt(idn, ALICE, WRONG, "198.51.100.4")) == TOO_MANY_REQUESTS


async def test_password_changes_are_throttled_for_their_user_only(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    wrong = {"old_password": WRONG, "new_password": "Another-Secret-7"}
    for _ in range(3):
        with pytest.raises(ForgeError) as info:
            await idn.call(alice, "users", "change_password", wrong)
        assert info.value.code == FORBIDDEN
    with pytest.raises(ForgeError) as info:
        await idn.call(alice, "users", "change_password", wrong)
    assert info.value.code == TOO_MANY_REQUESTS
    # Signing in is not affected by those failures.
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.8") == ("ok", ALICE)
