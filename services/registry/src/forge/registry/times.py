"""Times as both registries answer them: UTC, to the microsecond, with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
