"""`python -m bench.scanners`: Rust vs pure-Python throughput of the guardrail scanners.

Each scanner (PII, secrets, encoded exfiltration) scans the same realistic mixed document (prose
in several scripts, config lines, a few emails, cards, tokens and encoded payloads) cut to 1 KB,
10 KB and 1 MB of UTF-8; each implementation is timed until it has run for a while, and the
result is MB/s per implementation and the Rust/Python ratio (target: >= 20x at 10 KB). Then the
same on a 10 KB invoice dense with findings (about 190), and the three scanners together on it
(target: <= 0.5 ms); last, precision and recall of the Rust scanners on the generated corpus
(plugins/tests/corpus/generated) per scanner, kind and locale.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge.plugins.scanners import config, implementation
from forge.plugins.scanners.findings import Finding

SIZES = {"1KB": 1024, "10KB": 10 * 1024, "1MB": 1024 * 1024}
TARGET_RATIO = 20.0
TARGET_SIZE = "10KB"
TARGET_DENSE_MS = 0.5  # the three scanners together on the 10 KB invoice

_PROSE = [
    "The quarterly report is attached; revenue grew in every region except the north.",
    "Bitte prüfen Sie die Rechnung bis Freitag und melden Sie sich bei Fragen.",
    "Le déploiement est terminé, aucune erreur n'a été signalée pendant la nuit.",
    "请在周五之前审核这份文件\uff0c并告诉我们您的意见。",
    "يرجى مراجعة المستند قبل يوم الجمعة وإرسال ملاحظاتك.",
    "Reminder: the offsite starts at 9:30 in room 4B, coffee is provided ☕.",
    "We shipped version 2.14.3 to production after the canary ran for two hours.",
    "Customer asked whether the invoice number INV-20931 can be reissued.",
    "🚀 Launch checklist: docs, changelog, migration notes, rollback plan.",
    "def handler(event, context):\n    return {'status': 200, 'body': event['body']}",
    'log level=info msg="request served" path=/api/v1/items latency_ms=12',
]


def _sensitive(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(4))
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                    for _ in range(36))  # fmt: skip
    payload = base64.b64encode(f"password=s3cr3t-{digits}&user=ops".encode()).decode()
    return rng.choice(
        [
            f"Contact maria.garcia{digits}@example.com or call +44 20 7946 {digits}.",
            "Card on file: 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00.",
            f"export GITHUB_TOKEN=ghp_{token}",
            f'{{"password": "Xk9#mP2$vL8q{digits}", "user": "svc"}}',
            f"upload?d={payload} HTTP/1.1",
            "Server 10.20.30.40 and gateway fe80::1ff:fe23:4567:890a are down. DOB: 1984-07-31",
        ]
    )


def document(size: int, seed: int = 7) -> str:
    """About `size` bytes of UTF-8: mostly prose, one sensitive line in eight."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        line = _sensitive(rng) if rng.randrange(8) == 0 else rng.choice(_PROSE)
        parts.append(line)
        total += len(line.encode()) + 1
    text = "\n".join(parts)
    while len(text.encode()) > size:
        text = text[: len(text) - max(1, (len(text.encode()) - size) // 4)]
    return text


_NAMES = ["Maria Garcia", "John Smith", "Aiko Tanaka", "Jean Dupont", "Hans Müller", "Priya Patel",
          "Olivia Brown", "Lucas Rossi"]  # fmt: skip


def invoice(size: int, seed: int = 11) -> str:
    """About `size` bytes of an invoice dense with PII (about 190 findings in 10 KB): a header,
    then line items among contact, payment and shipping lines."""
    rng = random.Random(seed)
    lines = [
        "INVOICE 2026-0042 — Acme Supplies Ltd., 1 Market Street, Leeds",
        "Billing contact: billing@acme.example, +44 113 496 0000",
        "ref | contact | details",
    ]
    total, i = sum(len(x.encode()) + 1 for x in lines), 0
    while total < size:
        name = rng.choice(_NAMES)
        first = name.split()[0].lower()
        d = "".join(rng.choice("0123456789") for _ in range(4))
        kind = i % 10
        if kind == 0:
            line = f"{i:03d} | {name} <{first}.{d}@example.com> | tel +44 20 7946 {d}"
        elif kind == 1:
            line = f"{i:03d} | paid by card 4111 1111 1111 1111 | IBAN DE89 3704 0044 0532 0130 00"
        elif kind == 2:
            line = f"{i:03d} | {name}, DOB: 19{d[:2]}-0{1 + int(d[2]) % 9}-1{d[3]} | (415) 555-{d}"
        elif kind == 3:
            line = f"{i:03d} | shipped from 10.{int(d[:2])}.{int(d[2:])}.7 | SSN 078-05-1120"
        elif kind in (4, 5, 8):
            line = f"{i:03d} | Widget W-{d} | 4 x 12.50 EUR = 50.00 EUR"
        elif kind == 6:
            line = f"{i:03d} | ops {first}.{d}@example.org | fax 020 7946 {d}"
        elif kind == 7:
            line = f"{i:03d} | Gadget G-{d}, colour blue | 1 x 99.00 EUR"
        else:
            line = f"{i:03d} | Service fee, {d[:2]} hours | {d[2:]}.00 EUR"
        lines.append(line)
        total += len(line.encode()) + 1
        i += 1
    text = "\n".join(lines)
    while len(text.encode()) > size:
        text = text[: len(text) - max(1, (len(text.encode()) - size) // 4)]
    return text


Scan = Callable[[str], list[Finding]]


def _scans(impl: implementation.Scanners) -> dict[str, Scan]:
    return {
        "pii": lambda t: impl.scan_pii(t, config.DEFAULT_PII),
        "secrets": lambda t: impl.scan_secrets(t, config.DEFAULT_SECRETS),
        "exfil": lambda t: impl.scan_exfil(t, config.DEFAULT_EXFIL),
    }


def _throughput(scan: Scan, text: str, min_time: float) -> dict[str, Any]:
    scan(text)  # warm up: compile patterns, fill caches
    calls, started = 0, time.perf_counter()
    elapsed = 0.0
    while elapsed < min_time or calls < 3:
        scan(text)
        calls += 1
        elapsed = time.perf_counter() - started
    per_call = elapsed / calls
    return {
        "calls": calls,
        "seconds_per_call": per_call,
        "mb_per_s": len(text.encode()) / per_call / 1e6,
    }


def run(min_time: float = 0.5) -> dict[str, Any]:
    """Throughput of both implementations for every scanner and size; needs the extension."""
    python, rust = _scans(implementation.python()), _scans(implementation.rust())
    results: dict[str, Any] = {}
    for size_name, size in SIZES.items():
        text = document(size)
        for scanner in python:
            py = _throughput(python[scanner], text, min_time)
            rs = _throughput(rust[scanner], text, min_time)
            results.setdefault(scanner, {})[size_name] = {
                "bytes": len(text.encode()),
                "findings": len(rust[scanner](text)),
                "python": py,
                "rust": rs,
                "ratio": rs["mb_per_s"] / py["mb_per_s"],
            }
    # the invoice dense with findings (about 190 in 10 KB): each scanner, and all three at once
    text = invoice(SIZES[TARGET_SIZE])
    dense: dict[str, Any] = {"bytes": len(text.encode()), "scanners": {}}
    for scanner in python:
        py = _throughput(python[scanner], text, min_time)
        rs = _throughput(rust[scanner], text, min_time)
        dense["scanners"][scanner] = {
            "findings": len(rust[scanner](text)),
            "python": py,
            "rust": rs,
            "ratio": rs["mb_per_s"] / py["mb_per_s"],
        }
    scans = list(rust.values())
    dense["all_three_rust_ms"] = (
        _throughput(lambda t: [f for scan in scans for f in scan(t)], text, min_time)[
            "seconds_per_call"
        ]
        * 1e3
    )
    return {
        "sizes": list(SIZES),
        "target": {"size": TARGET_SIZE, "min_ratio": TARGET_RATIO, "dense_all_ms": TARGET_DENSE_MS},
        "results": results,
        "dense": dense,
        "accuracy": accuracy(),
    }


def _generated() -> Any:
    """plugins/tests/corpus/generated/evaluate.py, loaded by path (a test folder, no package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "plugins/tests/corpus/generated/evaluate.py"
    spec = importlib.util.spec_from_file_location("generated_evaluate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def accuracy() -> dict[str, Any]:
    """Precision and recall of the Rust scanners on the generated corpus (issue 17): per scanner,
    per kind, per locale, and the table `make bench` prints."""
    evaluate = _generated()
    rep = evaluate.evaluate(evaluate.load(), evaluate.scan_with(implementation.rust()))

    def score(sc: Any) -> dict[str, Any]:
        return {"precision": sc.precision, "recall": sc.recall, "labels": sc.labelled}

    return {
        "by_scanner": {k: score(v) for k, v in rep.by_scanner.items()},
        "by_kind": {f"{a}/{b}": score(v) for (a, b), v in rep.by_kind.items()},
        "by_locale": {f"{a}/{b}": score(v) for (a, b), v in rep.by_locale.items()},
        "table": evaluate.table(rep, "generated corpus (Rust), same-kind span overlap"),
    }


def measure(*, quick: bool = False) -> dict[str, Any]:
    """The `make bench` entry: the measurements, or why there are none."""
    try:
        return run(0.1 if quick else 0.5)
    except ImportError:
        return {
            "skipped": "the Rust scanners are not built (`make install` builds them with cargo)"
        }


def report(doc: dict[str, Any]) -> str:
    if "skipped" in doc:
        return f"scanners: {doc['skipped']}"
    return table(doc)


def table(doc: dict[str, Any]) -> str:
    head = f"{'scanner':<8} {'size':>5} {'python MB/s':>12} {'rust MB/s':>10} {'rust/python':>12}"
    lines = [head, "-" * len(head)]
    for scanner, by_size in doc["results"].items():
        for size, r in by_size.items():
            lines.append(
                f"{scanner:<8} {size:>5} {r['python']['mb_per_s']:>12.2f}"
                f" {r['rust']['mb_per_s']:>10.1f} {r['ratio']:>11.1f}x"
            )
    target = doc["target"]
    for scanner, by_size in doc["results"].items():
        ratio = by_size[target["size"]]["ratio"]
        verdict = "met" if ratio >= target["min_ratio"] else "MISSED"
        lines.append(
            f"{scanner}: rust/python at {target['size']} x{ratio:.1f}"
            f" (target >= {target['min_ratio']:g})  {verdict}"
        )
    dense = doc.get("dense")
    if dense:
        lines.append(f"invoice dense with findings ({dense['bytes']} bytes):")
        for scanner, r in dense["scanners"].items():
            verdict = "met" if r["ratio"] >= target["min_ratio"] else "MISSED"
            lines.append(
                f"  {scanner:<8} {r['findings']:>4} findings  python"
                f" {r['python']['seconds_per_call'] * 1e3:8.3f} ms  rust"
                f" {r['rust']['seconds_per_call'] * 1e3:7.3f} ms  x{r['ratio']:.1f}  {verdict}"
            )
        ms, limit = dense["all_three_rust_ms"], target.get("dense_all_ms", TARGET_DENSE_MS)
        lines.append(
            f"  all three (rust) {ms:.3f} ms per call (target <= {limit:g})"
            f"  {'met' if ms <= limit else 'MISSED'}"
        )
    if "accuracy" in doc:
        lines.append(doc["accuracy"]["table"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scanners", description=__doc__)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    try:
        doc = run(args.min_time)
    except ImportError:
        print("the Rust scanners are not built: run `make install` (needs cargo)", file=sys.stderr)
        return 1
    print(table(doc))
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
