"""The check that keeps libs/proto the one owner of the messages that cross NATS.

Every `msgspec.Struct` defined in Forge's sources outside libs/proto is reported unless it is:

- a configuration struct (`forbid_unknown_fields=True`): wire types must tolerate unknown fields
  (rolling upgrades), so a struct that forbids them cannot be one; or
- on `IN_PROCESS`, the short list of structs that never travel on NATS (sealed tokens handed to
  clients, an upstream's or a client's own HTTP messages, in-memory values), each with why.

A struct is recognised by its bases: `msgspec.Struct`, `Struct` imported from msgspec, or a class
the scan already recognised (params inheriting shared members). An entry of `IN_PROCESS` that no
longer names a struct is reported too, so the list stays true.

`python -m forge.testing.wire_types` runs the check (exit 1 naming each offender).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from forge.testing.sources import ROOT, python_files

PROTO = Path("libs/proto/src")

# "<path under the root>:<class>" → why it never crosses NATS.
IN_PROCESS: dict[str, str] = {
    "libs/core/src/forge/core/tasks.py:Tagged": (
        "what a task id a client holds says, decoded where the id is read"
    ),
    "services/edge/src/forge/edge/rest/openapi.py:TeamQuery": (
        "describes a REST query string in the OpenAPI document"
    ),
    "services/edge/src/forge/edge/rest/openapi.py:OAuthCallbackQuery": (
        "describes an OAuth redirect's query string in the OpenAPI document"
    ),
    "services/edge/src/forge/edge/rest/openapi.py:JsonRpc": (
        "describes a client's JSON-RPC body in the OpenAPI document"
    ),
    "libs/core/src/forge/core/tracing.py:_Arguments": (
        "reads only a tools/call's arguments out of params already received, for a span attribute"
    ),
    "services/a2a_bridge/src/forge/a2a_bridge/asking.py:_State": (
        "encoded into the requestState a modern client holds and sends back (the bridge reads it)"
    ),
    "services/a2a_bridge/src/forge/a2a_bridge/tokens.py:_Token": (
        "an OAuth token endpoint's answer, over HTTP"
    ),
    "services/a2a_bridge/src/forge/a2a_bridge/tokens.py:_Error": (
        "an OAuth token endpoint's error answer, over HTTP"
    ),
    "services/edge/src/forge/edge/rest/identity.py:_Claims": (
        "the expiry read from the caller's own JWT, at the edge"
    ),
    "services/edge/src/forge/edge/transports/messages.py:Request": (
        "a client's JSON-RPC message, over HTTP"
    ),
    "services/edge/src/forge/edge/transports/messages.py:ClientResponse": (
        "a client's JSON-RPC response, over HTTP"
    ),
    "services/edge/src/forge/edge/transports/messages.py:_Cancelled": (
        "a client's notifications/cancelled, over HTTP"
    ),
    "services/edge/src/forge/edge/rest/rbac.py:CheckBody": "a REST request body",
    "services/edge/src/forge/edge/transports/sessions.py:SessionState": (
        "sealed into the legacy session id the client holds; never stored or sent between services"
    ),
    "services/edge/src/forge/edge/rest/sso.py:FlowState": "sealed into the SSO flow's cookie",
    "services/edge/src/forge/edge/rest/upstream_oauth.py:OAuthState": (
        "sealed into the OAuth redirect's state parameter"
    ),
    "services/router/src/forge/router/pages.py:Listing": "an in-memory list and its digest",
    "services/upstream_proxy/src/forge/upstream_proxy/sessions/discovery.py:_Tools": (
        "an upstream's tools/list page, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/sessions/discovery.py:_Resources": (
        "an upstream's resources/list page, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/sessions/discovery.py:_Templates": (
        "an upstream's resources/templates/list page, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/sessions/discovery.py:_Prompts": (
        "an upstream's prompts/list page, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/transports/codec.py:Initialized": (
        "an upstream's initialize result, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/eras/mrtr.py:_InputRequired": (
        "an upstream's input_required result, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/eras/mrtr.py:_InputRequest": (
        "one request inside an upstream's input_required result"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/transports/streamable.py:_Discovered": (
        "an upstream's server/discover result, over its transport"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/auth/oauth.py:TokenResponse": (
        "an authorization server's token response, over HTTP"
    ),
    "services/upstream_proxy/src/forge/upstream_proxy/auth/oauth.py:_ErrorBody": (
        "an authorization server's error response, over HTTP"
    ),
    "plugins/src/forge/plugins/external.py:_Verdict": "an external plugin server's HTTP answer",
    "plugins/src/forge/plugins/inline.py:InlineChain": (
        "crosses NATS only inside forge.proto.plugins.Manifest.inline, left raw there: its"
        " entries are forge.plugins' configuration structs, which only forge.plugins reads"
    ),
    "libs/core/src/forge/core/settings_doc.py:Setting": (
        "a row of the generated settings tables (make docs)"
    ),
}


@dataclass(frozen=True)
class Found:
    """A struct defined outside libs/proto, where it is defined."""

    path: str  # relative to the root, with /
    line: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.name}"


def source_files(root: Path = ROOT) -> Iterator[Path]:
    """Forge's sources but libs/proto."""
    return python_files(root, skip=(PROTO,))


def _struct_names(tree: ast.Module) -> set[str]:
    """The names `Struct` is imported under (`from msgspec import Struct [as S]`)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "msgspec"
        for alias in node.names
        if alias.name == "Struct"
    }


def _is_struct(base: ast.expr, direct: set[str], known: set[str]) -> bool:
    if isinstance(base, ast.Attribute):
        return base.attr == "Struct" and ast.unparse(base.value) == "msgspec"
    if isinstance(base, ast.Name):
        return base.id in direct or base.id in known
    return False


def _forbids_unknown_fields(node: ast.ClassDef) -> bool:
    return any(
        kw.arg == "forbid_unknown_fields"
        and isinstance(kw.value, ast.Constant)
        and kw.value.value is True
        for kw in node.keywords
    )


def structs_in(source: str, path: str, known: set[str] | None = None) -> Iterator[Found]:
    """The non-configuration structs `source` defines (`known`: struct names seen before,
    grown with this file's)."""
    known = set() if known is None else known
    tree = ast.parse(source)
    direct = _struct_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(_is_struct(base, direct, known) for base in node.bases):
            continue
        known.add(node.name)
        if not _forbids_unknown_fields(node):
            yield Found(path, node.lineno, node.name)


def problems(
    files: Iterable[Path], root: Path = ROOT, allowed: dict[str, str] = IN_PROCESS
) -> list[str]:
    """What is wrong: each struct that may cross NATS outside libs/proto, and each stale entry
    of `allowed`."""
    found: list[Found] = []
    known: set[str] = set()
    for path in files:
        found.extend(structs_in(path.read_text(), path.relative_to(root).as_posix(), known))
    out = [
        f"{f.path}:{f.line}: {f.name} is a msgspec.Struct outside libs/proto: if it crosses"
        " NATS, define it in forge.proto; if it never does, add it to IN_PROCESS with why"
        for f in found
        if f.key not in allowed
    ]
    keys = {f.key for f in found}
    out += [f"IN_PROCESS names {key}, which is no struct now" for key in allowed if key not in keys]
    return out


def main() -> int:
    found = problems(source_files())
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
