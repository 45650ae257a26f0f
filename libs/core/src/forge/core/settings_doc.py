"""The settings tables of the READMEs, written from the config structs (`make docs`).

`python -m forge.core.settings_doc` rewrites the text between the settings markers of each
service's README and of docs/settings.md (the shared settings, listed once); `--check` only says
which files differ, and what is missing from the structs (a field without a description, a
shared setting typed differently from its alias in forge.core.settings, a shared entry nobody
reads). The structs are named by import path, so core depends on no service.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
import msgspec.inspect as mi

from forge.core.settings import SHARED

BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"
SHARED_DOC = "docs/settings.md"

# service (its FORGE_<SERVICE>_ prefix) -> the struct, and the README its table goes into.
CONFIGS: dict[str, tuple[str, str | None]] = {
    "edge": ("forge.edge.config:EdgeConfig", "services/edge/README.md"),
    "router": ("forge.router.config:RouterConfig", "services/router/README.md"),
    "registry": ("forge.registry.config:RegistryConfig", "services/registry/README.md"),
    "plugin_runner": (
        "forge.plugin_runner.config:PluginRunnerConfig",
        "services/plugin_runner/README.md",
    ),
    "upstream_proxy": (
        "forge.upstream_proxy.config:UpstreamProxyConfig",
        "services/upstream_proxy/README.md",
    ),
    "a2a_bridge": ("forge.a2a_bridge.config:A2aBridgeConfig", "services/a2a_bridge/README.md"),
    # `forge translate --stdio` reads only shared settings: no table of its own.
    "translate": ("forge.cli.launching:LaunchConfig", None),
}


class Setting(msgspec.Struct, frozen=True):
    """One field of a config struct, as the tables show it."""

    name: str
    kind: mi.Type  # without its Metadata
    default: object  # msgspec.NODEFAULT when required
    description: str
    secret: bool
    shape: mi.Type  # the field's whole inspected type, Metadata included


def settings_of(cls: type[msgspec.Struct]) -> list[Setting]:
    info = mi.type_info(cls)
    fields = info.fields if isinstance(info, mi.StructType) else ()
    found = []
    for field in fields:
        kind, description, secret = field.type, "", False
        if isinstance(kind, mi.Metadata):
            description = str((kind.extra_json_schema or {}).get("description", ""))
            secret = bool((kind.extra or {}).get("secret"))
            kind = kind.type
        found.append(Setting(field.name, kind, field.default, description, secret, field.type))
    return found


def problems(configs: Mapping[str, type[msgspec.Struct]]) -> list[str]:
    """What keeps the structs from being the whole truth about the settings."""
    found = []
    read: set[str] = set()
    for service, cls in configs.items():
        for s in settings_of(cls):
            if s.name in SHARED:
                read.add(s.name)
                if s.shape != mi.type_info(SHARED[s.name]):
                    found.append(
                        f"{cls.__qualname__}.{s.name} is shared: type it with its alias in "
                        "forge.core.settings"
                    )
            elif not s.description:
                found.append(
                    f"{cls.__qualname__}.{s.name} (FORGE_{service.upper()}_{s.name.upper()}) "
                    "has no description: Annotated[..., doc('...')]"
                )
    found += [
        f"shared setting {name} is read by no config struct: remove it from "
        "forge.core.settings.SHARED"
        for name in sorted(set(SHARED) - read)
    ]
    return found


def service_table(service: str, cls: type[msgspec.Struct]) -> str:
    prefix = f"FORGE_{service.upper()}_"
    own = [s for s in settings_of(cls) if s.name not in SHARED]
    shared = [s for s in settings_of(cls) if s.name in SHARED]
    lines = [
        f"Written by `make docs` from `{cls.__module__}.{cls.__qualname__}`: edit the "
        "descriptions there.",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{prefix}{s.name.upper()}` | {_type(s.kind)} | {_default(s)} | {_cell(s.description)} |"
        for s in own
    ]
    if shared:
        names = ", ".join(f"`FORGE_{s.name.upper()}`" for s in shared)
        lines += [
            "",
            f"Shared settings it reads ([docs/settings.md](../../{SHARED_DOC}); "
            f"`{prefix}<NAME>` sets one for this service alone): {names}.",
        ]
    return "\n".join(lines)


def shared_table(configs: Mapping[str, type[msgspec.Struct]]) -> str:
    readers: dict[str, list[tuple[str, Setting]]] = {name: [] for name in SHARED}
    for service, cls in configs.items():
        for s in settings_of(cls):
            if s.name in SHARED:
                readers[s.name].append((service, s))
    lines = [
        "Written by `make docs` from `forge.core.settings`: edit the descriptions there.",
        "",
        "| variable | type | default | read by | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, users in readers.items():
        if not users:
            continue
        first = users[0][1]
        defaults = {_default(s) for _, s in users}
        if len(defaults) == 1:
            default = defaults.pop()
        else:
            default = "; ".join(f"{_display(svc)}: {_default(s)}" for svc, s in users)
        by = ", ".join(_display(svc) for svc, _ in users)
        lines.append(
            f"| `FORGE_{name.upper()}` | {_type(first.kind)} | {default} | {by} | "
            f"{_cell(first.description)} |"
        )
    return "\n".join(lines)


def replace_block(text: str, body: str, where: str) -> str:
    """`text` with what lies between the settings markers replaced by `body`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no {BEGIN} ... {END} markers")
    return f"{text[: start + len(BEGIN)]}\n{body}\n{text[end:]}"


def render(
    root: Path, configs: Mapping[str, type[msgspec.Struct]], readmes: Mapping[str, str]
) -> dict[Path, str]:
    """Each file with its settings block as the structs would write it."""
    files = {root / SHARED_DOC: shared_table(configs)}
    for service, readme in readmes.items():
        files[root / readme] = service_table(service, configs[service])
    return {
        path: replace_block(_read(path), body, str(path.relative_to(root)))
        for path, body in files.items()
    }


def drifted(
    root: Path, configs: Mapping[str, type[msgspec.Struct]], readmes: Mapping[str, str]
) -> list[str]:
    """The files whose settings block differs from what `make docs` would write."""
    return [
        str(path.relative_to(root))
        for path, text in render(root, configs, readmes).items()
        if _read(path) != text
    ]


def load_configs() -> dict[str, type[msgspec.Struct]]:
    found = {}
    for service, (target, _) in CONFIGS.items():
        module, name = target.split(":")
        found[service] = getattr(importlib.import_module(module), name)
    return found


README = {service: readme for service, (_, readme) in CONFIGS.items() if readme is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forge.core.settings_doc")
    parser.add_argument("--check", action="store_true", help="only report drift")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    configs = load_configs()
    wrong = problems(configs)
    for line in wrong:
        print(f"settings: {line}", file=sys.stderr)
    try:
        files = render(args.root, configs, README)
    except ValueError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, text in files.items() if _read(path) != text]
    if args.check or wrong:
        for path in stale:
            print(f"settings: {path.relative_to(args.root)} is out of date: run `make docs`")
        return 1 if wrong or stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"settings: wrote {path.relative_to(args.root)}")
    return 0


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _display(service: str) -> str:
    return "`forge translate`" if service == "translate" else service.replace("_", "-")


def _type(kind: mi.Type) -> str:
    if isinstance(kind, mi.LiteralType):
        return " \\| ".join(f"`{v}`" for v in kind.values)
    names = {mi.StrType: "string", mi.IntType: "integer", mi.FloatType: "number"}
    if isinstance(kind, mi.BoolType):
        return "boolean"
    if isinstance(kind, mi.StrType | mi.IntType | mi.FloatType):
        text = names[type(kind)]
        bounds = []
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(kind, attr, None)
            if value is not None:
                bounds.append(f"{sign} {value}")
        return f"{text} {', '.join(bounds)}" if bounds else text
    return type(kind).__name__


def _default(s: Setting) -> str:
    if s.default is msgspec.NODEFAULT:
        return "required"
    if s.secret:
        return "*(secret: not shown)*"
    if s.default == "":
        return "empty"
    if isinstance(s.default, bool):
        return f"`{str(s.default).lower()}`"
    if isinstance(s.default, int) and s.name.endswith("_bytes") and s.default % 2**20 == 0:
        return f"`{s.default}` ({s.default // 2**20} MiB)"
    return f"`{s.default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.exit(main())
