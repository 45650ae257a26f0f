"""What one identity request's handler may use, and the ownership checks every handler shares.

The edge has already checked the coarse permission (e.g. `teams.manage_members`); these checks
are about whose entity it is: a team's owners, a token's owner, platform admins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forge.core.bus import Bus
from forge.core.errors import ForbiddenError
from forge.proto import access
from forge.proto.envelope import Principal
from forge.registry.config import RegistryConfig
from forge.registry.identity.passwords import Passwords
from forge.registry.identity.store import Store


@dataclass(frozen=True)
class Context:
    """The caller, its deadline, the store, the bus, the password policy and the clock."""

    bus: Bus
    store: Store
    config: RegistryConfig
    passwords: Passwords
    principal: Principal
    deadline: float
    clock: Callable[[], float] = field(default=time.time)

    @property
    def actor(self) -> str:
        """Who the audit log names: the principal's subject (an email for people)."""
        return self.principal.subject.lower()

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    def now(self) -> float:
        return self.clock()


def require_admin(ctx: Context, what: str) -> None:
    if not ctx.is_admin:
        raise ForbiddenError(f"only platform admins may {what}")


def require_permission(ctx: Context, permission: str, what: str) -> None:
    """Reads of everyone's entries: platform admins, or whoever holds the read permission."""
    if not access.permits(ctx.principal, permission):
        raise ForbiddenError(
            f"{what} needs the '{permission}' permission", {"permission": permission}
        )


def sees_all(ctx: Context) -> bool:
    """Platform admins and platform viewers see every team."""
    return access.sees_everything(ctx.principal)
