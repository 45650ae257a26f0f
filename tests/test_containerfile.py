"""The Containerfile, checked without a container daemon (this machine has the docker CLI only,
so the image is not built here; docs/deployment.md): it parses into stages of known
instructions, every file it copies from the build context exists and is not ignored, the
runtime stage runs as a fixed non-root user with only the virtual environment from the build
stage and no build tools, /tmp is its one declared writable path, and its entrypoint is
`forge run`, a command the workspace installs, with a service it knows as the default."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from forge.cli.mesh import SERVICES

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {
    "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "EXPOSE", "VOLUME",
    "ENTRYPOINT", "CMD", "LABEL", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD",
}  # fmt: skip
BUILD_TOOLS = ("gcc", "cargo", "rustc", "rustup", "maturin", "uv ", "make", "build-essential")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str
    body: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.body if i.keyword == keyword]


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Dockerfile syntax as far as this file uses it: comments, `\\` continuations, stages."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, args = whole.partition(" ")
        assert keyword.upper() == keyword, f"line {start}: write instructions in upper case"
        assert keyword in KNOWN, f"line {start}: unknown instruction {keyword}"
        instructions.append(Instruction(keyword, args.strip(), start))
    assert not pending, "the file ends inside a continued instruction"
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].body.append(instruction)
        else:
            assert instruction.keyword == "ARG", f"line {instruction.line}: before any FROM"
    return instructions, stages


TEXT = (ROOT / "Containerfile").read_text()
INSTRUCTIONS, STAGES = parse(TEXT)
RUNTIME = STAGES[-1]


def ignored(patterns: list[str], path: str) -> bool:
    """Whether the build context leaves `path` out (a pattern matches it or a parent)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix.split("/")[-1], bare):
                return True
    return False


def ignore_patterns(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def test_the_file_has_a_build_stage_and_a_runtime_stage_of_the_same_python() -> None:
    names = [stage.name for stage in STAGES]
    assert "build" in names and names[-1] == "runtime"
    build = STAGES[names.index("build")]
    assert build.base == RUNTIME.base == "${PYTHON_IMAGE}"  # the venv's interpreter path holds
    args = {
        i.args.split("=")[0]: i.args.split("=", 1)[1] for i in INSTRUCTIONS if i.keyword == "ARG"
    }
    assert re.fullmatch(r"\S+/python:3\.11-slim-\w+", args["PYTHON_IMAGE"])
    assert "maturin build" in " ".join(i.args for i in build.all("RUN"))
    assert "uv sync --locked" in " ".join(i.args for i in build.all("RUN"))


def test_every_file_copied_from_the_context_exists_and_is_not_ignored() -> None:
    patterns = ignore_patterns(".dockerignore")
    copied = 0
    for stage in STAGES:
        for copy in stage.all("COPY") + stage.all("ADD"):
            words = shlex.split(copy.args)
            if any(word.startswith("--from=") for word in words):
                continue
            sources = [word for word in words[:-1] if not word.startswith("--")]
            for source in sources:
                path = ROOT / source
                assert path.exists(), f"line {copy.line}: {source} is not in the repository"
                assert not ignored(patterns, source.rstrip("/")), f"{source} is ignored"
                copied += 1
    assert copied > 10
    # Each workspace member's manifest is copied before the sources (the dependency layer).
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    manifests = {str(p.relative_to(ROOT)) for g in members["members"] for p in ROOT.glob(g)}
    listed = {
        shlex.split(c.args)[0].removesuffix("/pyproject.toml")
        for c in STAGES[1].all("COPY")
        if shlex.split(c.args)[0].endswith("/pyproject.toml")
    }
    assert listed == {m for m in manifests if (ROOT / m / "pyproject.toml").exists()}


def test_the_ignore_files_are_the_same_and_keep_local_state_out() -> None:
    docker, container = ignore_patterns(".dockerignore"), ignore_patterns(".containerignore")
    assert docker == container
    for path in (".git", ".venv", ".forge", "rust/target", "cli/src/x/__pycache__", "compose/.env"):
        assert ignored(docker, path), path
    for path in ("uv.lock", "libs/core/src/forge/core/bus.py", "rust/Cargo.lock"):
        assert not ignored(docker, path), path


def test_the_runtime_stage_runs_as_a_fixed_non_root_user_without_build_tools() -> None:
    users = RUNTIME.all("USER")
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) != 0
    assert f"--uid {uid}" in " ".join(i.args for i in RUNTIME.all("RUN"))
    # Only the virtual environment comes from the build stage; nothing from the context.
    copies = RUNTIME.all("COPY") + RUNTIME.all("ADD")
    assert [shlex.split(c.args) for c in copies] == [["--from=build", "/opt/forge", "/opt/forge"]]
    for run in RUNTIME.all("RUN"):
        assert "apt-get install" not in run.args and "pip install" not in run.args
        for tool in BUILD_TOOLS:
            assert tool not in run.args, f"line {run.line}: {tool.strip()} in the runtime"
    assert "pip uninstall" in " ".join(i.args for i in RUNTIME.all("RUN"))


def test_tmp_is_the_one_writable_path_and_the_ports_are_the_documented_ones() -> None:
    volumes = [json.loads(v.args) for v in RUNTIME.all("VOLUME")]
    assert volumes == [["/tmp"]]
    env = " ".join(i.args for i in RUNTIME.all("ENV"))
    for setting in ("HOME=/tmp", "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", "FORGE_OPS_PORT=9464"):
        assert setting in env
    assert "UV_COMPILE_BYTECODE=1" in " ".join(i.args for i in STAGES[1].all("ENV"))
    assert [e.args.split() for e in RUNTIME.all("EXPOSE")] == [["4444", "9464"]]


def test_the_entrypoint_is_forge_run_with_a_known_service() -> None:
    assert exec_form(RUNTIME.all("ENTRYPOINT")[-1]) == ["forge", "run"]
    scripts = tomllib.loads((ROOT / "cli" / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["forge"] == "forge.cli.main:main"
    (default,) = exec_form(RUNTIME.all("CMD")[-1])
    assert default.replace("-", "_") in SERVICES
    assert RUNTIME.all("STOPSIGNAL")[-1].args == "SIGTERM"


@pytest.mark.parametrize(
    "bad",
    ["FROM a AS b\nRUN x \\\n", "from a\n", "FROM a\nCOPYY x y\n", "RUN x\nFROM a\n"],
)
def test_the_parser_refuses_a_broken_file(bad: str) -> None:
    with pytest.raises(AssertionError):
        parse(bad)
