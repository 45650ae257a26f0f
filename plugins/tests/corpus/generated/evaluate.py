"""Precision and recall of the scanners on the generated corpus: per scanner, per kind, per
locale. A finding and a label match when they have the same kind and their spans overlap."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "generated.jsonl"
SCANNERS = ("pii", "secrets", "exfil")
# (kind, start, end) findings of one scanner on one text
Scan = Callable[[str, str], Iterable[tuple[str, int, int]]]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    labelled: int = 0  # labels (cases) of this group

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _overlap(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


@dataclass
class Report:
    by_scanner: dict[str, Score]
    by_kind: dict[tuple[str, str], Score]
    by_locale: dict[tuple[str, str], Score]
    misses: list[tuple[str, str, str]]  # (case id, "fn"/"fp", kind and text)


def evaluate(cases: list[dict[str, Any]], scan: Scan) -> Report:
    rep = Report({}, {}, {}, [])
    for case in cases:
        scanner, text = case["scanner"], case["text"]
        labels = [(str(k), int(s), int(e)) for k, s, e in case["labels"]]
        found = [(k, s, e) for k, s, e in scan(scanner, text)]
        groups = [
            rep.by_scanner.setdefault(scanner, Score()),
            rep.by_locale.setdefault((scanner, case["locale"]), Score()),
        ]
        for lab in labels:
            hit = any(_overlap(lab, f) for f in found)
            kind = rep.by_kind.setdefault((scanner, lab[0]), Score())
            for g in (*groups, kind):
                g.labelled += 1
                if hit:
                    g.tp += 1
                else:
                    g.fn += 1
            if not hit:
                rep.misses.append((case["id"], "fn", f"{lab[0]} {text[lab[1] : lab[2]]!r}"))
        for f in found:
            if not any(_overlap(f, lab) for lab in labels):
                kind = rep.by_kind.setdefault((scanner, f[0]), Score())
                for g in (*groups, kind):
                    g.fp += 1
                rep.misses.append((case["id"], "fp", f"{f[0]} {text[f[1] : f[2]]!r}"))
    return rep


def scan_with(impl: Any) -> Scan:
    """A `Scan` over an implementation (forge.plugins.scanners.implementation.Scanners)."""
    from forge.plugins.scanners import config

    def scan(scanner: str, text: str) -> list[tuple[str, int, int]]:
        if scanner == "pii":
            found = impl.scan_pii(text, config.DEFAULT_PII)
        elif scanner == "secrets":
            found = impl.scan_secrets(text, config.DEFAULT_SECRETS)
        else:
            found = impl.scan_exfil(text, config.DEFAULT_EXFIL)
        return [(f.kind, f.start, f.end) for f in found]

    return scan


def _row(name: str, s: Score) -> str:
    return (
        f"  {name:<28} P {s.precision:.3f}  R {s.recall:.3f}"
        f"  (labels {s.labelled}, tp {s.tp}, fp {s.fp}, fn {s.fn})"
    )


def table(rep: Report, title: str = "generated corpus") -> str:
    lines = [f"{title}:"]
    for scanner in SCANNERS:
        if scanner not in rep.by_scanner:
            continue
        lines.append(_row(scanner, rep.by_scanner[scanner]))
        for (sc, kind), s in sorted(rep.by_kind.items()):
            if sc == scanner:
                lines.append(_row(f"  {kind}", s))
        for (sc, locale), s in sorted(rep.by_locale.items()):
            if sc == scanner and locale != "-":
                lines.append(_row(f"  [{locale}]", s))
    return "\n".join(lines)
