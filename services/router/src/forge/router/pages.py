"""Pagination of the lists the router builds: opaque cursors bound to the list's content."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError

_ENC = msgspec.json.Encoder()
_CURSOR = msgspec.json.Decoder(tuple[str, int, str])


class Listing(msgspec.Struct, frozen=True):
    """One list as the router serves it, and a digest of its content (its version)."""

    items: Sequence[Any]
    digest: str

    @classmethod
    def of(cls, items: Sequence[Any]) -> Listing:
        # Replicas with the same catalog compute the same digest, so any replica takes a cursor.
        digest = hashlib.blake2b(_ENC.encode(items), digest_size=8).hexdigest()
        return cls(items, digest)


def cursor(kind: str, offset: int, digest: str) -> str:
    """The opaque cursor of the page starting at `offset` of that list version."""
    return base64.urlsafe_b64encode(_ENC.encode((kind, offset, digest))).decode().rstrip("=")


def _offset(kind: str, token: str, listing: Listing) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        named, offset, digest = _CURSOR.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidParamsError("invalid cursor") from None
    # A cursor of another list, or of this list before it changed, would silently skip or
    # repeat entries: the client must start again from the first page.
    if named != kind or digest != listing.digest or not 0 < offset < len(listing.items):
        raise InvalidParamsError("invalid cursor: the list changed or the cursor is foreign")
    return offset


def page(
    kind: str, listing: Listing, token: str | None, size: int
) -> tuple[Sequence[Any], str | None]:
    """The page a cursor (None: the first) points at, and the next page's cursor if any."""
    start = 0 if token is None else _offset(kind, token, listing)
    end = start + size
    items = listing.items[start:end]
    following = cursor(kind, end, listing.digest) if end < len(listing.items) else None
    return items, following
