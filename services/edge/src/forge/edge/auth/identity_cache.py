"""The edge's copy of the identity registry: users, API tokens and revoked JWT ids, in memory.

Loaded from `forge.registry.identity.snapshot.get` at start (retried until the registry
answers), kept fresh by `forge.events.identity.>`, resynchronised now and then in case an event
was lost. A user the cache does not know is asked of the registry once (`users.access`); warm
requests never leave the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec

from forge.core import subjects
from forge.core.bus import Bus, Subscription
from forge.core.errors import ForgeError, NotFoundError, ServiceUnavailableError
from forge.core.snapshot import RETRY_MAX_S
from forge.edge.registry_calls import registry_call
from forge.proto.catalog import Deleted
from forge.proto.envelope import Principal
from forge.proto.identity import IdentitySnapshot, Revocation, TokenEntry, UserAccess, UserDeleted
from forge.proto.identity_params import EmailParams

log = logging.getLogger("forge.edge.identity")

_SNAPSHOT = msgspec.json.Decoder(IdentitySnapshot)
_USER = msgspec.json.Decoder(UserAccess)
_TOKEN = msgspec.json.Decoder(TokenEntry)
_REVOCATION = msgspec.json.Decoder(Revocation)


_USER_DELETED = msgspec.json.Decoder(UserDeleted)
_DELETED = msgspec.json.Decoder(Deleted)
_EDGE = Principal(subject="forge-edge", is_admin=True, auth_method="service")
# How long "no such user" is believed before the registry is asked again.
UNKNOWN_TTL_S = 5.0
_UNKNOWN_MAX = 10_000


class IdentityCache:
    """Users by email, API tokens by hash, revoked JWT ids; `listeners` hear every change."""

    def __init__(self, bus: Bus, *, timeout_s: float = 5.0, resync_s: float = 300.0) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self.resync_s = resync_s
        self.users: dict[str, UserAccess] = {}
        self.tokens: dict[str, TokenEntry] = {}  # by token_hash
        self._hash_of: dict[str, str] = {}  # token id -> token_hash
        self.revoked: dict[str, float | None] = {}  # jti -> when it would have expired
        self.loaded = asyncio.Event()
        self.listeners: list[Callable[[], None]] = []
        self._pending: list[tuple[str, bytes]] | None = None  # events seen while (re)loading
        self._filling: dict[str, asyncio.Future[UserAccess | None]] = {}
        self._overtaken: set[str] = set()  # emails an event changed while their fill ran
        self._unknown: dict[str, float] = {}  # email -> until when it is believed unknown
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to changes, then load the snapshot in the background (see `loaded`)."""
        self._pending = []
        self._sub = await self.bus.subscribe(subjects.IDENTITY_EVENTS, self._on_event)
        self._task = asyncio.create_task(self._keep_loaded())

    def sizes(self) -> dict[str, int]:
        """Entries held, by kind (the ops port's `forge_cache_entries`)."""
        return {"users": len(self.users), "tokens": len(self.tokens), "revoked": len(self.revoked)}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def wait_loaded(self) -> None:
        """Return once the snapshot is in; 503 if the registry has not answered in time."""
        if self.loaded.is_set():
            return
        try:
            await asyncio.wait_for(self.loaded.wait(), self.timeout_s)
        except TimeoutError as exc:
            raise ServiceUnavailableError(
                "the identity registry has not answered yet; try again shortly"
            ) from exc

    # --- loading -----------------------------------------------------------------------------

    async def _keep_loaded(self) -> None:
        await self._load()
        while self.resync_s > 0:
            await asyncio.sleep(self.resync_s)
            self._pending = []
            await self._load()

    async def _load(self) -> None:
        delay = 0.1
        while True:
            try:
                data = await self._ask("snapshot", "get", {})
                self.apply_snapshot(_SNAPSHOT.decode(data))
                break
            except ForgeError as exc:
                log.info("identity registry not answering yet (%s); retrying", exc.message)
            except (msgspec.DecodeError, msgspec.ValidationError):
                log.warning("the identity registry sent a malformed snapshot; retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)  # as for the catalog's snapshot
        pending, self._pending = self._pending or [], None
        for subject, data in pending:
            self.apply(subject, data)
        if not self.loaded.is_set():
            log.info(
                "identity loaded",
                extra={"users": len(self.users), "tokens": len(self.tokens)},
            )
            self.loaded.set()

    def apply_snapshot(self, snapshot: IdentitySnapshot) -> None:
        self.users = {user.email: user for user in snapshot.users}
        self.tokens = {token.token_hash: token for token in snapshot.tokens}
        self._hash_of = {token.id: token.token_hash for token in snapshot.tokens}
        now = time.time()
        self.revoked = {
            r.jti: r.expires_at
            for r in snapshot.revocations
            if r.expires_at is None or r.expires_at > now
        }
        self._unknown.clear()
        self._overtaken.update(self._filling)
        self._changed()

    async def _ask(self, entity: str, op: str, params: object) -> bytes:
        return await registry_call(
            self.bus, subjects.IDENTITY, entity, op, params, _EDGE, self.timeout_s
        )

    # --- events ------------------------------------------------------------------------------

    async def _on_event(self, subject: str, data: bytes) -> None:
        # Applied at once even while a snapshot is on its way (a revocation must not wait for a
        # slow registry), and replayed after it, which may be older than the event.
        if self._pending is not None:
            self._pending.append((subject, data))
        self.apply(subject, data)

    def apply(self, subject: str, data: bytes) -> None:
        """One `forge.events.identity.<entity>.<changed|deleted>` event."""
        parts = subject.split(".")
        if len(parts) != 5:
            return
        entity, kind = parts[3], parts[4]
        try:
            if entity == "users":
                self._apply_user(kind, data)
            elif entity == "tokens":
                self._apply_token(kind, data)
            elif entity == "revocations" and kind == "changed":
                revocation = _REVOCATION.decode(data)
                self.revoked[revocation.jti] = revocation.expires_at
            else:
                return
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignored a malformed identity event on %s", subject)
            return
        self._changed()

    def _apply_user(self, kind: str, data: bytes) -> None:
        if kind == "changed":
            user = _USER.decode(data)
            self.users[user.email] = user
            self._unknown.pop(user.email, None)
            email = user.email
        elif kind == "deleted":
            email = _USER_DELETED.decode(data).email
            self.users.pop(email, None)
        else:
            return
        if email in self._filling:
            self._overtaken.add(email)

    def _apply_token(self, kind: str, data: bytes) -> None:
        if kind == "changed":
            token = _TOKEN.decode(data)
            old = self._hash_of.get(token.id)
            if old is not None and old != token.token_hash:
                self.tokens.pop(old, None)
            self.tokens[token.token_hash] = token
            self._hash_of[token.id] = token.token_hash
        elif kind == "deleted":
            old = self._hash_of.pop(_DELETED.decode(data).id, None)
            if old is not None:
                self.tokens.pop(old, None)

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    # --- lookups -----------------------------------------------------------------------------

    def is_revoked(self, jti: str) -> bool:
        return jti in self.revoked

    async def user(self, email: str) -> UserAccess | None:
        """The user, from memory; one registry request (shared by concurrent askers) on a miss."""
        user = self.users.get(email)
        if user is not None:
            return user
        until = self._unknown.get(email)
        if until is not None and until > time.time():
            return None
        filling = self._filling.get(email)
        if filling is None:
            filling = asyncio.ensure_future(self._fill(email))
            self._filling[email] = filling
            filling.add_done_callback(lambda _: self._filled(email))
        return await asyncio.shield(filling)

    def _filled(self, email: str) -> None:
        self._filling.pop(email, None)
        self._overtaken.discard(email)

    async def _fill(self, email: str) -> UserAccess | None:
        try:
            answer = await self._ask("users", "access", EmailParams(email=email))
            user: UserAccess | None = _USER.decode(answer)
        except NotFoundError:
            user = None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ServiceUnavailableError("the identity registry sent a malformed user") from exc
        if email in self._overtaken:
            return self.users.get(email)  # an event overtook the answer: it is the fresher one
        if user is None:
            if len(self._unknown) >= _UNKNOWN_MAX:
                self._unknown.clear()
            self._unknown[email] = time.time() + UNKNOWN_TTL_S
        else:
            self.users[email] = user
        return user
