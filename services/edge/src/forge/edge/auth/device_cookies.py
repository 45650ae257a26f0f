"""Device cookies (OWASP): a client's proof that it signed in to an account before.

Every password sign-in answers one, as an HttpOnly cookie and as `device_token` in the JSON (API
clients send it back as `device_token` in the login body). It names the account (id and email),
a random id and an expiry under an HMAC-SHA256 keyed from the JWT secret, so any edge replica
verifies it and nobody forges one. The identity registry lets a client holding a valid cookie past
the account's sign-in lock, throttling it per cookie instead: strangers guessing at an account can
close it to new clients, never to the ones that signed in before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import NamedTuple

import msgspec

from forge.core.sealing import derive_key

MAX_TOKEN = 1024  # far above any token issued here: longer input is not even decoded
_PAYLOAD = msgspec.json.Decoder(tuple[str, str, str, int])  # account id, email, id, expiry
_ENC = msgspec.json.Encoder()


class Device(NamedTuple):
    """A verified cookie: its random id and the account id it was issued to."""

    id: str
    account: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _normal(email: str) -> str:
    return email.strip().lower()


class DeviceCookies:
    """Issues and verifies device cookies for one edge (every replica sharing the secret)."""

    def __init__(self, secret: str, ttl_s: int, secure: bool) -> None:
        self._key = derive_key(secret, b"forge device cookie v1")
        self.ttl_s = max(1, ttl_s)
        self.secure = secure  # https public URL: the browser sends the cookie over TLS only

    @staticmethod
    def cookie_name(email: str) -> str:
        """One cookie per account, so a browser shared by two users keeps both; the name is a
        digest, not the email, so a cookie jar does not list who signed in."""
        return "forge_device_" + hashlib.sha256(_normal(email).encode()).hexdigest()[:16]

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, account: str, email: str, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self.ttl_s
        payload = _ENC.encode((account, _normal(email), secrets.token_urlsafe(16), expires))
        return _b64(payload) + "." + _b64(self._mac(payload))

    def verify(self, token: object, email: object, now: float | None = None) -> Device | None:
        """The cookie's device when it is genuine, unexpired and names this email; else None
        (a bad cookie is no cookie: the sign-in is throttled like any other)."""
        if not isinstance(token, str) or not isinstance(email, str) or len(token) > MAX_TOKEN:
            return None
        encoded, _, mac = token.partition(".")
        try:
            payload, tag = _unb64(encoded), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(tag, self._mac(payload)):
            return None
        try:
            account, named, device, expires = _PAYLOAD.decode(payload)
        except msgspec.DecodeError:
            return None
        if expires <= (now if now is not None else time.time()) or named != _normal(email):
            return None
        return Device(device, account)
