"""The settings tables come from the structs, and the checks catch what the structs miss."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest

from forge.core import settings_doc
from forge.core.settings import SHARED, JwtSecret, LogLevel, NatsUrl, doc, secret
from forge.core.settings_doc import BEGIN, END, drifted, problems, render, service_table


class DemoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    jwt_secret: JwtSecret = ""
    port: Annotated[int, msgspec.Meta(ge=1), doc("Where to listen.")] = 8000
    mode: Annotated[Literal["fast", "safe"], doc("How | why.")] = "fast"
    token: Annotated[str, secret("The demo's own key.")] = "hunter2-default"


class Undocumented(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    port: Annotated[int, doc("Where to listen.")] = 8000
    retries: int = 3  # planted: no description


class Retyped(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://elsewhere"  # planted: a shared setting described by nobody


def own_problems(configs: dict[str, type[msgspec.Struct]]) -> list[str]:
    # Planted structs read only a few shared settings; the rest would be reported as unread.
    return [p for p in problems(configs) if not p.startswith("shared setting")]


def test_documented_structs_have_no_problems() -> None:
    assert own_problems({"demo": DemoConfig}) == []


def test_a_planted_field_without_a_description_is_caught() -> None:
    found = own_problems({"demo": Undocumented})
    assert len(found) == 1
    assert "Undocumented.retries" in found[0]
    assert "FORGE_DEMO_RETRIES" in found[0]


def test_a_shared_setting_not_typed_with_its_alias_is_caught() -> None:
    found = own_problems({"demo": Retyped})
    assert len(found) == 1
    assert "Retyped.nats_url is shared" in found[0]


def test_a_shared_entry_no_struct_reads_is_caught() -> None:
    unread = [p for p in problems({"demo": DemoConfig}) if p.startswith("shared setting")]
    assert any("secret_keys" in p for p in unread)
    assert not any("nats_url" in p for p in unread)


def test_the_service_table_lists_own_settings_and_names_the_shared_ones() -> None:
    table = service_table("demo", DemoConfig)
    assert "| `FORGE_DEMO_PORT` | integer ≥ 1 | `8000` | Where to listen. |" in table
    assert "| `FORGE_DEMO_MODE` | `fast` \\| `safe` | `fast` | How \\| why. |" in table
    assert "`FORGE_NATS_URL`, `FORGE_LOG_LEVEL`, `FORGE_JWT_SECRET`." in table
    assert "FORGE_DEMO_NATS_URL" not in table


def test_a_secret_default_is_never_printed() -> None:
    table = service_table("demo", DemoConfig)
    shared = settings_doc.shared_table({"demo": DemoConfig})
    assert "hunter2" not in table
    assert "| `FORGE_DEMO_TOKEN` | string | *(secret: not shown)* |" in table
    assert "| `FORGE_JWT_SECRET` | string | *(secret: not shown)* |" in shared


def test_shared_settings_are_listed_once_with_their_readers_and_differing_defaults() -> None:
    class Other(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        nats_url: NatsUrl = "nats://other:4222"

    shared = settings_doc.shared_table({"demo": DemoConfig, "other_svc": Other})
    rows = [line for line in shared.splitlines() if line.startswith("| `FORGE_NATS_URL`")]
    assert len(rows) == 1
    assert "demo: `nats://127.0.0.1:4222`; other-svc: `nats://other:4222`" in rows[0]
    assert "| demo, other-svc |" in rows[0]


def write_docs(root: Path, readme: str) -> dict[str, str]:
    (root / "docs").mkdir()
    (root / settings_doc.SHARED_DOC).write_text(f"# Settings\n\n{BEGIN}\n{END}\n")
    (root / "README.md").write_text(readme)
    return {"demo": "README.md"}


def test_a_readme_whose_table_is_stale_is_reported_until_written(tmp_path: Path) -> None:
    readmes = write_docs(tmp_path, f"# demo\n\n## Settings\n\n{BEGIN}\n| old |\n{END}\n\nafter\n")
    configs: dict[str, type[msgspec.Struct]] = {"demo": DemoConfig}
    assert drifted(tmp_path, configs, readmes) == [settings_doc.SHARED_DOC, "README.md"]
    for path, text in render(tmp_path, configs, readmes).items():
        path.write_text(text)
    assert drifted(tmp_path, configs, readmes) == []
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# demo\n\n## Settings\n\n")
    assert text.endswith(f"{END}\n\nafter\n")


def test_a_planted_field_makes_the_written_table_drift(tmp_path: Path) -> None:
    readmes = write_docs(tmp_path, f"{BEGIN}\n{END}\n")
    for path, text in render(tmp_path, {"demo": DemoConfig}, readmes).items():
        path.write_text(text)

    class Grown(DemoConfig, frozen=True, forbid_unknown_fields=True):
        workers: Annotated[int, doc("How many.")] = 4

    assert drifted(tmp_path, {"demo": Grown}, readmes) == ["README.md"]


def test_a_readme_without_markers_is_refused(tmp_path: Path) -> None:
    readmes = write_docs(tmp_path, "# demo\n\n| hand-written |\n")
    with pytest.raises(ValueError, match=r"README\.md: no <!-- settings:begin -->"):
        render(tmp_path, {"demo": DemoConfig}, readmes)


def test_every_shared_setting_has_a_description() -> None:
    for name, alias in SHARED.items():
        info = msgspec.inspect.type_info(alias)
        assert isinstance(info, msgspec.inspect.Metadata), name
        assert (info.extra_json_schema or {}).get("description"), name
