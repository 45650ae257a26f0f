"""Secrets at rest: AES-256-GCM under a keyring that rotates without downtime.

`FORGE_SECRET_KEYS` is a comma-separated list of `<key-id>:<base64 32-byte key>`. The first key
seals; every key opens. Rotation: put a new key first (every replica can still open old
ciphertext), re-seal the stored secrets (the registry's `catalog.secrets.reseal` operation), then
drop the old key. A sealed value reads `v1.<key-id>.<base64url(nonce + ciphertext)>`; the key id
lets any replica pick the right key, and the associated data binds it to what it protects (a
gateway id, say) so that a sealed value cannot be moved to another record.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# `cryptography` is imported where a value is first sealed or opened: a service that never does
# (most of them, most of the time) keeps its some MiB out of memory (issue 16).
PREFIX = "v1"


class SealingError(ValueError):
    """A key setting is malformed, or a sealed value does not open with any key."""


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh `<id>:<base64 key>` entry for FORGE_SECRET_KEYS."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def derive_key(secret: str, label: bytes) -> bytes:
    """A 32-byte key for one purpose (`label`) derived from a shared secret (HKDF-SHA256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Keyring:
    """Seal with the first key; open with whichever key sealed."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise SealingError("the keyring needs at least one key")
        self._keys: dict[str, bytes] = {}
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not key_id or "." in key_id or ":" in key_id:
                raise SealingError(f"bad key id {key_id!r}: use letters, digits, - or _")
            if len(key) != 32:
                raise SealingError(f"key {key_id!r} must be 32 bytes (base64 of 32 random bytes)")
            if key_id in self._keys:
                raise SealingError(f"key id {key_id!r} appears twice")
            self._keys[key_id] = key
        self.active = keys[0][0]

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[key_id] = AESGCM(self._keys[key_id])
        return cipher

    @classmethod
    def parse(cls, spec: str, fallback_secret: str = "") -> Keyring:
        """From FORGE_SECRET_KEYS; when empty, one key derived from `fallback_secret`."""
        entries = [e.strip() for e in spec.split(",") if e.strip()]
        if not entries:
            if len(fallback_secret) < 32:
                raise SealingError(
                    "FORGE_SECRET_KEYS is empty and there is no FORGE_JWT_SECRET to derive a key"
                    " from"
                )
            return cls([("jwt", derive_key(fallback_secret, b"forge secrets at rest v1"))])
        keys: list[tuple[str, bytes]] = []
        for entry in entries:
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise SealingError("each FORGE_SECRET_KEYS entry must read <key-id>:<base64 key>")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SealingError(f"key {key_id!r} is not valid base64") from exc
            keys.append((key_id.strip(), key))
        return cls(keys)

    def seal(self, plaintext: bytes, context: bytes = b"") -> str:
        nonce = os.urandom(12)
        sealed = self._cipher(self.active).encrypt(nonce, plaintext, context)
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}.{self.active}.{body}"

    def open(self, sealed: str, context: bytes = b"") -> bytes:
        prefix, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if prefix != PREFIX or not body:
            raise SealingError("not a sealed value")
        if key_id not in self._keys:
            raise SealingError(f"sealed with key {key_id!r}, which is not in FORGE_SECRET_KEYS")
        from cryptography.exceptions import InvalidTag

        aead = self._cipher(key_id)
        try:
            raw = _b64(body)
            return aead.decrypt(raw[:12], raw[12:], context)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealingError("the sealed value does not open: wrong key or tampered") from exc

    def key_of(self, sealed: str) -> str:
        """The id of the key that sealed the value."""
        return sealed.split(".", 2)[1] if sealed.count(".") >= 2 else ""

    def needs_reseal(self, sealed: str) -> bool:
        return self.key_of(sealed) != self.active
