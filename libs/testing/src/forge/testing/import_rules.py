"""The check that keeps Forge's import arrows pointing down (docs/architecture.md, "Import rules").

Every `import` and `from ... import` in Forge's sources and tests counts, wherever it stands:
inside a function, or under `if TYPE_CHECKING:` (a type-only cycle is still two modules that
cannot be understood apart). Reported:

- an arrow between components that `ARROWS` does not allow: `forge.<component>` is the second
  part of a module's name, and a folder under services/ makes its component a service (one
  module of a service may import one of another's where `SERVICE_IMPORTS` says why). A
  component's tests (services/<name>/tests, libs/<name>/tests, ...) follow its arrows, plus
  `TEST_EXTRAS`; tests/ and bench/ are cross-service and import anything;
- a database or bus driver imported outside its owner (`DRIVERS`): `nats` in `forge.core.bus`
  alone, `asyncpg` in a service's store modules alone (named `store`, or `pg`, what the stores
  share); a component's tests may use the driver its own sources may;
- an import cycle between modules of the sources (each strongly connected set once);
- inside a layered package (`LAYERS`), a layer's module importing a module of a layer above it;
- a module named by import path in a string (`"forge.edge.config:EdgeConfig"`, or
  `importlib.import_module("forge...")`) against the arrows, unless `DYNAMIC` allows it with
  why; a module so allowed must be imported by no source module, so it stays a tool.

`python -m forge.testing.import_rules` runs the check (exit 1 naming each offender).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from forge.testing.sources import ROOT, folders

SOURCES = ("libs/*/src", "services/*/src", "plugins/src", "cli/src", "servers/src", "agents/src")
# A component's own tests: the folder beside its src/.
COMPONENT_TESTS = (
    "libs/*/tests",
    "services/*/tests",
    "plugins/tests",
    "cli/tests",
    "servers/tests",
    "agents/tests",
)
CROSS_TESTS = ("tests", "bench")

SERVICES = "<services>"  # every service, in ARROWS
# component -> the components its sources may import. Services sit on top of the libraries;
# `cli` starts the mesh (it may import services to run them, today it starts them as processes);
# `testing` is the harness, for tests only: it may import anything, and no source imports it.
ARROWS: dict[str, frozenset[str]] = {
    "proto": frozenset(),
    "core": frozenset({"proto"}),
    "embedded": frozenset(),
    "plugins": frozenset({"core", "proto"}),
    "servers": frozenset(),  # stand-ins for other people's MCP servers: no Forge import
    "agents": frozenset(),  # stand-ins for other people's A2A agents: no Forge import
    SERVICES: frozenset({"plugins", "core", "proto"}),
    "cli": frozenset({SERVICES, "plugins", "core", "proto", "embedded", "servers", "agents"}),
}
ANYTHING = frozenset({"testing"})
# What a component's tests may import besides what its sources may: the harness, the embedded
# servers, the sample MCP servers and A2A agents, and the `forge` command's helpers (minting a
# token).
TEST_EXTRAS = frozenset({"testing", "embedded", "servers", "agents", "cli"})

# (module, the other service's module it imports) -> why: the only arrows between services, each
# a decision. Only that one module may import only that one module (its own imports follow).
SERVICE_IMPORTS: dict[tuple[str, str], str] = {
    ("forge.edge.local_router", "forge.router.app"): (
        "FORGE_EDGE_ROUTER=local: the edge runs the router's machinery in its own process and"
        " calls its handler directly (docs/decisions/0033-edge-local-routing.md); the router's"
        " wiring, not a copy of it"
    ),
    ("forge.edge.local_router", "forge.router.config"): (
        "the local router's settings, read as the router service reads them (FORGE_ROUTER_*)"
    ),
    ("forge.edge.local_router", "forge.upstream_proxy.local"): (
        "FORGE_EDGE_UPSTREAM=local: the upstream-proxy's call path in the edge's process for"
        " credential-free network gateways (docs/decisions/0035-edge-local-upstream-calls.md)"
    ),
    ("forge.edge.local_router", "forge.upstream_proxy.config"): (
        "the local upstream's settings, read as the upstream-proxy reads them"
        " (FORGE_UPSTREAM_PROXY_*)"
    ),
}

# A service's store modules: `store` (one per database) and `pg`, the pool and migrations they
# share (forge.registry.pg). Nothing else in a service may see the driver.
STORES = frozenset({"store", "pg"})
BUS = "forge.core.bus"


def _bus(module: str, service: bool) -> bool:
    return module == BUS


def _store(module: str, service: bool) -> bool:
    return service and module.rsplit(".", 1)[-1] in STORES


# driver -> whether a source module (its dotted name; whether its component is a service) may
# import it.
DRIVERS: dict[str, Callable[[str, bool], bool]] = {"nats": _bus, "asyncpg": _store}
OWNERS = {"nats": BUS, "asyncpg": "a service's store modules (store, pg)"}

# "<path under the root>" -> why it may name another component's module in a string.
DYNAMIC: dict[str, str] = {
    "libs/core/src/forge/core/settings_doc.py": (
        "the settings tables' writer (make docs, make lint) reads each service's config struct;"
        " run as python -m, imported by no service"
    ),
}

# package -> its layers, top first: a module of a layer (`<package>.<layer>`, or a module under it)
# may import its own layer and those below, never one above. The package's other modules (app,
# config, ...) stand outside the layers.
LAYERS: dict[str, tuple[str, ...]] = {
    # handler -> era adapter (client era to upstream era, held calls) -> pooled session ->
    # transport; the credentials every transport sends sit below them all.
    "forge.upstream_proxy": ("handlers", "eras", "sessions", "transports", "auth"),
    # REST routes -> MCP transports -> who the caller is; app, state, http, inputs, hooks sit
    # outside the layers (each layer may use them).
    "forge.edge": ("rest", "transports", "auth"),
}

# A whole string of the form "forge.<module>:<attribute>" (how entry points and loaders name one).
_NAMED = re.compile(r"(forge(?:\.\w+)+):[A-Za-z_]\w*")


@dataclass
class Module:
    """One Python file: its dotted name, its component, what it imports and names."""

    path: str  # relative to the root, with /
    name: str
    component: str
    owner: str  # whose arrows apply: its component, a test folder's, or "" (cross-service)
    test: bool
    # (line, dotted name); `from a import b` gives ("a", "b"): `a.b` when that is a module
    imports: list[tuple[int, str, str]] = field(default_factory=list)
    named: list[tuple[int, str]] = field(default_factory=list)  # modules named in strings

    def targets(self, modules: set[str]) -> Iterator[tuple[int, str]]:
        """(line, module) of each import, `from a import b` resolved to `a.b` if it is one."""
        for line, base, name in self.imports:
            full = f"{base}.{name}" if name else base
            yield line, full if full in modules or not name else base


def _dotted(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, name: str, package: bool) -> Iterator[tuple[int, str, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package up
                parts = name.split(".")
                up = parts[: len(parts) - node.level + (1 if package else 0)]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                yield node.lineno, base, alias.name if alias.name != "*" else ""


def _named(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if found := _NAMED.fullmatch(node.value):
                yield node.lineno, found.group(1)
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def _component(name: str) -> str:
    parts = name.split(".")
    return parts[1] if parts[0] == "forge" and len(parts) > 1 else ""


def scan(root: Path = ROOT) -> tuple[list[Module], set[str]]:
    """Every module of the sources and tests, and the names of the services."""
    services = {p.parent.parent.name for p in root.glob("services/*/src/forge")}
    found: list[Module] = []

    def read(path: Path, name: str, owner: str, test: bool) -> None:
        tree = ast.parse(path.read_text(), str(path))
        relative = path.relative_to(root).as_posix()
        module = Module(relative, name, _component(name), owner, test)
        module.imports = list(_imports(tree, name, path.name == "__init__.py"))
        module.named = list(_named(tree))
        found.append(module)

    for src in folders(root, SOURCES):
        for path in sorted(src.rglob("*.py")):
            name = _dotted(path, src)
            read(path, name, _component(name), False)
    for tests in folders(root, COMPONENT_TESTS):
        for path in sorted(tests.rglob("*.py")):  # libs/proto/tests are proto's, and so on
            read(path, _dotted(path, root), tests.parent.name, True)
    for tests in folders(root, CROSS_TESTS):
        for path in sorted(p for p in tests.rglob("*.py") if "node_modules" not in p.parts):
            read(path, _dotted(path, root), "", True)
    return found, services


def allowed(source: str, target: str, services: set[str], test: bool = False) -> bool:
    """Whether component `source` (its tests when `test`; "" is cross-service) may import
    component `target`."""
    if source == target or source in ANYTHING or not source:
        return True
    arrows = ARROWS.get(SERVICES if source in services else source, frozenset())
    if test:
        arrows |= TEST_EXTRAS
    return target in arrows or (SERVICES in arrows and target in services)


def cycles(modules: Iterable[Module]) -> list[list[str]]:
    """The import cycles among source modules: each strongly connected set, sorted (Tarjan)."""
    sources = {m.name: m for m in modules if not m.test}
    names = set(sources)
    graph = {
        name: sorted({t for _, t in m.targets(names) if t in names and t != name})
        for name, m in sources.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for start in sorted(graph):
        if start in index:
            continue
        # Iterative, so a long chain of imports cannot exhaust Python's recursion.
        enter(start)
        work = [(start, iter(graph[start]))]
        while work:
            current, edges = work[-1]
            step = next(edges, None)
            if step is not None and step not in index:
                enter(step)
                work.append((step, iter(graph[step])))
            elif step is not None:
                if step in on_stack:
                    low[current] = min(low[current], index[step])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[current])
                if low[current] == index[current]:
                    group: list[str] = []
                    while not group or group[-1] != current:
                        group.append(stack.pop())
                        on_stack.discard(group[-1])
                    if len(group) > 1:
                        found.append(sorted(group))
    return sorted(found)


def _layer(name: str, layers: dict[str, tuple[str, ...]]) -> tuple[str, int] | None:
    """The layered package a module is in, and its layer's depth (0 is the top)."""
    for package, order in layers.items():
        if name.startswith(package + "."):
            layer = name[len(package) + 1 :].split(".")[0]
            if layer in order:
                return package, order.index(layer)
    return None


def layer_problems(
    modules: Iterable[Module], layers: dict[str, tuple[str, ...]] = LAYERS
) -> list[str]:
    """Each import of a layer above the importer's own, and each layer that is no module now."""
    sources = [m for m in modules if not m.test]
    names = {m.name for m in sources}
    out: list[str] = []
    for m in sources:
        own = _layer(m.name, layers)
        if own is None:
            continue
        for line, target in m.targets(names):
            other = _layer(target, layers)
            if other is not None and other[0] == own[0] and other[1] < own[1]:
                arrows = " -> ".join(layers[own[0]])
                out.append(
                    f"{m.path}:{line}: imports {target}, a layer above its own"
                    f" (LAYERS: {arrows}, calls only downward)"
                )
    for package, order in layers.items():
        for layer in order:
            if f"{package}.{layer}" not in names:
                out.append(f"LAYERS names {package}.{layer}, which is no module now")
    return out


def _may_use(driver: str, m: Module, services: set[str], owners: dict[str, set[str]]) -> bool:
    if m.test:  # a component's tests may use what its sources may (a store's tests, its tables)
        return m.owner in owners[driver]
    return DRIVERS[driver](m.name, m.component in services)


def problems(
    root: Path = ROOT,
    dynamic: dict[str, str] = DYNAMIC,
    layers: dict[str, tuple[str, ...]] = LAYERS,
    service_imports: dict[tuple[str, str], str] = SERVICE_IMPORTS,
) -> list[str]:
    """What is wrong, one line each, naming the file and line."""
    modules, services = scan(root)
    names = {m.name for m in modules if not m.test}
    owners = {
        driver: {m.component for m in modules if not m.test and ok(m.name, m.component in services)}
        for driver, ok in DRIVERS.items()
    }
    tools = {m.name for m in modules if m.path in dynamic}
    out: list[str] = []
    for m in modules:
        for line, target in m.targets(names):
            top, other = target.split(".")[0], _component(target)
            if top in DRIVERS and not _may_use(top, m, services, owners):
                out.append(f"{m.path}:{line}: imports {top}, which only {OWNERS[top]} may")
            if (
                target in names
                and not allowed(m.owner, other, services, m.test)
                and (m.test or (m.name, target) not in service_imports)
            ):
                out.append(f"{m.path}:{line}: {_who(m, services)} imports {target}: {_why(m)}")
            if target in tools and not m.test:
                out.append(
                    f"{m.path}:{line}: imports {target}, which DYNAMIC lets name other"
                    " components: run it (python -m), do not import it"
                )
        for line, target in m.named:
            if m.path not in dynamic and not allowed(m.owner, _component(target), services, m.test):
                out.append(
                    f"{m.path}:{line}: names {target} by import path against the arrows;"
                    " if it must, add it to DYNAMIC with why"
                )
    paths = {m.path for m in modules}
    out += [f"DYNAMIC names {p}, which is no module now" for p in dynamic if p not in paths]
    out += [
        f"SERVICE_IMPORTS names {source} -> {target}, which is no import now"
        for source, target in service_imports
        if not any(
            m.name == source and target in {t for _, t in m.targets(names)}
            for m in modules
            if not m.test
        )
    ]
    out += layer_problems(modules, layers)
    out += [f"import cycle: {' -> '.join([*group, group[0]])}" for group in cycles(modules)]
    return list(dict.fromkeys(out))


def _who(m: Module, services: set[str]) -> str:
    kind = "service" if m.owner in services else "component"
    return f"{kind} {m.owner}'s {'tests' if m.test else 'module'}"


def _why(m: Module) -> str:
    if m.test:
        return "a test of two services belongs in tests/ (cross-service) or talks over the bus"
    return "arrows point down only (services -> plugins -> core -> proto; ARROWS)"


def main() -> int:
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
