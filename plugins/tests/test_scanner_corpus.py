"""The labelled corpus: its shape, precision and recall of the scanners, and the expected masks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import scanner_cases as corpus
from rust_scanners import BOTH

from forge.plugins import scanners
from forge.plugins.scanners import implementation

FLOOR = 0.95
CASES = corpus.load()


def test_the_corpus_holds_hundreds_of_varied_cases() -> None:
    assert len(CASES) >= 500
    by_scanner = {name: [c for c in CASES if c.scanner == name] for name in corpus.SCANNERS}
    for cases in by_scanner.values():
        assert sum(1 for c in cases if c.labels) >= 50  # positives
        assert sum(1 for c in cases if not c.labels) >= 20  # negatives
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(1 for c in CASES if not c.text.isascii()) >= 100
    assert any("\u0301" in c.text for c in CASES)  # combining marks
    assert any("\u200f" in c.text or "\u0627" in c.text for c in CASES)  # right-to-left
    assert any("\U0001f468\u200d" in c.text for c in CASES)  # emoji ZWJ sequences
    assert sum(1 for c in CASES if len(c.text.encode()) >= 1_000_000) >= 3


def test_the_corpus_file_is_exactly_what_make_py_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "scanner_corpus_make", corpus.CORPUS.parent / "make.py"
    )
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    fresh = tmp_path / "scanners.jsonl"
    assert make.main([str(fresh)]) == 0
    assert fresh.read_bytes() == corpus.CORPUS.read_bytes(), "run plugins/tests/corpus/make.py"


def test_every_label_lies_inside_its_text() -> None:
    for case in CASES:
        for kind, start, end in case.labels:
            assert 0 <= start < end <= len(case.text), case.id
            assert kind in scanners.PII_KINDS + scanners.SECRET_KINDS + scanners.EXFIL_KINDS


@pytest.mark.parametrize("impl", BOTH)
def test_precision_and_recall_reach_the_floor(
    impl: implementation.Scanners, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = corpus.measure(impl, CASES)
    report = corpus.table(impl, scores)
    with capsys.disabled():
        print("\n" + report)
    for name, score in scores.items():
        assert score.precision >= FLOOR, f"{name} precision\n{report}"
        assert score.recall >= FLOOR, f"{name} recall\n{report}"


@pytest.mark.parametrize("impl", BOTH)
def test_masking_the_labels_gives_the_expected_text_in_every_mode(
    impl: implementation.Scanners,
) -> None:
    for case in CASES:
        for mode, expected in case.masked.items():
            assert impl.mask(case.text, sorted(case.labels), mode) == expected, (case.id, mode)
