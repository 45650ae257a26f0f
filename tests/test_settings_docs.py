"""The settings tables in the READMEs are what `make docs` writes from the config structs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forge.core import settings_doc

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_of_every_struct_is_described_and_every_shared_entry_is_read() -> None:
    assert settings_doc.problems(settings_doc.load_configs()) == []


def test_the_settings_tables_are_up_to_date() -> None:
    stale = settings_doc.drifted(ROOT, settings_doc.load_configs(), settings_doc.README)
    assert stale == [], "run `make docs`"


def copy_docs(root: Path) -> None:
    for name in [settings_doc.SHARED_DOC, *settings_doc.README.values()]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)


def test_the_check_passes_on_a_copy_and_fails_once_a_row_is_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_docs(tmp_path)
    assert settings_doc.main(["--check", "--root", str(tmp_path)]) == 0
    readme = tmp_path / "services/edge/README.md"
    text = readme.read_text()
    row = next(line for line in text.splitlines() if "`FORGE_EDGE_HTTP_SERVER`" in line)
    readme.write_text(text.replace(row + "\n", ""))  # an undocumented setting
    assert settings_doc.main(["--check", "--root", str(tmp_path)]) == 1
    assert "services/edge/README.md is out of date" in capsys.readouterr().out
    assert settings_doc.main(["--root", str(tmp_path)]) == 0  # `make docs` writes it back
    assert readme.read_text() == text
