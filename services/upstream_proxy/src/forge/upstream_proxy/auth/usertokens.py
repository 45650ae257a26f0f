"""Per-user upstream tokens (OAuth authorization code): sealed in a JetStream KV bucket.

The key is `<gateway id>.<sha256 of the user>`; the value is the user's access and refresh token,
sealed (forge.core.sealing) with the key itself as associated data, so that an entry cannot be
moved to another user or gateway. Every replica mirrors the bucket through a watch and writes
through it, so any replica can serve any user's call; on a miss it reads the bucket itself, as
the watch may lag a token that another replica stored a moment ago. The bucket forgets an entry
a week after its last write (forge.core.bus.KV_TTL_S): a user idle that long authorizes again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable

import msgspec

from forge.core.bus import Bus, Subscription
from forge.core.sealing import Keyring, SealingError
from forge.proto.upstream import UserToken

log = logging.getLogger("forge.upstream_proxy.auth.usertokens")
BUCKET = "forge-upstream-user-tokens"
_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


_DECODE = msgspec.json.Decoder(UserToken)


def fresh(token: UserToken) -> bool:
    """Usable as it is: no refresh due yet (or none known)."""
    return token.renew_at is None or time.time() < token.renew_at


def key_of(gateway_id: str, user: str) -> str:
    """The bucket key: KV keys allow few characters, so odd gateway ids are hashed too."""
    gateway = gateway_id if _SAFE.fullmatch(gateway_id) else _digest(gateway_id)[:32]
    return f"{gateway}.{_digest(user)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UserTokens:
    """The bucket's entries (sealed) by key; opened only when a call needs one."""

    def __init__(self, bus: Bus, keyring: Callable[[], Keyring]) -> None:
        self.bus = bus
        self.keyring = keyring
        self.sealed: dict[str, str] = {}
        self._watch: Subscription | None = None

    async def start(self) -> None:
        self._watch = await self.bus.kv_watch(BUCKET, self._seen)

    def _seen(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.sealed.pop(key, None)
        else:
            self.sealed[key] = value.decode()

    async def get(self, gateway_id: str, user: str) -> UserToken | None:
        key = key_of(gateway_id, user)
        sealed = self.sealed.get(key)
        if sealed is None:
            # The watch may not have brought a token written on another replica a moment ago
            # (the OAuth callback landed there): read the bucket before sending the user to
            # authorize again. Not cached: the watch stays the one writer of the mirror.
            stored = await self.bus.kv_get(BUCKET, key)
            if stored is None:
                return None
            sealed = stored.decode()
        try:
            return _DECODE.decode(self.keyring().open(sealed, key.encode()))
        except (SealingError, msgspec.DecodeError, msgspec.ValidationError):
            # Sealed under a key no longer configured, or damaged: the user authorizes again.
            log.warning("a stored upstream token does not open", extra={"gateway_id": gateway_id})
            return None

    async def put(self, gateway_id: str, user: str, token: UserToken) -> None:
        key = key_of(gateway_id, user)
        sealed = self.keyring().seal(msgspec.json.encode(token), key.encode())
        self.sealed[key] = sealed  # this replica sees it at once, the others through the watch
        await self.bus.kv_put(BUCKET, key, sealed.encode())

    async def forget(self, gateway_id: str, user: str) -> None:
        key = key_of(gateway_id, user)
        self.sealed.pop(key, None)
        await self.bus.kv_delete(BUCKET, key)

    async def forget_gateway(self, gateway_id: str) -> None:
        """Delete every user's tokens of a gateway that no longer exists."""
        prefix = key_of(gateway_id, "").split(".", 1)[0] + "."
        for key in [k for k in self.sealed if k.startswith(prefix)]:
            self.sealed.pop(key, None)
            await self.bus.kv_delete(BUCKET, key)

    async def close(self) -> None:
        if self._watch is not None:
            await self._watch.unsubscribe()
            self._watch = None
