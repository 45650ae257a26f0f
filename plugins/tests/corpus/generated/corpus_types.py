"""The shape of a generated case (see README.md)."""

from __future__ import annotations

from typing import TypedDict


class Case(TypedDict):
    id: str
    scanner: str  # "pii" | "secrets" | "exfil"
    locale: str  # a faker locale, or "-"
    labels: list[list[str | int]]  # [[kind, start, end], ...], code points, end exclusive
    text: str
