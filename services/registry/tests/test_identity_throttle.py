"""Sign-in throttling: per account (whichever addresses guess), per source (a larger budget) and
per device cookie (clients that signed in before are not locked out by strangers), a backoff that
grows and decays, and the same answers for known and unknown emails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from identity_harness import ADMIN_EMAIL, ADMIN_PASSWORD, EDGE, GOOD_PASSWORD, Identity, started

from forge.core.bus import NatsBus
from forge.core.errors import FORBIDDEN, TOO_MANY_REQUESTS, UNAUTHORIZED, ForgeError

ALICE = "alice@example.com"
WRONG = "Wrong-Password-1"
SOURCE_FREE = 8
# The harness: 3 free failures per account or device cookie, SOURCE_FREE per address, then 2 s,
# 4 s, 8 s ... up to 60 s; counts halve every 300 s.


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    settings = {"login_source_free_failures": SOURCE_FREE}
    async with started(nats_url, fresh_database, bus, **settings) as running:
        yield running


async def attempt(
    idn: Identity, email: str, password: str, source: str, **device: Any
) -> tuple[Any, ...]:
    """(code, message, data) of a refusal, or ("ok", email) of a login. `device`: the
    `device`/`device_account` the edge sets for a device cookie it verified."""
    params = {"email": email, "password": password, "client_ip": source, **device}
    try:
        found = await idn.call(EDGE, "users", "login", params)
    except ForgeError as exc:
        return (exc.code, exc.message, exc.data)
    return ("ok", found["email"])


def code(answer: tuple[Any, ...]) -> Any:
    return answer[0]


async def test_an_account_that_keeps_failing_waits_longer_each_time(idn: Identity) -> None:
    await idn.new_user(ALICE)
    for _ in range(3):
        assert code(await attempt(idn, ALICE, WRONG, "198.51.100.7")) == UNAUTHORIZED
    closed = await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.7")
    assert closed[0] == TOO_MANY_REQUESTS and closed[2] == {"retry_after_s": 2}
    # The account, not the address: another account from the same address is still heard.
    assert await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "198.51.100.7") == ("ok", ADMIN_EMAIL)
    idn.clock.advance(2.1)
    assert code(await attempt(idn, ALICE, WRONG, "198.51.100.8")) == UNAUTHORIZED
    longer = await attempt(idn, ALICE, WRONG, "198.51.100.9")
    assert longer[0] == TOO_MANY_REQUESTS and longer[2] == {"retry_after_s": 4}
    idn.clock.advance(4.1)
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.7") == ("ok", ALICE)


async def test_guesses_at_one_account_are_bounded_however_many_addresses_guess(
    idn: Identity,
) -> None:
    """Red-team F5 (a): 60 addresses x 2 tries at one account were 60 password checks."""
    await idn.new_user(ALICE)
    answers = [
        code(await attempt(idn, ALICE, f"{WRONG}-{i}-{k}", f"203.0.113.{i}"))
        for i in range(60)
        for k in range(2)
    ]
    assert answers.count(UNAUTHORIZED) == 3  # the free failures, then closed for everyone
    assert answers[3:] == [TOO_MANY_REQUESTS] * 117


async def test_a_stranger_cannot_lock_out_a_client_that_signed_in_before(idn: Identity) -> None:
    """Red-team F5 (b): 8 addresses failing once each closed the account to its owner."""
    alice = await idn.access((await idn.new_user(ALICE)).subject)
    cookie = {"device": "d-alice-laptop", "device_account": alice["id"]}
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.1") == ("ok", ALICE)
    for i in range(8):
        assert code(await attempt(idn, ALICE, WRONG, f"203.0.113.{i}")) in (
            UNAUTHORIZED,
            TOO_MANY_REQUESTS,
        )
    # Alice's address made one unrelated typo; her cookie lets her in all the same.
    assert code(await attempt(idn, "alicia@example.com", WRONG, "192.0.2.1")) == UNAUTHORIZED
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.1", **cookie) == ("ok", ALICE)
    # Without a cookie (or with one naming another account) the account stays closed.
    assert code(await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.1")) == TOO_MANY_REQUESTS
    other = {"device": "d-alice-laptop", "device_account": "another-account"}
    assert code(await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.1", **other)) == (
        TOO_MANY_REQUESTS
    )


async def test_a_device_cookie_is_throttled_on_its_own(idn: Identity) -> None:
    alice = await idn.access((await idn.new_user(ALICE)).subject)
    stolen = {"device": "d-stolen", "device_account": alice["id"]}
    mine = {"device": "d-mine", "device_account": alice["id"]}
    for _ in range(3):
        assert code(await attempt(idn, ALICE, WRONG, "203.0.113.1", **stolen)) == UNAUTHORIZED
    assert code(await attempt(idn, ALICE, GOOD_PASSWORD, "203.0.113.1", **stolen)) == (
        TOO_MANY_REQUESTS
    )
    # The cookie's failures close neither the account nor another cookie.
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.1", **mine) == ("ok", ALICE)
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "192.0.2.2") == ("ok", ALICE)


async def test_an_address_shared_by_many_is_closed_only_by_many_failures(idn: Identity) -> None:
    """A NAT: a few failures by anyone behind it do not close it for everyone."""
    await idn.new_user(ALICE)
    for i in range(5):
        assert code(await attempt(idn, f"typo{i}@example.com", WRONG, "198.51.100.1")) == (
            UNAUTHORIZED
        )
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.1") == ("ok", ALICE)
    for i in range(5, SOURCE_FREE):
        await attempt(idn, f"typo{i}@example.com", WRONG, "198.51.100.1")
    # One address spraying many accounts is closed for all of them, before any password.
    assert code(await attempt(idn, ADMIN_EMAIL, ADMIN_PASSWORD, "198.51.100.1")) == (
        TOO_MANY_REQUESTS
    )


async def test_known_and_unknown_emails_get_exactly_the_same_answers(idn: Identity) -> None:
    await idn.new_user(ALICE)
    known = [await attempt(idn, ALICE, WRONG, "198.51.100.1") for _ in range(6)]
    unknown = [await attempt(idn, "nobody@example.com", WRONG, "198.51.100.2") for _ in range(6)]
    malformed = [await attempt(idn, "not an email", WRONG, "198.51.100.3") for _ in range(6)]
    assert known == unknown == malformed
    assert [code(a) for a in known] == [UNAUTHORIZED] * 3 + [TOO_MANY_REQUESTS] * 3
    # Seen from another address, a closed known account and a closed unknown one alike; a
    # device id the edge could only have for a known account changes nothing for the others.
    assert await attempt(idn, ALICE, WRONG, "192.0.2.10") == known[-1]
    assert await attempt(idn, "nobody@example.com", WRONG, "192.0.2.11") == known[-1]
    bogus = {"device": "d-x", "device_account": "no-such-account"}
    assert await attempt(idn, "nobody@example.com", WRONG, "192.0.2.12", **bogus) == known[-1]


async def test_counts_decay_and_a_success_ends_the_accounts_run(idn: Identity) -> None:
    await idn.new_user(ALICE)
    for _ in range(3):
        await attempt(idn, ALICE, WRONG, "198.51.100.4")
    idn.clock.advance(601)  # two halvings: 3 -> 0
    for _ in range(2):
        assert code(await attempt(idn, ALICE, WRONG, "198.51.100.4")) == UNAUTHORIZED
    assert await attempt(idn, ALICE, GOOD_PASSWORD, "198.51.100.5") == ("ok", ALICE)
    # The account's run ended with the success: three more free failures.
    for _ in range(3):
        assert code(await attempt(idn, ALICE, WRONG, "198.51.100.6")) == UNAUTHORIZED
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
