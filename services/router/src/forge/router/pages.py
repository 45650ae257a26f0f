"""Pagination of the lists the router builds: opaque cursors.

A list in a stable order of unique keys (the whole catalog's tools and prompts by name,
resources by uri, templates by uriTemplate) pages by key: the cursor names the last key served,
and the next page starts after it in the list as it is *now*. So a client walking the pages
while the catalog changes gets every entry that stayed exactly once, never a repeat (a keyset
cursor; any replica takes it). A list in an order of its own (a virtual server's) pages by
offset, bound to a digest of its content: when it changes, the cursor is refused and the client
starts again.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError

_ENC = msgspec.json.Encoder()
_CURSOR = msgspec.json.Decoder(tuple[str, int | None, str])


class Listing(msgspec.Struct, frozen=True):
    """One list as the router serves it: by key (`keys`, sorted, one per item), else by offset
    with a digest of its content (its version)."""

    items: Sequence[Any]
    digest: str = ""
    keys: Sequence[str] | None = None

    @classmethod
    def of(cls, items: Sequence[Any]) -> Listing:
        # Replicas with the same catalog compute the same digest, so any replica takes a cursor.
        digest = hashlib.blake2b(_ENC.encode(items), digest_size=8).hexdigest()
        return cls(items, digest)

    @classmethod
    def keyed(cls, items: Sequence[Any], keys: Sequence[str]) -> Listing:
        """A list whose `keys` (sorted, unique) are its items' own."""
        return cls(items, keys=keys)


def cursor(kind: str, offset: int, digest: str) -> str:
    """The opaque cursor of the page starting at `offset` of that list version."""
    return _token((kind, offset, digest))


def key_cursor(kind: str, after: str) -> str:
    """The opaque cursor of the page after the key `after`."""
    return _token((kind, None, after))


def _token(value: tuple[str, int | None, str]) -> str:
    return base64.urlsafe_b64encode(_ENC.encode(value)).decode().rstrip("=")


def after_key(kind: str, token: str | None) -> str | None:
    """The key a keyset cursor of `kind` continues after (None: the first page)."""
    if token is None:
        return None
    named, offset, mark = _decode(token)
    if named != kind or offset is not None:
        raise InvalidParamsError("invalid cursor: the list changed or the cursor is foreign")
    return mark


def _decode(token: str) -> tuple[str, int | None, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _CURSOR.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidParamsError("invalid cursor") from None


def _start(kind: str, token: str, listing: Listing) -> int:
    named, offset, mark = _decode(token)
    if named == kind and offset is None and listing.keys is not None:
        return bisect.bisect_right(listing.keys, mark)
    # A cursor of another list, or of this list before it changed, would silently skip or
    # repeat entries: the client must start again from the first page.
    if (
        named != kind
        or offset is None
        or listing.keys is not None
        or mark != listing.digest
        or not 0 < offset < len(listing.items)
    ):
        raise InvalidParamsError("invalid cursor: the list changed or the cursor is foreign")
    return offset


def page(
    kind: str, listing: Listing, token: str | None, size: int
) -> tuple[Sequence[Any], str | None]:
    """The page a cursor (None: the first) points at, and the next page's cursor if any."""
    start = 0 if token is None else _start(kind, token, listing)
    end = start + size
    items = listing.items[start:end]
    if end >= len(listing.items):
        return items, None
    if listing.keys is not None:
        return items, key_cursor(kind, listing.keys[end - 1])
    return items, cursor(kind, end, listing.digest)
