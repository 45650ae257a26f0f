"""The credentials the upstream-proxy and the a2a-bridge both open (forge.core.upstream_auth)."""

from __future__ import annotations

import os

import msgspec
import pytest

from forge.core.errors import UpstreamUnavailableError
from forge.core.sealing import Keyring
from forge.core.upstream_auth import open_sealed, static_part
from forge.proto.catalog import UpstreamAuth

KEYRING = Keyring([("k1", os.urandom(32))])


def sealed(auth: UpstreamAuth, owner: str) -> str:
    return KEYRING.seal(msgspec.json.encode(auth), owner.encode())


def test_sealed_credentials_open_only_for_their_owner() -> None:
    auth = UpstreamAuth(type="bearer", token="t0k")
    assert open_sealed(sealed(auth, "g1"), "bearer", "g1", "gateway 'a'", lambda: KEYRING) == auth
    with pytest.raises(UpstreamUnavailableError, match="credentials of gateway 'a' do not open"):
        open_sealed(sealed(auth, "g2"), "bearer", "g1", "gateway 'a'", lambda: KEYRING)
    with pytest.raises(UpstreamUnavailableError, match="holds no credentials"):
        open_sealed(None, "bearer", "g1", "agent 'b'", lambda: KEYRING)
    assert open_sealed(None, "none", "g1", "agent 'b'", lambda: KEYRING) == UpstreamAuth()


def test_the_static_part_of_each_type() -> None:
    basic = static_part(UpstreamAuth(type="basic", username="u", password="p"), "http://h/x", "a")
    assert basic.headers == {"Authorization": "Basic dTpw"}
    bearer = static_part(UpstreamAuth(type="bearer", token="t"), "http://h/x", "a")
    assert bearer.headers == {"Authorization": "Bearer t"}
    query = static_part(
        UpstreamAuth(type="query_param", query_param="key", query_value="v w"),
        "http://h/x?a=1",
        "q",
    )
    assert query.url == "http://h/x?a=1&key=v+w" and query.query == ("key", "v w")
    with pytest.raises(UpstreamUnavailableError, match="bearer auth but no token"):
        static_part(UpstreamAuth(type="bearer"), "http://h/x", "agent 'b'")
    with pytest.raises(UpstreamUnavailableError, match="malformed credential header"):
        static_part(UpstreamAuth(type="headers", headers={"X-Key": "a\r\nb"}), "http://h", "a")
