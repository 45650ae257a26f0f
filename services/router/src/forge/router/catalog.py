"""The router's in-memory catalog: filled from a registry snapshot, kept fresh by events.

What a caller gets of an entry takes seeing it and holding the read permission of its kind on
the entry's team (`forge.proto.access.permits`): a role bound on one team reads that team's
entries only. Calls check `tools.execute` the same way (handlers, tasks).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import msgspec

from forge.proto import access
from forge.proto.agents import Agent, AgentsChanged
from forge.proto.catalog import (
    Deleted,
    Gateway,
    LeanSnapshot,
    LeanToolRecord,
    LeanToolsChanged,
    PromptRecord,
    PromptsChanged,
    ResourceRecord,
    ResourcesChanged,
    Server,
    Snapshot,
    TemplateRecord,
)
from forge.proto.envelope import Principal
from forge.router import uritemplate
from forge.router.pages import Listing
from forge.router.tool_index import ToolIndex

log = logging.getLogger("forge.router.catalog")

_GATEWAY = msgspec.json.Decoder(Gateway)
_AGENTS_CHANGED = msgspec.json.Decoder(AgentsChanged)
_SERVER = msgspec.json.Decoder(Server)
_TOOLS_CHANGED = msgspec.json.Decoder(LeanToolsChanged)
_LEAN_TOOLS = msgspec.json.Decoder(list[LeanToolRecord])
_ENC = msgspec.json.Encoder()
_RESOURCES_CHANGED = msgspec.json.Decoder(ResourcesChanged)
_PROMPTS_CHANGED = msgspec.json.Decoder(PromptsChanged)
_DELETED = msgspec.json.Decoder(Deleted)
R = TypeVar("R", LeanToolRecord, ResourceRecord, TemplateRecord, PromptRecord)
N = TypeVar("N", LeanToolRecord, PromptRecord)  # the kinds a server names
EVERYTHING = "*"  # the viewer class of admins and platform viewers
DEFAULT_MEMO_SIZE = 1024
# The permission each kind's entries are read with, by the server field that lists them.
READ = {
    "associated_tools": "tools.read",
    "associated_resources": "resources.read",
    "associated_prompts": "prompts.read",
}
_LISTED = {"tools": "associated_tools", "prompts": "associated_prompts"}  # else resources


def viewer(principal: Principal, permission: str) -> Hashable:
    """The principal's class for entries read with `permission`: principals of one class get
    the same list (they see the same entries and hold it on the same teams)."""
    held: bool | tuple[str, ...] = access.permits(principal, permission, None)
    if not held:  # held on some teams only
        granted = principal.team_permissions
        held = tuple(sorted(t for t in granted if access.permits(principal, permission, t)))
    if access.sees_everything(principal):
        return (EVERYTHING, held)
    return (principal.subject, tuple(sorted(principal.teams)), held)


def can_see(principal: Principal, entity: Any) -> bool:
    return access.can_see(principal, entity.owner, entity.team_id, entity.visibility)


def may(principal: Principal, entity: Any, permission: str | None) -> bool:
    """Whether the principal sees the entity and holds `permission` (if any) on its team."""
    if not can_see(principal, entity):
        return False
    return permission is None or access.permits(principal, permission, entity.team_id)


def _replace(by_id: dict[str, R], gateway_id: str, records: Iterable[R]) -> None:
    """Swap one gateway's records of one kind."""
    for gone in [k for k, r in by_id.items() if r.gateway_id == gateway_id]:
        del by_id[gone]
    by_id.update((r.id, r) for r in records)


class Catalog:
    """Name and uri resolution, and per-server lists, with the lists memoised until a change.

    What a principal cannot see does not exist for them. Name indexes are shared; lists are
    memoised per (server, visibility class) in a bounded memo, least recently used first out.
    """

    def __init__(self, memo_size: int = DEFAULT_MEMO_SIZE) -> None:
        self.gateways: dict[str, Gateway] = {}
        # A2A agents by id: an agent's tool has the agent's id as its gateway_id.
        self.agents: dict[str, Agent] = {}
        self._tools = ToolIndex()
        self.resources_by_id: dict[str, ResourceRecord] = {}
        self.templates_by_id: dict[str, TemplateRecord] = {}
        self.prompts_by_id: dict[str, PromptRecord] = {}
        self.servers: dict[str, Server] = {}
        self.loaded = False
        self._indexes: dict[str, dict[str, Any]] = {}  # by-name indexes, everyone's
        self._memo: OrderedDict[tuple[str, str | None, Hashable], Any] = OrderedDict()
        self.memo_size = memo_size
        # Which change of a gateway's tools is the latest (a paged event's fetch is swapped in
        # only while it still is): a number per change, and one per load.
        self._changes = 0
        self._loads = 0
        self._tool_changes: dict[str, int] = {}
        # A chunked change being received, by gateway: its id, the next chunk's number, the
        # records so far (None: a chunk went missing, the set is read at the final one).
        self._chunks: dict[str, tuple[str, int, list[LeanToolRecord] | None]] = {}

    @property
    def tools_by_id(self) -> dict[str, LeanToolRecord]:
        return self._tools.by_id

    @property
    def tools(self) -> dict[str, LeanToolRecord]:
        """Tools by exposed name."""
        return self._tools.by_name

    def _index(self, what: str, by_id: dict[str, Any]) -> dict[str, Any]:
        if what == "tools":
            return self._tools.by_name  # kept up to date per change
        found = self._indexes.get(what)
        if found is None:
            found = self._indexes[what] = self._by(by_id, "name")
        return found

    def sizes(self) -> dict[str, int]:
        """Entries held, by kind (the ops port's `forge_cache_entries`)."""
        return {
            "gateways": len(self.gateways),
            "agents": len(self.agents),
            "tools": len(self.tools_by_id),
            "resources": len(self.resources_by_id),
            "resource_templates": len(self.templates_by_id),
            "prompts": len(self.prompts_by_id),
            "servers": len(self.servers),
            "memoised_lists": len(self._memo),
        }

    def load(self, snapshot: Snapshot | LeanSnapshot) -> None:
        """Hold the snapshot's catalog (a Snapshot's tools are made lean: a test's, say)."""
        if isinstance(snapshot, Snapshot):
            tools = _LEAN_TOOLS.decode(_ENC.encode(snapshot.tools))
        else:
            tools = snapshot.tools
        self._loads += 1
        self.gateways = {g.id: g for g in snapshot.gateways}
        self.agents = {a.id: a for a in snapshot.agents}
        self._tools = ToolIndex(tools)
        self.resources_by_id = {r.id: r for r in snapshot.resources}
        self.templates_by_id = {t.id: t for t in snapshot.resource_templates}
        self.prompts_by_id = {p.id: p for p in snapshot.prompts}
        self.servers = {s.id: s for s in snapshot.servers}
        self._forget()
        self.loaded = True

    def compact(self, most: int = 1000) -> bool:
        """Compact up to `most` tool records as decoded (ToolIndex.compact); whether more are
        left. Run in the background after a change: it changes no answer."""
        return self._tools.compact(most)

    def tools_version(self, gateway_id: str) -> tuple[int, int]:
        """What the gateway's latest tools change is (see `tools_fetched`)."""
        return (self._loads, self._tool_changes.get(gateway_id, 0))

    def _tools_changed(self, gateway_id: str, gone: bool = False) -> None:
        self._changes += 1
        self._chunks.pop(gateway_id, None)
        if gone:
            self._tool_changes.pop(gateway_id, None)
        else:
            self._tool_changes[gateway_id] = self._changes

    def tools_fetched(
        self, gateway_id: str, version: tuple[int, int], records: list[LeanToolRecord]
    ) -> bool:
        """Swap in the gateway's tools read after its paged event of `version`, unless a later
        change of them came meanwhile (that one then counts: its event, or its own fetch)."""
        if self.tools_version(gateway_id) != version:
            return False
        self._tools.replace(gateway_id, records)
        self._forget()
        return True

    def apply(self, subject: str, data: bytes) -> str | None:
        """Apply one `forge.events.catalog.<entity>.<kind>` event; the gateway id whose tools
        are to be read from the registry (a paged tools.changed, `tools_fetched`), else None."""
        _, _, _, entity, kind = subject.split(".", 4)
        if entity == "gateways" and kind == "changed":
            gateway = _GATEWAY.decode(data)
            self.gateways[gateway.id] = gateway
        elif entity == "gateways" and kind == "deleted":
            gone = _DELETED.decode(data).id
            self.gateways.pop(gone, None)
            self._tools_changed(gone, gone=True)
            self._tools.replace(gone, [])
            _replace(self.resources_by_id, gone, [])
            _replace(self.templates_by_id, gone, [])
            _replace(self.prompts_by_id, gone, [])
        elif entity == "agents" and kind == "changed":
            agent = _AGENTS_CHANGED.decode(data).agent
            self.agents[agent.id] = agent
        elif entity == "agents" and kind == "deleted":
            gone = _DELETED.decode(data).id
            self.agents.pop(gone, None)
            self._tools_changed(gone, gone=True)
            self._tools.replace(gone, [])
        elif entity == "tools" and kind == "changed":
            tools = _TOOLS_CHANGED.decode(data)
            if tools.change is not None:
                return self._chunk(tools)
            self._tools_changed(tools.gateway_id)
            if tools.paged:  # the old set stays until the new one is read
                return tools.gateway_id
            self._tools.replace(tools.gateway_id, tools.tools)
        elif entity == "resources" and kind == "changed":
            resources = _RESOURCES_CHANGED.decode(data)
            _replace(self.resources_by_id, resources.gateway_id, resources.resources)
            _replace(self.templates_by_id, resources.gateway_id, resources.resource_templates)
        elif entity == "prompts" and kind == "changed":
            prompts = _PROMPTS_CHANGED.decode(data)
            _replace(self.prompts_by_id, prompts.gateway_id, prompts.prompts)
        elif entity == "servers" and kind == "changed":
            server = _SERVER.decode(data)
            self.servers[server.id] = server
        elif entity == "servers" and kind == "deleted":
            self.servers.pop(_DELETED.decode(data).id, None)
        else:
            return None
        self._forget()
        return None

    def _chunk(self, tools: LeanToolsChanged) -> str | None:
        """One chunk of a large gateway's change: kept until the final one swaps the set in;
        a chunk out of turn (one missed, or heard from the middle on) has the set read from
        the registry at the final one instead (the gateway id returned, as for `paged`)."""
        gateway_id, change = tools.gateway_id, tools.change or ""
        receiving = self._chunks.get(gateway_id)
        if tools.chunk == 0 or receiving is None or receiving[0] != change:
            self._tools_changed(gateway_id)  # a new change: what came before is superseded
            receiving = (change, 0, [] if tools.chunk == 0 else None)
        _, expected, records = receiving
        if records is not None and tools.chunk == expected:
            records.extend(tools.tools)
        else:
            records = None
        if not tools.final:
            self._chunks[gateway_id] = (change, expected + 1, records)
            return None
        self._chunks.pop(gateway_id, None)
        if records is None:
            return gateway_id  # the old set stays until the new one is read
        self._tools.replace(gateway_id, records)
        self._forget()
        return None

    def _forget(self) -> None:
        self._indexes.clear()
        self._memo.clear()

    def _memoised(
        self,
        what: str,
        server_id: str | None,
        principal: Principal,
        permission: str,
        build: Callable[[], Any],
    ) -> Any:
        key = (what, server_id, viewer(principal, permission))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = build()
            if len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(key)
        return found

    @staticmethod
    def _by(by_id: dict[str, Any], field: str) -> dict[str, Any]:
        return {getattr(r, field): r for r in by_id.values()}

    def server_exists(self, server_id: str, principal: Principal) -> bool:
        """Whether the server exists for the principal: it sees it, holds servers.use on its
        team, and a token bound to one server is used on that server only."""
        server = self.servers.get(server_id)
        if server is None or not may(principal, server, "servers.use"):
            return False
        return principal.server_scope is None or principal.server_scope == server_id

    def _source(self, gateway_id: str) -> Gateway | Agent | None:
        """What offers the entries of this gateway_id: a gateway, or an agent (its tool)."""
        return self.gateways.get(gateway_id) or self.agents.get(gateway_id)

    def _rank(self, record: Any) -> tuple[str, str]:
        """Registration order of the record's gateway: the first registered wins a shared uri."""
        source = self._source(record.gateway_id)
        return (source.created_at or "" if source else "", record.gateway_id)

    def _live(self, record: Any) -> bool:
        source = self._source(record.gateway_id)
        return bool(record.enabled and source is not None and source.enabled)

    def agent(self, gateway_id: str) -> Agent | None:
        """The A2A agent whose tool has this gateway_id, or None when it is a gateway's (or
        unknown): a call of an agent's tool goes to the a2a-bridge, on
        `forge.a2a.<agent_id>.call` (subjects.a2a), not to the upstream-proxy. Visibility and
        permissions are the tool's (the same placement as the agent's), checked by `resolve`
        and the caller."""
        return self.agents.get(gateway_id)

    def is_agent(self, gateway_id: str) -> bool:
        """Whether this gateway_id is an A2A agent's (see `agent`)."""
        return gateway_id in self.agents

    def gateway(self, gateway_id: str, principal: Principal) -> Gateway | None:
        """The gateway, if the principal can see it."""
        gateway = self.gateways.get(gateway_id)
        return gateway if gateway is not None and can_see(principal, gateway) else None

    def _offered(
        self, server_id: str | None, field: str, by_id: dict[str, R], principal: Principal
    ) -> list[R]:
        """Live records the server offers the principal, in its order; all the principal can
        read, by rank, without a server."""
        if server_id is None:
            records = sorted(by_id.values(), key=self._rank)
        else:
            server = self.servers.get(server_id)
            ids = getattr(server, field) if server else []
            records = [by_id[i] for i in ids if i in by_id]
        permission = READ[field]
        return [r for r in records if self._live(r) and may(principal, r, permission)]

    def _visible(
        self,
        record: R | None,
        server_id: str | None,
        field: str,
        principal: Principal,
        permission: str | None,
    ) -> R | None:
        if record is None or not self._live(record) or not may(principal, record, permission):
            return None
        if server_id is not None:
            server = self.servers.get(server_id)
            if server is None or record.id not in getattr(server, field):
                return None
        return record

    def _named(self, field: str, by_id: dict[str, N], server_id: str) -> dict[str, N]:
        """The server's entries of one kind by the names its endpoint exposes (Server.exposed);
        the registry refuses a composition where two would share one, so none is hidden."""
        key = f"{field}@{server_id}"
        found: dict[str, N] | None = self._indexes.get(key)
        if found is None:
            found = self._indexes[key] = {}
            server = self.servers.get(server_id)
            for i in getattr(server, field) if server is not None else []:
                record = by_id.get(i)
                if server is not None and record is not None:
                    found.setdefault(server.exposed(i, record.name, record.original_name), record)
        return found

    def _lookup(
        self, name: str, server_id: str | None, field: str, by_id: dict[str, N], what: str
    ) -> N | None:
        """An entry by the name the server exposes it under, else by its catalog name: plugins
        name entries by catalog name, and clients of a server that took up original names may
        still hold the old ones. Without a server, catalog names only."""
        if server_id is not None:
            found = self._named(field, by_id, server_id).get(name)
            if found is not None:
                return found
        by_name: dict[str, N] = self._index(what, by_id)
        return by_name.get(name)

    def resolve(
        self, name: str, server_id: str | None, principal: Principal
    ) -> LeanToolRecord | None:
        """The enabled tool of that name, if the principal sees it on their server (the caller
        checks what it is used for: `tools.execute` on its team, for a call)."""
        field = "associated_tools"
        found = self._lookup(name, server_id, field, self.tools_by_id, "tools")
        return self._visible(found, server_id, field, principal, None)

    def prompt(self, name: str, server_id: str | None, principal: Principal) -> PromptRecord | None:
        """The live prompt of that name, if the principal reads it on their server."""
        field = "associated_prompts"
        found = self._lookup(name, server_id, field, self.prompts_by_id, "prompts")
        return self._visible(found, server_id, field, principal, "prompts.read")

    def _resources(self, server_id: str | None, principal: Principal) -> dict[str, ResourceRecord]:
        """One resource per uri: the first-registered gateway's that the principal sees."""

        def build() -> dict[str, ResourceRecord]:
            first: dict[str, ResourceRecord] = {}
            offered = self._offered(
                server_id, "associated_resources", self.resources_by_id, principal
            )
            for r in offered:
                first.setdefault(r.uri, r)
            return first

        found = self._memoised("resources-by-uri", server_id, principal, "resources.read", build)
        return found  # type: ignore[no-any-return]

    def _templates(self, server_id: str | None, principal: Principal) -> list[TemplateRecord]:
        """Memoised: every resources/read of an unlisted uri and every completion walks them."""

        def build() -> list[TemplateRecord]:
            return self._offered(server_id, "associated_resources", self.templates_by_id, principal)

        found = self._memoised("templates-by-rank", server_id, principal, "resources.read", build)
        return found  # type: ignore[no-any-return]

    def serving(
        self, uri: str, server_id: str | None, principal: Principal
    ) -> ResourceRecord | TemplateRecord | None:
        """What serves `uri` (its gateway, its team): a listed resource, else the first
        matching template."""
        resource = self._resources(server_id, principal).get(uri)
        if resource is not None:
            return resource
        for template in self._templates(server_id, principal):
            if uritemplate.matches(template.uri_template, uri):
                return template
        return None

    def owner_of(self, uri: str, server_id: str | None, principal: Principal) -> str | None:
        """The gateway that serves `uri`."""
        served = self.serving(uri, server_id, principal)
        return served.gateway_id if served is not None else None

    def sole_source(self, server_id: str | None, principal: Principal) -> str | None:
        """The one gateway whose resources and templates the server (or, without one, the whole
        catalog) offers the principal, or None when there are several or none: where a URI
        nobody lists can still go, as a client connected to that upstream would send it."""
        field = "associated_resources"
        resources = self._offered(server_id, field, self.resources_by_id, principal)
        templates = self._offered(server_id, field, self.templates_by_id, principal)
        sources = {r.gateway_id for r in resources} | {t.gateway_id for t in templates}
        return sources.pop() if len(sources) == 1 else None

    def listed(self, uri: str) -> bool:
        """Whether any gateway lists `uri` as a resource, for anyone."""
        return any(r.uri == uri for r in self.resources_by_id.values())

    def owner_of_template(
        self, uri_template: str, server_id: str | None, principal: Principal
    ) -> str | None:
        """The gateway that lists exactly this uriTemplate (completion refers to templates)."""
        for template in self._templates(server_id, principal):
            if template.uri_template == uri_template:
                return template.gateway_id
        return None

    def listing(self, kind: str, server_id: str | None, principal: Principal) -> Listing:
        """What `<kind>/list` shows the principal on the server (or everywhere), as MCP items:
        the whole catalog's by key (names, uris: stable pages while it changes), a server's
        in its own order with a digest."""
        build = lambda: self._listing(kind, server_id, principal)  # noqa: E731
        permission = READ[_LISTED.get(kind, "associated_resources")]
        found = self._memoised(kind, server_id, principal, permission, build)
        return found  # type: ignore[no-any-return]

    def tools_page(
        self, principal: Principal, after: str | None, size: int
    ) -> tuple[list[Any], str | None]:
        """A page of the whole catalog's tools the principal reads, in name order after the
        name `after`, and the name to continue after (keyset: stable while tools change)."""

        def accept(record: LeanToolRecord) -> bool:
            return self._live(record) and may(principal, record, "tools.read")

        return self._tools.page(after, size, accept)

    def _listing(self, kind: str, server_id: str | None, principal: Principal) -> Listing:
        if server_id is None and kind == "prompts":
            # Names are unique across the catalog: the name order is the whole order.
            prompts = sorted(
                (
                    p
                    for p in self.prompts_by_id.values()
                    if self._live(p) and may(principal, p, "prompts.read")
                ),
                key=lambda p: p.name,
            )
            return Listing.keyed([_named_prompt(p) for p in prompts], [p.name for p in prompts])
        if server_id is None and kind == "resources":
            resources = sorted(self._resources(None, principal).values(), key=lambda r: r.uri)
            return Listing.keyed([r.resource for r in resources], [r.uri for r in resources])
        return Listing.of(self._items(kind, server_id, principal))

    def _exposed(self, record: LeanToolRecord | PromptRecord, server_id: str | None) -> str:
        server = self.servers.get(server_id) if server_id is not None else None
        if server is None:
            return record.name
        return server.exposed(record.id, record.name, record.original_name)

    def _items(self, kind: str, server_id: str | None, principal: Principal) -> list[Any]:
        if kind == "tools":
            tools = self._offered(server_id, "associated_tools", self.tools_by_id, principal)
            return [
                msgspec.structs.replace(t.tool, name=self._exposed(t, server_id)) for t in tools
            ]
        if kind == "prompts":
            prompts = self._offered(server_id, "associated_prompts", self.prompts_by_id, principal)
            return [
                msgspec.structs.replace(p.prompt, name=self._exposed(p, server_id)) for p in prompts
            ]
        if kind == "resources":
            return [r.resource for r in self._resources(server_id, principal).values()]
        templates = self._templates(server_id, principal)  # memoised: sort a copy
        if server_id is None:
            templates = sorted(templates, key=lambda t: t.uri_template)
        return [t.template for t in templates]


def _named_prompt(record: PromptRecord) -> Any:
    if record.prompt.name == record.name:
        return record.prompt
    return msgspec.structs.replace(record.prompt, name=record.name)
