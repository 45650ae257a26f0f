"""Findings, and the one rule that settles overlapping candidates (shared by every scanner)."""

from __future__ import annotations

from bisect import bisect_right
from typing import NamedTuple

# A detector's raw match: (rank, kind, start, end, score, detail); an earlier rank claims first.
Candidate = tuple[int, str, int, int, float, str]


class Finding(NamedTuple):
    """One detected item; start and end are `str` indices (code points), end exclusive."""

    kind: str
    start: int
    end: int
    score: float
    detail: str


def resolve(cands: list[Candidate], *, by_score: bool) -> list[Finding]:
    """Keep each candidate that overlaps none claimed before it; order by start, then kind.

    Claiming order is by rank, then start (PII, secrets) or, with `by_score`, by score (highest
    first), then rank, then start (encoded payloads).
    """
    if by_score:
        cands.sort(key=lambda c: (-c[4], c[0], c[2]))
    else:
        cands.sort(key=lambda c: (c[0], c[2]))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Candidate] = []
    for c in cands:
        s, e = c[2], c[3]
        i = bisect_right(starts, s)
        if i > 0 and ends[i - 1] > s:
            continue
        if i < len(starts) and starts[i] < e:
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        kept.append(c)
    kept.sort(key=lambda c: (c[2], c[1]))
    return [Finding(c[1], c[2], c[3], c[4], c[5]) for c in kept]
