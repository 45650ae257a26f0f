"""Whether a verified token still belongs to the account it names, not only to its email.

An email can be deleted and registered again, and an account deactivated and reactivated: the
tokens issued before must not carry over. A session JWT names its account id (`uid`); any JWT,
ours or an external issuer's, is refused when it was issued (`iat`) before the account's
`tokens_since` (its creation, its last deactivation or reactivation). An API token names its
owner's account id.

Every such refusal says the same (`STALE`): which of them it was would tell a token's holder the
account's history (deleted, re-created, deactivated, reactivated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from forge.core.errors import UnauthorizedError
from forge.proto.identity import TokenEntry, UserAccess

ACCOUNT_CLAIM = "uid"
# The one answer for a token its account no longer accepts, or never did (and a revoked one).
STALE = "invalid token: unknown, revoked or no longer valid"


def issued_before(iat: float, since: float) -> bool:
    """Whether a token issued at `iat` certainly predates `since`. A whole-second `iat` (most
    issuers, `forge token`) may stand for any moment of that second, so it counts as issued at
    its end; a fractional one (our sessions) is taken as it is."""
    return (iat + 1.0 if float(iat).is_integer() else iat) <= since


def check_jwt(claims: Mapping[str, Any], user: UserAccess) -> None:
    """401 unless the JWT was issued to this account as it is now."""
    account = claims.get(ACCOUNT_CLAIM)
    if account is not None and account != user.id:
        raise UnauthorizedError(STALE)
    if user.tokens_since is None:
        return  # an identity registry of before tokens_since: nothing to compare with
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise UnauthorizedError("invalid token: it has no issue time (iat)")
    if issued_before(iat, user.tokens_since):
        raise UnauthorizedError(STALE)


def check_api_token(entry: TokenEntry, owner: UserAccess) -> None:
    """401 unless the API token belongs to this account (not an earlier one of its email)."""
    if entry.user_id is not None and entry.user_id != owner.id:
        raise UnauthorizedError(STALE)
