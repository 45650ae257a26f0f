"""Passwords: the policy a new one must meet, and Argon2id hashing kept off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from forge.core.errors import InvalidParamsError

# Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
MAX_LENGTH = 1024
# The email's local part counts only from this length: "a@x" would forbid every "a".
MIN_LOCAL_PART = 3


def _kind(char: str) -> str:
    if char.islower():
        return "lower"
    if char.isupper():
        return "upper"
    if char.isdigit():
        return "digit"
    return "other"


class Passwords:
    """Checks and hashes passwords; `hasher` defaults to argon2-cffi's Argon2id parameters."""

    def __init__(self, min_length: int, hasher: PasswordHasher | None = None) -> None:
        self.min_length = min_length
        self.hasher = hasher or PasswordHasher()
        self._decoy: str | None = None

    def check(self, password: str, email: str, field: str = "password") -> None:
        """Raise InvalidParamsError (422) naming the rule a new password breaks."""
        if len(password) < self.min_length:
            raise InvalidParamsError(
                f"the password must be at least {self.min_length} characters long",
                {"field": field, "rule": "length"},
            )
        if len(password) > MAX_LENGTH:
            raise InvalidParamsError(
                f"the password must be at most {MAX_LENGTH} characters long",
                {"field": field, "rule": "length"},
            )
        local = email.partition("@")[0].lower()
        if len(local) >= MIN_LOCAL_PART and local in password.lower():
            raise InvalidParamsError(
                "the password must not contain the name part of the email address",
                {"field": field, "rule": "email"},
            )
        if len({_kind(c) for c in password}) < 2:
            raise InvalidParamsError(
                "the password must mix at least two kinds of characters"
                " (lower case, upper case, digits, symbols)",
                {"field": field, "rule": "classes"},
            )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, hashed: str | None, password: str) -> bool:
        """Whether `password` matches; a user without a password costs the same time to refuse."""
        if hashed is None:
            await self._matches(await self._decoy_hash(), password)
            return False
        return await self._matches(hashed, password)

    async def waste(self, password: str) -> None:
        """Spend a verification's time: an unknown email answers as slowly as a known one."""
        await self.verify(None, password)

    async def _matches(self, hashed: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self.hasher.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self.hash(secrets.token_urlsafe(32))
        return self._decoy
