"""Identity attacks of issue 9 against the real mesh: a narrowed API token minting a wider one,
a deleted (or deactivated) account's tokens coming back, anyone locking the admin out (and the
lock telling which emails exist), and a hidden team told apart from an unknown one; and of the
red-team report after it: guesses at one account from many addresses (F5 a), strangers closing
an account to its owner (F5 b), a shared address closed by a few failures, and 401s telling an
account's history (F9)."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.testing import eventually_sync
from tests.e2e import security_kit as kit
from tests.e2e.security_kit import PASSWORD, World, login, make_user, ok, rest

# The security suite's world (team A, alice, bob, ...), shared with its other files.
fastecho = kit.fastecho
world = kit.world

WRONG = "Not-The-Password-1"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _fresh_address() -> str:
    """A loopback address no other test signs in from: throttling is per source address."""
    return f"127.{random.randint(60, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _from(mesh: Mesh, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=mesh.url, transport=transport, timeout=30)


def _until(check: Any, timeout_s: float = 10.0) -> Any:
    """The first truthy answer of `check()`, polled within a bounded time."""
    return eventually_sync(check, within_s=timeout_s)


def _status_becomes(mesh: Mesh, token: str, status: int) -> int:
    """GET /auth/email/me with `token` until it answers `status` (identity changes arrive by
    event) or the time is up; the last status."""
    last = 0

    def check() -> bool:
        nonlocal last
        last = httpx.get(mesh.url + "/auth/email/me", headers=_bearer(token)).status_code
        return last == status

    _until(check)
    return last


def _person(mesh: Mesh, admin_token: str, role: str = "developer") -> str:
    email = f"idn-{uuid.uuid4().hex[:8]}@example.com"
    make_user(mesh, admin_token, email, role)
    return email


# --- item 4: a narrowed token mints a token with all of its owner's permissions ---------------


def test_a_narrowed_token_cannot_mint_a_wider_token(mesh: Mesh, world: World) -> None:
    alice = world.alice
    personal = alice.teams[0]
    with rest(mesh, alice.token) as http:
        narrow = ok(
            http.post(
                "/tokens",
                json={
                    "name": f"narrow-{uuid.uuid4().hex[:6]}",
                    "permissions": ["tokens.create", "tokens.read"],
                    "teams": [personal],
                    "cidrs": ["127.0.0.0/8"],
                    "expires_in_days": 7,
                },
            )
        )
    raw = narrow["token"]
    assert _until(lambda: httpx.get(mesh.url + "/tokens", headers=_bearer(raw)).is_success)
    with rest(mesh, raw) as http:
        # What the attacker did: ask for nothing in particular and get everything the owner has.
        child = ok(http.post("/tokens", json={"name": "child"}), 201)["record"]
        assert set(child["permissions"]) == {"tokens.create", "tokens.read"}
        assert child["teams"] == [personal] and child["cidrs"] == ["127.0.0.0/8"]
        assert child["expires_at"] == narrow["record"]["expires_at"]
        for wider in (
            {"permissions": ["tools.execute"]},
            {"permissions": ["gateways.create", "tokens.create"]},
            {"teams": [world.team_a]},
            {"cidrs": ["0.0.0.0/0"]},
            {"expires_in_days": 365},
        ):
            response = http.post("/tokens", json={"name": "wider", **wider})
            assert response.status_code == 403, (wider, response.text)
            assert response.json()["code"] == -32005, wider


# --- item 6: a deleted user's tokens come back -------------------------------------------------


def test_a_deleted_users_session_does_not_work_for_a_new_account_of_that_email(
    mesh: Mesh, admin_token: str
) -> None:
    email = _person(mesh, admin_token)
    session = login(mesh, email).token
    # A token signed by another issuer for the same email (to the millisecond, as the session).
    external = mint(mesh.secret, email, extra={"iat": round(time.time(), 3)})
    assert _status_becomes(mesh, external, 200) == 200
    with rest(mesh, admin_token) as http:
        ok(http.delete(f"/auth/email/admin/users/{email}"))
    make_user(mesh, admin_token, email, "developer")
    for token in (session, external):
        assert _status_becomes(mesh, token, 401) == 401
        response = httpx.get(mesh.url + "/auth/email/me", headers=_bearer(token))
        assert response.status_code == 401 and response.json()["code"] == -32004
    assert _status_becomes(mesh, login(mesh, email).token, 200) == 200


def test_a_deactivated_accounts_tokens_stay_dead_after_reactivation(
    mesh: Mesh, admin_token: str
) -> None:
    email = _person(mesh, admin_token)
    session = login(mesh, email).token
    with rest(mesh, session) as http:
        api = ok(http.post("/tokens", json={"name": "ci"}))["token"]
    assert _status_becomes(mesh, api, 200) == 200
    with rest(mesh, admin_token) as http:
        ok(http.put(f"/auth/email/admin/users/{email}", json={"active": False}))
        for token in (session, api):
            assert _status_becomes(mesh, token, 401) == 401
        ok(http.put(f"/auth/email/admin/users/{email}", json={"active": True}))
    assert _status_becomes(mesh, login(mesh, email).token, 200) == 200
    for token in (session, api):  # what was revoked stays revoked
        assert httpx.get(mesh.url + "/auth/email/me", headers=_bearer(token)).status_code == 401


# --- item 7: anyone can lock the admin out, and the 429 tells which emails exist -------------


def _sign_in(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post("/auth/login", json={"email": email, "password": password})


def test_guesses_at_one_account_from_many_addresses_are_bounded(
    mesh: Mesh, admin_token: str
) -> None:
    """F5 (a): 60 addresses x 2 tries at one account were 60 real password checks."""
    victim = _person(mesh, admin_token)
    answers: list[int] = []
    for _ in range(60):
        with _from(mesh, _fresh_address()) as attacker:
            answers += [_sign_in(attacker, victim, f"{WRONG}-{k}").status_code for k in range(2)]
    assert set(answers) == {401, 429}
    # 5 free failures, then the account closes for 1, 2, 4, 8, 16 s: a 10th check needs 31 s.
    assert answers[:5] == [401] * 5 and answers.count(401) <= 9, answers


def test_strangers_failing_at_an_account_do_not_lock_out_its_owner(
    mesh: Mesh, admin_token: str
) -> None:
    """F5 (b): 8 addresses failing once each closed the account; the owner, whose address had
    made one unrelated typo, then got 429 with the right password."""
    owner = _person(mesh, admin_token)
    with _from(mesh, _fresh_address()) as browser:
        device_token = ok(_sign_in(browser, owner, PASSWORD))["device_token"]
        failed = 0
        for _ in range(8):
            with _from(mesh, _fresh_address()) as attacker:
                status = _sign_in(attacker, owner, WRONG).status_code
            assert status in (401, 429)
            failed += status == 401
        # 7 failures close the account for 4 s from the last: the checks below fit in that.
        _keep_guessing(mesh, owner, failures=7 - failed)
        typo = _sign_in(browser, f"typo-{uuid.uuid4().hex[:6]}@example.com", PASSWORD)
        assert typo.status_code == 401
        # The browser signed in before: its device cookie lets it past the account's lock.
        response = _sign_in(browser, owner, PASSWORD)
        assert response.status_code == 200, response.text
    with _from(mesh, _fresh_address()) as api_client:  # an API client sends the token back
        answer = api_client.post(
            "/auth/login",
            json={"email": owner, "password": PASSWORD, "device_token": device_token},
        )
        assert answer.status_code == 200, answer.text
    with _from(mesh, _fresh_address()) as stranger:  # no cookie: the account is closed
        refused = _sign_in(stranger, owner, PASSWORD)
        assert refused.status_code == 429 and refused.json()["code"] == -32012


def _keep_guessing(mesh: Mesh, email: str, failures: int) -> None:
    """Wrong passwords from fresh addresses until the account has counted `failures` more (a
    429 counts nothing), polling through its backoff within a bounded time."""
    counted = 0
    if failures <= 0:
        return

    def guess() -> bool:
        nonlocal counted
        with _from(mesh, _fresh_address()) as attacker:
            counted += _sign_in(attacker, email, WRONG).status_code == 401
        return counted >= failures

    eventually_sync(guess, within_s=30, every_s=0.05)


def test_a_few_failures_do_not_close_an_address_everyone_shares(
    mesh: Mesh, admin_token: str
) -> None:
    """F5: behind a NAT or an untrusted proxy one address is everyone's; 5 failures by anyone
    closed it for every account."""
    user = _person(mesh, admin_token)
    with _from(mesh, _fresh_address()) as nat:
        for i in range(6):
            other = f"typo-{i}-{uuid.uuid4().hex[:6]}@example.com"
            assert _sign_in(nat, other, WRONG).status_code == 401
        response = _sign_in(nat, user, PASSWORD)
    assert response.status_code == 200, response.text


def _until_throttled(http: httpx.Client, email: str) -> list[httpx.Response]:
    """Wrong passwords until the first 429 (bounded)."""
    answers: list[httpx.Response] = []
    for _ in range(20):
        answers.append(_sign_in(http, email, WRONG))
        if answers[-1].status_code == 429:
            break
    return answers


def test_known_and_unknown_emails_are_answered_alike(mesh: Mesh, admin_token: str) -> None:
    known = _person(mesh, admin_token)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    with _from(mesh, _fresh_address()) as one, _from(mesh, _fresh_address()) as two:
        seen = {
            email: _until_throttled(http, email) for email, http in ((known, one), (unknown, two))
        }
    a, b = seen[known], seen[unknown]
    assert [r.status_code for r in a] == [r.status_code for r in b]
    assert a[-1].status_code == 429  # throttled at all, and only after the free failures
    assert [r.status_code for r in a[:5]] == [401] * 5
    for x, y in zip(a[:-1], b[:-1], strict=True):
        assert x.json() == y.json()
    for x, y in zip(a, b, strict=True):  # no header (a device cookie, say) tells them apart
        assert set(x.headers) - {"date"} == set(y.headers) - {"date"}
    last_a, last_b = a[-1].json(), b[-1].json()
    assert last_a["code"] == last_b["code"] == -32012
    assert set(last_a) == set(last_b) and set(last_a["data"]) == set(last_b["data"])
    assert "retry-after" in a[-1].headers and "retry-after" in b[-1].headers


def test_every_stale_token_gets_the_same_401(mesh: Mesh, admin_token: str) -> None:
    """F9: an old token was told "issued to another account" (deleted and re-created), "unknown
    or inactive" (deleted, deactivated) or "issued before the account's sessions" (reactivated)."""
    answers: dict[str, httpx.Response] = {}

    def refused(kind: str, token: str) -> None:
        assert _status_becomes(mesh, token, 401) == 401, kind
        answers[kind] = httpx.get(mesh.url + "/auth/email/me", headers=_bearer(token))

    with rest(mesh, admin_token) as http:
        deleted = _person(mesh, admin_token)
        session = login(mesh, deleted).token
        ok(http.delete(f"/auth/email/admin/users/{deleted}"))
        refused("deleted", session)
        make_user(mesh, admin_token, deleted, "developer")
        assert _status_becomes(mesh, login(mesh, deleted).token, 200) == 200
        refused("re-created", session)
        deactivated = _person(mesh, admin_token)
        session = login(mesh, deactivated).token
        ok(http.put(f"/auth/email/admin/users/{deactivated}", json={"active": False}))
        refused("deactivated", session)
        ok(http.put(f"/auth/email/admin/users/{deactivated}", json={"active": True}))
        assert _status_becomes(mesh, login(mesh, deactivated).token, 200) == 200
        refused("reactivated-before", session)
    bodies = {kind: r.json() for kind, r in answers.items()}
    assert {r.status_code for r in answers.values()} == {401}
    assert len({r.json()["detail"] for r in answers.values()}) == 1, bodies
    assert len({r.headers["www-authenticate"] for r in answers.values()}) == 1, bodies


# --- item 10: GET /teams/{id} answers 403 for a hidden team and 404 for an unknown one --------


def test_a_hidden_team_answers_as_an_unknown_one(mesh: Mesh, world: World) -> None:
    hidden, unknown = world.team_a, uuid.uuid4().hex
    requests = [
        ("GET", "/teams/{}", None),
        ("PUT", "/teams/{}", {"name": "mine-now"}),
        ("DELETE", "/teams/{}", None),
        ("GET", "/teams/{}/members", None),
        ("PUT", f"/teams/{{}}/members/{world.bob.email}", {"role": "owner"}),
        ("DELETE", f"/teams/{{}}/members/{world.alice.email}", None),
        ("POST", "/teams/{}/invitations", {"email": world.bob.email, "role": "owner"}),
        ("GET", "/teams/{}/invitations", None),
    ]
    with rest(mesh, world.bob.token) as http:
        for method, path, body in requests:
            seen = http.request(method, path.format(hidden), json=body)
            missing = http.request(method, path.format(unknown), json=body)
            assert seen.status_code == missing.status_code == 404, (method, path, seen.text)
            assert seen.json()["code"] == missing.json()["code"]
            assert seen.json()["detail"] == missing.json()["detail"]
    assert httpx.get(mesh.url + f"/teams/{hidden}", headers=world.alice.headers).is_success
