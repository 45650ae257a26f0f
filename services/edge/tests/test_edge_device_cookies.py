"""Device cookies: issued for an account, verified only for that account's email, unexpired and
untouched, under a key only the edges sharing the JWT secret hold."""

from __future__ import annotations

from forge.edge.auth.device_cookies import Device, DeviceCookies

SECRET = "s" * 40
NOW = 1_700_000_000.0


def test_a_cookie_verifies_for_the_email_it_was_issued_to() -> None:
    cookies = DeviceCookies(SECRET, 3600, secure=False)
    token = cookies.issue("u-1", "Alice@Example.com", now=NOW)
    device = cookies.verify(token, " alice@example.COM ", now=NOW + 10)
    assert isinstance(device, Device) and device.account == "u-1" and device.id
    # Each sign-in gets a cookie of its own.
    assert cookies.verify(cookies.issue("u-1", "alice@example.com"), "alice@example.com") != device


def test_a_cookie_for_another_email_an_expired_forged_or_foreign_one_is_no_cookie() -> None:
    cookies = DeviceCookies(SECRET, 3600, secure=False)
    token = cookies.issue("u-1", "alice@example.com", now=NOW)
    payload, _, mac = token.partition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    others = DeviceCookies("t" * 40, 3600, secure=False)
    assert cookies.verify(token, "bob@example.com", now=NOW) is None
    assert cookies.verify(token, "alice@example.com", now=NOW + 3600) is None
    assert cookies.verify(tampered, "alice@example.com", now=NOW) is None
    assert others.verify(token, "alice@example.com", now=NOW) is None
    for junk in (None, 5, "", ".", "a.b", "!!!.???", token + "x" * 2000, ["x"]):
        assert cookies.verify(junk, "alice@example.com", now=NOW) is None
    assert cookies.verify(token, None, now=NOW) is None


def test_each_account_has_its_own_cookie_name_that_does_not_show_the_email() -> None:
    name = DeviceCookies.cookie_name("Alice@Example.com")
    assert name == DeviceCookies.cookie_name("alice@example.com")
    assert name != DeviceCookies.cookie_name("bob@example.com")
    assert name.startswith("forge_device_") and "alice" not in name
