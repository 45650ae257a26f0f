"""Writes generated.jsonl, the generated scanner corpus (`python make_generated.py [OUT]`).

Reproducible: every generator module gets a `random.Random` and per-locale `Faker` instances
seeded from SEED and its own name, so the same versions of faker/phonenumbers/python-stdnum
(pinned by uv.lock) always give the same bytes. See README.md for the generator contract.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from faker import Faker

HERE = Path(__file__).resolve().parent
OUT = HERE / "generated.jsonl"
SEED = 17
# In this order; a module not (yet) in the folder is left out.
GENERATORS = ("gen_pii", "gen_secrets", "gen_exfil")


def _faker_factory(module: str) -> Callable[[str], Faker]:
    fakers: dict[str, Faker] = {}

    def faker_for(locale: str) -> Faker:
        if locale not in fakers:
            f = Faker(locale)
            f.seed_instance(zlib.crc32(f"{SEED}:{module}:{locale}".encode()))
            fakers[locale] = f
        return fakers[locale]

    return faker_for


def generate() -> list[dict[str, object]]:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    out: list[dict[str, object]] = []
    ids: set[str] = set()
    for name in GENERATORS:
        if not (HERE / f"{name}.py").exists():
            continue
        module = importlib.import_module(name)
        rng = random.Random(f"{SEED}:{name}")
        for case in module.cases(rng, _faker_factory(name)):
            assert case["id"] not in ids, f"duplicate id {case['id']}"
            ids.add(case["id"])
            text = case["text"]
            for kind, start, end in case["labels"]:
                assert isinstance(start, int) and isinstance(end, int)
                assert 0 <= start < end <= len(text), (case["id"], kind, start, end)
            out.append(dict(case))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else OUT
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for case in generate():
            f.write(json.dumps(case, ensure_ascii=False, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
