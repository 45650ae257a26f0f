"""The documents stay inside the repository and true to the code: every file they link or name
exists in the repository, docs/architecture.md names every subject `forge.core.subjects`
builds, and every decision record has its form and a line in the index."""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Iterable, Iterator
from pathlib import Path

from forge.core import subjects

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = "docs/architecture.md"
DECISIONS = "docs/decisions"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
# [text](target) and ![alt](target), with an optional "title".
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A path to a Markdown file named in running text or in a code span (`docs/identity.md`,
# `../shared/ARCHITECTURE.md`): it must exist too. Not inside a URL or a <placeholder>.
NAMED = re.compile(r"(?<![\w/.:<>-])((?:\.{1,2}/)*[\w-][\w./-]*\.md)(?![\w/])")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
SKIPPED_DIRS = {"node_modules", "target"}


def documents(root: Path) -> list[Path]:
    """README.md, every Markdown file under docs/, and every README of a folder of the tree."""
    found = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for pattern in ("*/README.md", "*/*/README.md"):
        for path in sorted(root.glob(pattern)):
            parts = path.relative_to(root).parts
            if any(p.startswith(".") or p in SKIPPED_DIRS for p in parts) or path in found:
                continue
            found.append(path)
    return [path for path in found if path.is_file()]


def _prose(text: str) -> str:
    """The text without fenced code blocks (examples, not references)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(_prose(path.read_text(encoding="utf-8")))}


def _inside(root: Path, path: Path) -> bool:
    return path.is_relative_to(root) and path.is_file()


def broken_links(root: Path, path: Path) -> Iterator[str]:
    """What `path` links or names that is not a file of the repository at `root`."""
    root = root.resolve()
    text = _prose(path.read_text(encoding="utf-8"))
    where = path.relative_to(root)
    for target in LINK.findall(text):
        if SCHEME.match(target):
            continue  # a URL: not ours to check offline
        file_part, _, fragment = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not _inside(root, resolved):
            yield f"{where}: link {target!r} is not a file of the repository"
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            yield f"{where}: link {target!r} names no heading of {resolved.relative_to(root)}"
    for named in NAMED.findall(LINK.sub("", text)):
        candidates = [(path.parent / named).resolve(), (root / named).resolve()]
        if not any(_inside(root, c) for c in candidates):
            yield f"{where}: {named!r} is not a file of the repository"


def subject_names(module: types.ModuleType) -> dict[str, str | None]:
    """Each public name of a subjects module → the subject it builds, written with `<parameter>`
    for each parameter (`forge.upstream.<gateway_id>.<op>`), or None for a name that builds no
    subject itself (a registry name, a reader such as `gateway_of`)."""
    names: dict[str, str | None] = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            params = [f"<{p}>" for p in inspect.signature(value).parameters]
            try:
                built = value(*params)
            except (IndexError, ValueError):
                built = None  # reads a subject back: `<subject>` has no parts to read
            names[f"{name}()"] = built if isinstance(built, str) and "." in built else None
        elif name.isupper() and isinstance(value, str):
            names[name] = value if value.startswith(("forge.", "_INBOX.")) else None
    return names


def unmentioned(names: dict[str, str | None], doc: str) -> list[str]:
    """The names, and the subjects they build, that `doc` does not mention."""
    missing = []
    for name, built in names.items():
        # As a word: `stream()` is not mentioned by `upstream()`, nor `CATALOG` by `CATALOG_EVENTS`.
        if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", doc):
            missing.append(name)
        if built is not None and built not in doc:
            missing.append(f"{built} ({name})")
    return missing


def decision_problems(folder: Path) -> Iterable[str]:
    """Each record `NNNN-name.md` is titled `# NNNN — ...`, has Status, Context, Decision and
    Consequences, and is linked from the folder's README.md index."""
    index = (folder / "README.md").read_text(encoding="utf-8")
    numbers: set[str] = set()
    for path in sorted(folder.glob("*.md")):
        if path.name == "README.md":
            continue
        number = path.name[:4]
        text = path.read_text(encoding="utf-8")
        if not re.fullmatch(r"\d{4}-[a-z0-9-]+\.md", path.name):
            yield f"{path.name}: not named NNNN-name.md"
        if number in numbers:
            yield f"{path.name}: number {number} is taken twice"
        numbers.add(number)
        if not text.startswith(f"# {number} — "):
            yield f"{path.name}: the title is not '# {number} — ...'"
        if not re.search(r"^Status: \S", text, re.MULTILINE):
            yield f"{path.name}: no 'Status:' line"
        for section in ("Context", "Decision", "Consequences"):
            if not re.search(rf"^## {section}\s*$", text, re.MULTILINE):
                yield f"{path.name}: no '## {section}' section"
        if f"({path.name})" not in index:
            yield f"{path.name}: not in the index, README.md"


# The documents of the repository.


def test_every_link_and_named_document_is_a_file_of_the_repository() -> None:
    docs = documents(ROOT)
    assert ROOT / ARCHITECTURE in docs and ROOT / "services/edge/README.md" in docs
    assert [problem for path in docs for problem in broken_links(ROOT, path)] == []


def test_the_architecture_names_every_subject_forge_core_subjects_builds() -> None:
    doc = (ROOT / ARCHITECTURE).read_text(encoding="utf-8")
    names = subject_names(subjects)
    assert names["upstream_oauth()"] == "forge.upstream.<gateway_id>.oauth"
    assert names["gateway_of()"] is None and names["CATALOG"] is None
    assert unmentioned(names, doc) == []


def test_the_readme_links_the_architecture_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/architecture.md)" in readme


def test_every_decision_record_has_its_form_and_a_line_in_the_index() -> None:
    assert list(decision_problems(ROOT / DECISIONS)) == []


# The checks themselves, on documents broken on purpose.


def test_links_that_leave_the_repository_or_miss_are_found(tmp_path: Path) -> None:
    (tmp_path / "outside.md").write_text("# outside\n")
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs/here.md").write_text("# Here\n\n## Inline chains\n")
    (root / "README.md").write_text(
        "[ok](docs/here.md) [anchor](docs/here.md#inline-chains) [web](https://example.com/x.md)\n"
        "[up](../outside.md) [gone](docs/gone.md) [bad anchor](docs/here.md#nowhere)\n"
        "See `../outside.md` and docs/here.md and `NNNN-<name>.md`.\n"
        "```\n[in a fence](nowhere.md)\n```\n"
    )
    found = list(broken_links(root, root / "README.md"))
    assert found == [
        "README.md: link '../outside.md' is not a file of the repository",
        "README.md: link 'docs/gone.md' is not a file of the repository",
        "README.md: link 'docs/here.md#nowhere' names no heading of docs/here.md",
        "README.md: '../outside.md' is not a file of the repository",
    ]


def test_a_subject_builder_the_architecture_does_not_name_is_found() -> None:
    fake = types.ModuleType("fake_subjects")
    exec(  # a subjects module with one builder more than the architecture knows
        "def agent_card(agent_id):\n    return f'forge.a2a.{agent_id}.card'\n"
        "def upstream(gateway_id, op):\n    return f'forge.upstream.{gateway_id}.{op}'\n"
        "AGENTS_ANY = 'forge.a2a.>'\nROUTER_RPC = 'forge.router.rpc'\n",
        fake.__dict__,
    )
    doc = (ROOT / ARCHITECTURE).read_text(encoding="utf-8")
    assert unmentioned(subject_names(fake), doc) == [
        "agent_card()",
        "forge.a2a.<agent_id>.card (agent_card())",
        "AGENTS_ANY",
        "forge.a2a.> (AGENTS_ANY)",
    ]
    assert unmentioned({"upstream()": "forge.upstream.<gateway_id>.<op>"}, "`upstream()`") == [
        "forge.upstream.<gateway_id>.<op> (upstream())"
    ]


def test_a_decision_record_without_its_form_or_index_line_is_found(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("| [0001](0001-good.md) | good |\n", encoding="utf-8")
    (tmp_path / "0001-good.md").write_text(
        "# 0001 — Good\n\nStatus: accepted\n\n## Context\n\n## Decision\n\n## Consequences\n",
        encoding="utf-8",
    )
    (tmp_path / "0002-bad.md").write_text("# Bad\n\n## Context\n\n## Decision\n", encoding="utf-8")
    assert list(decision_problems(tmp_path)) == [
        "0002-bad.md: the title is not '# 0002 — ...'",
        "0002-bad.md: no 'Status:' line",
        "0002-bad.md: no '## Consequences' section",
        "0002-bad.md: not in the index, README.md",
    ]
