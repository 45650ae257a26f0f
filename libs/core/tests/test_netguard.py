"""The SSRF guard's table: every IANA special-purpose range is refused unless allowed, the
IPv4 address a translating range carries is judged in its place, public addresses pass."""

from __future__ import annotations

import ipaddress

import pytest

from forge.core.errors import ForgeError, InvalidParamsError, UpstreamUnavailableError
from forge.core.netguard import (
    SPECIAL,
    AddressForbiddenError,
    NetGuard,
    noncanonical_ipv4,
    special,
)

# One address inside each range the guard must refuse (IPv4 and IPv6 special-purpose address
# registries, and multicast), with the range it must be found in.
REFUSED = [
    ("0.0.0.0/8", "0.1.2.3"),
    ("10.0.0.0/8", "10.20.30.40"),
    ("100.64.0.0/10", "100.127.255.254"),
    ("127.0.0.0/8", "127.0.0.1"),
    ("169.254.0.0/16", "169.254.169.254"),
    ("172.16.0.0/12", "172.31.0.1"),
    ("192.0.0.0/24", "192.0.0.9"),
    ("192.0.2.0/24", "192.0.2.1"),
    ("192.31.196.0/24", "192.31.196.1"),
    ("192.52.193.0/24", "192.52.193.1"),
    ("192.88.99.0/24", "192.88.99.1"),
    ("192.168.0.0/16", "192.168.1.1"),
    ("192.175.48.0/24", "192.175.48.1"),
    ("198.18.0.0/15", "198.19.255.1"),
    ("198.51.100.0/24", "198.51.100.7"),
    ("203.0.113.0/24", "203.0.113.9"),
    ("224.0.0.0/4", "239.255.255.250"),
    ("240.0.0.0/4", "250.1.2.3"),
    ("255.255.255.255/32", "255.255.255.255"),
    ("::/128", "::"),
    ("::1/128", "::1"),
    ("::ffff:0:0/96", "::ffff:127.0.0.1"),
    ("64:ff9b::/96", "64:ff9b::a9fe:a9fe"),  # 169.254.169.254 through NAT64
    ("64:ff9b:1::/48", "64:ff9b:1::808:808"),
    ("::/96", "::127.0.0.1"),  # IPv4-compatible: the red team's F6
    ("::/96", "::a9fe:a9fe"),  # 169.254.169.254
    ("::/96", "::8.8.8.8"),  # refused whole, whatever it embeds
    ("::ffff:0:0:0/96", "::ffff:0:7f00:1"),  # SIIT, 127.0.0.1
    ("::ffff:0:0:0/96", "::ffff:0:808:808"),
    ("::/8", "::1:0:0:1"),
    ("::/8", "ff::1"),
    ("100::/64", "100::1"),
    ("2001::/32", "2001::1"),
    ("2001::/32", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),  # Teredo example of RFC 4380
    ("2001::/23", "2001:1::1"),
    ("2001::/23", "2001:2::1"),
    ("2001:db8::/32", "2001:db8::1"),
    ("2002::/16", "2002:a00:1::1"),  # 6to4 of 10.0.0.1
    ("2620:4f:8000::/48", "2620:4f:8000::1"),
    ("3fff::/20", "3fff::1"),
    ("5f00::/16", "5f00::1"),
    ("fc00::/7", "fd12:3456::1"),
    ("fe80::/10", "fe80::1"),
    ("fec0::/10", "fec0::1"),
    ("ff00::/8", "ff02::1"),
]


@pytest.mark.parametrize(("network", "address"), REFUSED)
def test_every_special_purpose_range_is_refused(network: str, address: str) -> None:
    entry = special(ipaddress.ip_address(address))
    assert entry is not None and str(entry.network) == network
    guard = NetGuard()
    assert not guard.permits(address)
    with pytest.raises(AddressForbiddenError) as caught:
        guard.check_address(address)
    assert caught.value.to_object().code == -32005
    assert caught.value.data == {"address": address}


def test_the_table_is_exactly_the_ranges_tested() -> None:
    assert {str(e.network) for e in SPECIAL} == {network for network, _ in REFUSED}


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "192.0.3.1", "198.20.0.1", "2606:4700::1111", "2a00:1450::1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert NetGuard().permits(address)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::7f00:1", False),
        ("2002:808:808::1", True),
        ("2002:7f00:1::1", False),
        ("2002:c000:201::1", False),  # 192.0.2.1
    ],
)
def test_a_translating_range_is_judged_by_the_ipv4_address_it_carries(
    address: str, public: bool
) -> None:
    assert NetGuard().permits(address) is public


@pytest.mark.parametrize(
    "address",
    ["::127.0.0.1", "::a9fe:a9fe", "::ffff:0:7f00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
)
def test_a_form_refused_whole_stays_refused_where_the_ipv4_it_embeds_is_allowed(
    address: str,
) -> None:
    # The last is Teredo with the client 127.0.0.1, obfuscated (each bit inverted).
    assert not NetGuard("127.0.0.0/8,169.254.0.0/16").permits(address)


def test_an_operator_may_allow_the_rest_of_the_reserved_block() -> None:
    assert NetGuard("::/96").permits("::127.0.0.1")
    assert not NetGuard("::/96").permits("::1:0:0:1")


def test_an_allowed_network_passes_and_nothing_else_does() -> None:
    guard = NetGuard("127.0.0.0/8, ::1/128")
    assert guard.permits("127.0.0.1") and guard.permits("::1")
    assert guard.permits("::ffff:127.0.0.2")  # the kernel dials 127.0.0.2
    assert not guard.permits("169.254.169.254")
    assert not guard.permits("192.0.2.1")
    assert not guard.permits("10.0.0.1")


def test_a_zone_id_is_ignored_and_garbage_is_refused() -> None:
    assert not NetGuard().permits("fe80::1%eth0")
    assert not NetGuard().permits("not-an-address")


def test_a_bad_allow_list_names_the_bad_item() -> None:
    with pytest.raises(ValueError, match="nope"):
        NetGuard("10.0.0.0/8,nope")


async def test_a_name_is_refused_when_any_of_its_addresses_is() -> None:
    with pytest.raises(AddressForbiddenError) as caught:
        await NetGuard().check_url("http://localhost:9/mcp")
    assert isinstance(caught.value.data, dict)
    assert caught.value.data["address"] in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http://", "http://h:99999/"]
)
async def test_a_url_that_is_not_http_or_ws_is_invalid(url: str) -> None:
    with pytest.raises(InvalidParamsError) as caught:
        await NetGuard().check_url(url, field="config.url")
    assert isinstance(caught.value, ForgeError) and caught.value.data == {"field": "config.url"}


NON_CANONICAL = ["2130706433", "0177.0.0.1", "127.1", "0x7f.0.0.1", "0", "127.0.0.1.", "1.2.3.4.5"]


@pytest.mark.parametrize("host", NON_CANONICAL)
async def test_a_non_canonical_ipv4_host_is_invalid_at_registration(host: str) -> None:
    """Red-team F2: inet_aton read these as 127.0.0.1 and the guard allowed loopback, but
    aiohttp refuses them: the gateway was stored and every call failed (a 500 at first)."""
    with pytest.raises(InvalidParamsError) as caught:
        await NetGuard("0.0.0.0/0").check_url(f"http://{host}:9/mcp")
    assert caught.value.data == {"field": "url"}


@pytest.mark.parametrize("host", NON_CANONICAL)
async def test_a_non_canonical_ipv4_host_is_never_dialled(host: str) -> None:
    with pytest.raises(UpstreamUnavailableError):
        await NetGuard("0.0.0.0/0").addresses(host, 80)


@pytest.mark.parametrize("host", ["127.0.0.1", "example.com", "a0x1.test", "::1", "1e2"])
def test_dotted_quads_names_and_ipv6_are_canonical(host: str) -> None:
    assert not noncanonical_ipv4(host)
