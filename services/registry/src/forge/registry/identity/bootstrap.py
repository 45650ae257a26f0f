"""At every start: the built-in roles as the code defines them, and a platform admin when no
active user holds the role. Idempotent, and safe when replicas start together (advisory lock)."""

from __future__ import annotations

import logging
import time

from forge.proto.access import BUILTIN_ROLES
from forge.registry.config import RegistryConfig
from forge.registry.identity.params import check_email
from forge.registry.identity.passwords import Passwords
from forge.registry.identity.records import ADMIN_ROLE
from forge.registry.identity.store import BOOTSTRAP_LOCK, Store, Tx
from forge.registry.identity.tables import audit, roles, users

log = logging.getLogger("forge.registry.identity")
ACTOR = "system:bootstrap"
DESCRIPTIONS = {
    "platform_admin": "Every permission on every entity",
    "platform_viewer": "Reads every entity",
    "team_admin": "Manages a team's catalog entries and members",
    "developer": "Uses and registers servers and gateways",
    "viewer": "Reads and uses what is shared with them",
}


async def bootstrap(store: Store, config: RegistryConfig, passwords: Passwords) -> list[str]:
    """Returns the ids of users whose access changed, for the caller to announce."""
    async with store.read() as tx:
        needed = not await users.any_active_admin(tx)
    hashed = None
    if needed and config.platform_admin_password:
        # Hash outside the lock: Argon2 is slow on purpose, and replicas wait on the lock.
        hashed = await passwords.hash(config.platform_admin_password)
    builtin = {name: (DESCRIPTIONS.get(name), perms) for name, perms in BUILTIN_ROLES.items()}
    async with store.tx(lock=BOOTSTRAP_LOCK) as tx:
        changed = await roles.sync_builtin(tx, builtin)
        affected = set(await roles.bound_users(tx, changed))
        if changed:
            await audit.write(tx, ACTOR, "roles.sync_builtin", None, {"roles": changed})
        if not await users.any_active_admin(tx):
            affected.add(await _make_admin(tx, check_email(config.platform_admin_email), hashed))
    return sorted(affected)


async def _make_admin(tx: Tx, email: str, hashed: str | None) -> str:
    row = await users.row(tx, email, lock=True)
    if row is None:
        new = users.NewUser(email, "Platform admin", hashed)
        user_id = await users.insert(tx, new, [ADMIN_ROLE], ACTOR)
    else:  # the configured email exists without the role (or inactive): make it the admin
        user_id = row["id"]
        await roles.grant(tx, user_id, ADMIN_ROLE, None, ACTOR)
        if not row["active"]:
            await users.set_fields(tx, user_id, active=True)
            await users.end_sessions(tx, user_id, time.time())  # as any reactivation does
        if hashed is not None and row["password_hash"] is None:
            await users.set_fields(tx, user_id, password_hash=hashed)
    await audit.write(tx, ACTOR, "users.bootstrap_admin", email, {"password": hashed is not None})
    log.info("platform admin created", extra={"email": email, "password": hashed is not None})
    return user_id
