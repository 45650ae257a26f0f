"""Identity registry harness: a migrated fresh database, the registry on real NATS with a cheap
password hasher and a clock the test moves, a caller that acts as any principal, and the events."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from argon2 import PasswordHasher, profiles

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError
from forge.proto.envelope import Envelope, Principal
from forge.registry.app import IdentityRegistry
from forge.registry.config import RegistryConfig
from forge.registry.identity.passwords import Passwords
from forge.registry.identity.store import Store
from forge.registry.migrate import migrate_identity

ADMIN_EMAIL = "admin@forge.test"
ADMIN_PASSWORD = "Admin-Password-1"
GOOD_PASSWORD = "Correct-Horse-9"
# What the edge sends for operations it runs on nobody's behalf (login, access, snapshot).
EDGE = Principal(subject="service:edge")
_ENC = msgspec.json.Encoder()


def cheap_passwords(min_length: int = 12) -> Passwords:
    """Argon2id with the cheapest parameters: the tests check behaviour, not hashing cost."""
    return Passwords(min_length, PasswordHasher.from_parameters(profiles.CHEAPEST))


@dataclass
class Clock:
    """The registry's clock: lockouts and expiries move when the test says so."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def principal_of(access: dict[str, Any], **extra: Any) -> Principal:
    """The Principal the edge builds from a UserAccess."""
    return Principal(
        subject=access["email"],
        email=access["email"],
        teams=tuple(access.get("teams", ())),
        roles=tuple(access.get("roles", ())),
        permissions=tuple(access.get("permissions", ())),
        team_roles={t: tuple(r) for t, r in access.get("team_roles", {}).items()},
        team_permissions={t: tuple(p) for t, p in access.get("team_permissions", {}).items()},
        is_admin=access.get("is_admin", False),
        auth_method="jwt",
        **extra,
    )


async def code_of(call: Any) -> int:
    with pytest.raises(ForgeError) as info:
        await call
    return info.value.code


async def error_of(call: Any) -> ForgeError:
    with pytest.raises(ForgeError) as info:
        await call
    return info.value


@dataclass
class Identity:
    """A running identity registry and what a test needs to talk to it."""

    bus: NatsBus  # the test's own connection (the edge's side)
    registry: IdentityRegistry
    store: Store
    dsn: str
    clock: Clock
    events: list[tuple[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, principal: Principal, entity: str, op: str, params: Any = None) -> Any:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"identity.{entity}.{op}",
            params=msgspec.Raw(_ENC.encode(params if params is not None else {})),
            principal=principal,
            deadline=time.time() + 10,
        )
        subject = subjects.registry(subjects.IDENTITY, entity, op)
        return msgspec.json.decode(await rpc.call(self.bus, subject, envelope))

    async def access(self, email: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(EDGE, "users", "access", {"email": email})
        return found

    async def as_user(self, email: str, **extra: Any) -> Principal:
        return principal_of(await self.access(email), **extra)

    async def admin(self) -> Principal:
        return await self.as_user(ADMIN_EMAIL)

    async def new_user(self, email: str, **fields: Any) -> Principal:
        """Created by the admin (password GOOD_PASSWORD unless given); returns its principal."""
        params = {"email": email, "password": GOOD_PASSWORD, **fields}
        await self.call(await self.admin(), "users", "create", params)
        return await self.as_user(email)

    async def on_event(self, subject: str, data: bytes) -> None:
        self.events.append(
            (subject.removeprefix("forge.events.identity."), msgspec.json.decode(data))
        )
        self._arrived.set()

    def seen(self, kind: str) -> list[Any]:
        """Bodies of the events of one kind (`users.changed`, ...) received so far."""
        return [body for name, body in self.events if name == kind]

    async def wait_for(self, kind: str, match: Callable[[Any], bool], nth: int = 1) -> Any:
        """The `nth` event of `kind` that matches, waiting (bounded) for it to arrive."""
        async with asyncio.timeout(5):
            while True:
                found = [body for body in self.seen(kind) if match(body)]
                if len(found) >= nth:
                    return found[nth - 1]
                self._arrived.clear()
                await self._arrived.wait()


async def settle(bus: NatsBus) -> None:
    """Return once the server holds every subscription this connection made so far.

    `flush()` is not enough: nats-py writes its PING ahead of SUBs still queued for the
    flusher. A request to ourselves travels behind those SUBs, so its answer proves them.
    """
    subject = f"forge.test.settle.{uuid.uuid4().hex}"

    async def echo(data: bytes, headers: dict[str, str]) -> bytes:
        return data

    sub = await bus.serve(subject, echo)
    await bus.request(subject, b"{}", deadline=time.time() + 5)
    await sub.unsubscribe()


@contextlib.asynccontextmanager
async def started(
    nats_url: str, dsn: str, bus: NatsBus, **settings: Any
) -> AsyncIterator[Identity]:
    """Migrate `dsn`, start an identity registry on its own NATS connection, yield; stop."""
    await migrate_identity(dsn)
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "identity_database_url": dsn,
        "platform_admin_email": ADMIN_EMAIL,
        "platform_admin_password": ADMIN_PASSWORD,
        "login_free_failures": 3,
        "login_backoff_base_s": 2.0,
        "login_backoff_max_s": 60.0,
        "login_failure_decay_s": 300.0,
        **settings,
    }
    config = RegistryConfig(**values)
    clock = Clock()
    store = await Store.connect(dsn, min_size=1, max_size=4)
    registry_bus = await NatsBus.connect(nats_url, "forge-registry-test")
    try:
        registry = IdentityRegistry(
            registry_bus, store, config, cheap_passwords(config.password_min_length), clock
        )
        identity = Identity(bus=bus, registry=registry, store=store, dsn=dsn, clock=clock)
        await bus.subscribe(subjects.IDENTITY_EVENTS, identity.on_event)
        await settle(bus)
        await registry.start()
        await settle(registry_bus)
        yield identity
    finally:
        await registry_bus.close()
        await store.close()
