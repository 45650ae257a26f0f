"""Tokens are bound to the account, not only to its email: a session of a deleted account, a JWT
issued before the account (re)started, an API token of an earlier account are all refused, and
all with one message (which one would tell the account's history)."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from edge_harness import SECRET, IdentityRegistry, client, edge_on, router, rpc_body, stop, user
from joserfc import jwt
from joserfc.jwk import OctKey

from forge.core.bus import NatsBus
from forge.edge.auth.account_binding import STALE, issued_before
from forge.edge.auth.bearer import Authenticator
from forge.edge.auth.identity_cache import IdentityCache
from forge.edge.config import EdgeConfig
from forge.proto.identity import TokenEntry
from forge.testing.membus import MemoryBus

LIST = rpc_body("tools/list")
SINCE = float(int(time.time()) - 100) + 0.5  # the account (re)started 100 s ago, mid-second
OLD = user("alice@example.com", "developer", id="u-old", tokens_since=SINCE - 1000)
NEW = user("alice@example.com", "developer", id="u-new", tokens_since=SINCE)


def _jwt(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": NEW.email, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    body = {**base, "aud": "forge", "iss": "forge", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode({"alg": "HS256"}, body, OctKey.import_key(SECRET))


def test_a_whole_second_iat_counts_as_the_end_of_its_second() -> None:
    assert issued_before(99, 100.5) and not issued_before(100, 100.5)
    assert issued_before(100.4, 100.5) and not issued_before(100.6, 100.5)
    assert not issued_before(101, 100.5)


async def test_tokens_of_an_earlier_account_of_the_same_email_are_refused(bus: NatsBus) -> None:
    raw = "forge_" + "x" * 40
    token = TokenEntry(
        id="tok-old",
        token_hash=hashlib.sha256(raw.encode()).hexdigest(),
        user_email=NEW.email,
        name="old",
        user_id=OLD.id,
    )
    await IdentityRegistry(bus, [NEW], [token]).start()
    await router(bus)
    edge = await edge_on(bus)
    session_of_old, _ = edge.auth.mint_session(OLD)
    session_of_new, _ = edge.auth.mint_session(NEW)
    refused = {
        "a session of the deleted account": session_of_old,
        "a JWT issued before the account": _jwt(iat=int(SINCE) - 1),
        "a JWT issued in the second before it started": _jwt(iat=SINCE - 0.25),
        "a JWT without iat": _jwt(iat=None),
        "a JWT naming another account": _jwt(uid="u-someone-else"),
        "an API token of the deleted account": raw,
    }
    accepted = {
        "a session of the account": session_of_new,
        "a JWT issued after it started": _jwt(),
        "a whole-second JWT of the second it started": _jwt(iat=int(SINCE)),
        "a JWT naming this account": _jwt(uid=NEW.id),
    }
    try:
        async with client(edge) as http:
            for kind, bearer in {**refused, **accepted}.items():
                headers = {"Authorization": f"Bearer {bearer}"}
                response = await http.post("/mcp", json=LIST, headers=headers)
                want = 401 if kind in refused else 200
                assert response.status_code == want, (kind, response.text)
                if want == 401:
                    assert response.json()["error"]["code"] == -32004, kind
    finally:
        await stop(edge)


def test_a_session_names_its_account_and_its_issue_time_to_the_millisecond() -> None:
    auth = Authenticator(EdgeConfig(jwt_secret=SECRET), IdentityCache(MemoryBus()))
    token, _ = auth.mint_session(NEW)
    claims = jwt.decode(token, OctKey.import_key(SECRET)).claims
    assert claims["uid"] == NEW.id and claims["sub"] == NEW.email
    assert isinstance(claims["iat"], float | int) and claims["exp"] > claims["iat"]


async def test_every_stale_token_is_refused_with_one_message(bus: NatsBus) -> None:
    """Red-team F9: the 401 told deleted, re-created, deactivated and reactivated apart."""
    gone = user("gone@example.com", "developer", active=False)
    raw = "forge_" + "y" * 40
    token = TokenEntry(
        id="tok-old",
        token_hash=hashlib.sha256(raw.encode()).hexdigest(),
        user_email=NEW.email,
        name="old",
        user_id=OLD.id,
    )
    revoked = "forge_" + "z" * 40
    dead = TokenEntry(
        id="tok-dead",
        token_hash=hashlib.sha256(revoked.encode()).hexdigest(),
        user_email=NEW.email,
        name="dead",
        user_id=NEW.id,
        active=False,
    )
    await IdentityRegistry(bus, [NEW, gone], [token, dead]).start()
    await router(bus)
    edge = await edge_on(bus)
    stale = {
        "re-created: a session of the earlier account": edge.auth.mint_session(OLD)[0],
        "re-created: an API token of the earlier account": raw,
        "reactivated: a JWT issued before": _jwt(iat=int(SINCE) - 1),
        "another account's JWT": _jwt(uid="u-someone-else"),
        "deactivated: its user is inactive": _jwt(sub=gone.email),
        "deactivated: its API token was revoked": revoked,
        "deleted: its user is unknown": _jwt(sub="nobody@example.com"),
    }
    try:
        async with client(edge) as http:
            for kind, bearer in stale.items():
                headers = {"Authorization": f"Bearer {bearer}"}
                response = await http.get("/auth/email/me", headers=headers)
                assert response.status_code == 401, (kind, response.text)
                assert response.json() == {"detail": STALE, "code": -32004}, kind
    finally:
        await stop(edge)
