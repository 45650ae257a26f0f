"""The generated corpus (corpus/generated, issue 17): data we did not write, from faker in ten
locales checked with phonenumbers and python-stdnum, in CSV/JSON/log/prose carriers, with hard
negatives. The file is exactly what its driver writes; the twins agree on every case; precision
and recall reach the floors per scanner and per kind (same-kind span overlap)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rust_scanners import BOTH, PYTHON, RUST

from forge.plugins.scanners import implementation

HERE = Path(__file__).parent / "corpus" / "generated"
FLOOR = {"pii": (0.95, 0.95), "secrets": (0.95, 0.95), "exfil": (0.95, 0.90)}  # (P, R)
KIND_FLOOR = 0.90
KIND_MIN_CASES = 50


def _load(name: str) -> ModuleType:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(f"generated_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


evaluate = _load("evaluate")
CASES: list[dict[str, Any]] = evaluate.load()


def test_the_corpus_file_is_exactly_what_the_driver_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "generated.jsonl"
    assert _load("make_generated").main([str(fresh)]) == 0
    assert fresh.read_bytes() == evaluate.CORPUS.read_bytes(), (
        "run plugins/tests/corpus/generated/make_generated.py"
    )


def test_the_corpus_covers_ten_locales_and_hard_negatives() -> None:
    pii = [c for c in CASES if c["scanner"] == "pii"]
    locales = {c["locale"] for c in pii} - {"-"}
    assert len(locales) >= 10
    assert sum(1 for c in pii if not c["labels"]) >= 100
    assert len({c["id"] for c in CASES}) == len(CASES)


def test_the_twins_agree_on_every_case() -> None:
    if RUST is None:
        pytest.skip("the Rust scanners are not built")
    rust, python = evaluate.scan_with(RUST), evaluate.scan_with(PYTHON)
    for case in CASES:
        assert rust(case["scanner"], case["text"]) == python(case["scanner"], case["text"]), case[
            "id"
        ]


@pytest.mark.parametrize("impl", BOTH)
def test_precision_and_recall_reach_the_floors(
    impl: implementation.Scanners, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = evaluate.evaluate(CASES, evaluate.scan_with(impl))
    table = evaluate.table(rep, f"generated corpus, {impl.name}")
    with capsys.disabled():
        print("\n" + table)
    for scanner, score in rep.by_scanner.items():
        p, r = FLOOR[scanner]
        assert score.precision >= p, f"{scanner} precision\n{table}"
        assert score.recall >= r, f"{scanner} recall\n{table}"
    for (scanner, kind), score in rep.by_kind.items():
        if score.labelled >= KIND_MIN_CASES:
            assert score.precision >= KIND_FLOOR, f"{scanner}/{kind} precision\n{table}"
            assert score.recall >= KIND_FLOOR, f"{scanner}/{kind} recall\n{table}"
