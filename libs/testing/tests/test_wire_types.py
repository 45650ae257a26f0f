"""The wire-type check: the tree passes it, and it fails on a struct planted outside libs/proto
and on an allow-list entry that names nothing."""

from __future__ import annotations

from pathlib import Path

from forge.testing import wire_types
from forge.testing.wire_types import problems, source_files, structs_in


def _plant(root: Path, relative: str, source: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def test_no_struct_that_may_cross_nats_is_defined_outside_libs_proto() -> None:
    assert problems(source_files()) == []


def test_a_struct_planted_in_a_service_is_reported_with_its_place(tmp_path: Path) -> None:
    planted = _plant(
        tmp_path,
        "services/router/src/forge/router/replies.py",
        "import msgspec\n\n\nclass HookReply(msgspec.Struct, frozen=True):\n    modified: bool\n",
    )
    _plant(
        tmp_path,
        "libs/proto/src/forge/proto/plugins.py",
        "import msgspec\n\n\nclass HookReply(msgspec.Struct, frozen=True):\n    modified: bool\n",
    )
    files = list(source_files(tmp_path))
    assert files == [planted]  # libs/proto is where they belong: not scanned
    [problem] = problems(files, tmp_path, allowed={})
    assert problem.startswith("services/router/src/forge/router/replies.py:4: HookReply ")


def test_every_way_of_naming_struct_is_recognised_and_config_structs_are_not() -> None:
    source = """
import msgspec
from msgspec import Struct as S

class Direct(msgspec.Struct):
    a: int

class Imported(S, frozen=True):
    a: int

class Inherited(Direct, kw_only=True):
    b: int

class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    port: int

class Plain:
    pass
"""
    names = [f.name for f in structs_in(source, "services/x/src/forge/x/m.py")]
    assert names == ["Direct", "Imported", "Inherited"]


def test_a_struct_inheriting_one_from_another_module_is_recognised(tmp_path: Path) -> None:
    base = _plant(
        tmp_path,
        "services/registry/src/forge/registry/a.py",
        "import msgspec\n\n\nclass Shared(msgspec.Struct):\n    a: int\n",
    )
    child = _plant(
        tmp_path,
        "services/registry/src/forge/registry/b.py",
        "from forge.registry.a import Shared\n\n\nclass Params(Shared):\n    b: int\n",
    )
    allowed = {"services/registry/src/forge/registry/a.py:Shared": "in-process"}
    assert [p.split(": ")[1].split()[0] for p in problems([base, child], tmp_path, allowed)] == [
        "Params"
    ]


def test_an_allowed_struct_passes_and_a_stale_allowance_is_reported(tmp_path: Path) -> None:
    path = _plant(
        tmp_path,
        "services/edge/src/forge/edge/cookies.py",
        "import msgspec\n\n\nclass FlowState(msgspec.Struct):\n    nonce: str\n",
    )
    allowed = {"services/edge/src/forge/edge/cookies.py:FlowState": "sealed into a cookie"}
    assert problems([path], tmp_path, allowed) == []
    allowed["services/edge/src/forge/edge/gone.py:Old"] = "moved away"
    assert problems([path], tmp_path, allowed) == [
        "IN_PROCESS names services/edge/src/forge/edge/gone.py:Old, which is no struct now"
    ]


def test_every_allowance_says_why() -> None:
    assert all(reason.strip() for reason in wire_types.IN_PROCESS.values())
