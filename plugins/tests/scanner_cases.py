"""The labelled corpus (corpus/scanners.jsonl) as cases, and precision/recall against it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.plugins.scanners import config
from forge.plugins.scanners.findings import Finding
from forge.plugins.scanners.implementation import Scanners

CORPUS = Path(__file__).parent / "corpus" / "scanners.jsonl"
SCANNERS = ("pii", "secrets", "exfil")
Label = tuple[str, int, int]


@dataclass(frozen=True)
class Case:
    id: str
    scanner: str
    text: str
    labels: frozenset[Label]
    masked: dict[str, str]  # expected mask(text, labels, mode), padding included
    padded: bool


def _case(raw: dict[str, Any]) -> Case:
    text, masked, pad = raw["text"], raw["masked"], raw["pad"]
    if pad:
        before, after = pad["unit"] * pad["before"], pad["unit"] * pad["after"]
        text = before + text + after
        masked = {mode: before + m + after for mode, m in masked.items()}
    labels = frozenset((k, s, e) for k, s, e in raw["labels"])
    return Case(raw["id"], raw["scanner"], text, labels, masked, bool(pad))


def load() -> list[Case]:
    with CORPUS.open(encoding="utf-8") as f:
        return [_case(json.loads(line)) for line in f]


def scan(impl: Scanners, scanner: str, text: str) -> list[Finding]:
    if scanner == "pii":
        return impl.scan_pii(text, config.DEFAULT_PII)
    if scanner == "secrets":
        return impl.scan_secrets(text, config.DEFAULT_SECRETS)
    return impl.scan_exfil(text, config.DEFAULT_EXFIL)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def measure(impl: Scanners, cases: list[Case]) -> dict[str, Score]:
    """Exact-span precision and recall per scanner, and over all of them ("all")."""
    scores = {name: Score() for name in (*SCANNERS, "all")}
    for case in cases:
        found = {(f.kind, f.start, f.end) for f in scan(impl, case.scanner, case.text)}
        for key in (case.scanner, "all"):
            scores[key].tp += len(found & case.labels)
            scores[key].fp += len(found - case.labels)
            scores[key].fn += len(case.labels - found)
    return scores


def table(impl: Scanners, scores: dict[str, Score]) -> str:
    lines = [f"scanner corpus, {impl.name} implementation:"]
    for name, s in scores.items():
        lines.append(
            f"  {name:<8} precision {s.precision:.3f}  recall {s.recall:.3f}"
            f"  (tp {s.tp}, fp {s.fp}, fn {s.fn})"
        )
    return "\n".join(lines)
