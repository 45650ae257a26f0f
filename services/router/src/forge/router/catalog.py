"""The router's in-memory catalog: filled from a registry snapshot, kept fresh by events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec

from forge.proto.catalog import (
    Deleted,
    Gateway,
    PromptRecord,
    PromptsChanged,
    ResourceRecord,
    ResourcesChanged,
    Server,
    Snapshot,
    TemplateRecord,
    ToolRecord,
    ToolsChanged,
)
from forge.router import uritemplate
from forge.router.pages import Listing

log = logging.getLogger("forge.router.catalog")

_GATEWAY = msgspec.json.Decoder(Gateway)
_SERVER = msgspec.json.Decoder(Server)
_TOOLS_CHANGED = msgspec.json.Decoder(ToolsChanged)
_RESOURCES_CHANGED = msgspec.json.Decoder(ResourcesChanged)
_PROMPTS_CHANGED = msgspec.json.Decoder(PromptsChanged)
_DELETED = msgspec.json.Decoder(Deleted)
R = TypeVar("R", ToolRecord, ResourceRecord, TemplateRecord, PromptRecord)


def _replace(by_id: dict[str, R], gateway_id: str, records: Iterable[R]) -> None:
    """Swap one gateway's records of one kind."""
    for gone in [k for k, r in by_id.items() if r.gateway_id == gateway_id]:
        del by_id[gone]
    by_id.update((r.id, r) for r in records)


class Catalog:
    """Name and uri resolution, and per-server lists, with the lists memoised until a change."""

    def __init__(self) -> None:
        self.gateways: dict[str, Gateway] = {}
        self.tools_by_id: dict[str, ToolRecord] = {}
        self.resources_by_id: dict[str, ResourceRecord] = {}
        self.templates_by_id: dict[str, TemplateRecord] = {}
        self.prompts_by_id: dict[str, PromptRecord] = {}
        self.servers: dict[str, Server] = {}
        self.loaded = False
        self._memo: dict[tuple[str, str | None], Any] = {}

    @property
    def tools(self) -> dict[str, ToolRecord]:
        """Tools by exposed name."""
        by_name = self._memoised("tools-by-name", None, lambda: self._by(self.tools_by_id, "name"))
        return by_name  # type: ignore[no-any-return]

    def load(self, snapshot: Snapshot) -> None:
        self.gateways = {g.id: g for g in snapshot.gateways}
        self.tools_by_id = {t.id: t for t in snapshot.tools}
        self.resources_by_id = {r.id: r for r in snapshot.resources}
        self.templates_by_id = {t.id: t for t in snapshot.resource_templates}
        self.prompts_by_id = {p.id: p for p in snapshot.prompts}
        self.servers = {s.id: s for s in snapshot.servers}
        self._memo.clear()
        self.loaded = True

    def apply(self, subject: str, data: bytes) -> None:
        """Apply one `forge.events.catalog.<entity>.<kind>` event."""
        _, _, _, entity, kind = subject.split(".", 4)
        if entity == "gateways" and kind == "changed":
            gateway = _GATEWAY.decode(data)
            self.gateways[gateway.id] = gateway
        elif entity == "gateways" and kind == "deleted":
            gone = _DELETED.decode(data).id
            self.gateways.pop(gone, None)
            _replace(self.tools_by_id, gone, [])
            _replace(self.resources_by_id, gone, [])
            _replace(self.templates_by_id, gone, [])
            _replace(self.prompts_by_id, gone, [])
        elif entity == "tools" and kind == "changed":
            tools = _TOOLS_CHANGED.decode(data)
            _replace(self.tools_by_id, tools.gateway_id, tools.tools)
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
            return
        self._memo.clear()

    def _memoised(self, what: str, server_id: str | None, build: Callable[[], Any]) -> Any:
        key = (what, server_id)
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    @staticmethod
    def _by(by_id: dict[str, Any], field: str) -> dict[str, Any]:
        return {getattr(r, field): r for r in by_id.values()}

    def server_exists(self, server_id: str) -> bool:
        return server_id in self.servers

    def _rank(self, record: Any) -> tuple[str, str]:
        """Registration order of the record's gateway: the first registered wins a shared uri."""
        gateway = self.gateways.get(record.gateway_id)
        return (gateway.created_at or "" if gateway else "", record.gateway_id)

    def _live(self, record: Any) -> bool:
        gateway = self.gateways.get(record.gateway_id)
        return bool(record.enabled and gateway is not None and gateway.enabled)

    def _offered(self, server_id: str | None, field: str, by_id: dict[str, R]) -> list[R]:
        """Live records the server offers, in its order; all of them, by rank, without one."""
        if server_id is None:
            records = sorted(by_id.values(), key=self._rank)
        else:
            server = self.servers.get(server_id)
            ids = getattr(server, field) if server else []
            records = [by_id[i] for i in ids if i in by_id]
        return [r for r in records if self._live(r)]

    def _visible(self, record: R | None, server_id: str | None, field: str) -> R | None:
        if record is None or not self._live(record):
            return None
        if server_id is not None:
            server = self.servers.get(server_id)
            if server is None or record.id not in getattr(server, field):
                return None
        return record

    def resolve(self, name: str, server_id: str | None) -> ToolRecord | None:
        """The enabled tool of that exposed name, if the caller's server offers it."""
        return self._visible(self.tools.get(name), server_id, "associated_tools")

    def prompt(self, name: str, server_id: str | None) -> PromptRecord | None:
        """The live prompt of that exposed name, if the caller's server offers it."""
        by_name = self._memoised(
            "prompts-by-name", None, lambda: self._by(self.prompts_by_id, "name")
        )
        return self._visible(by_name.get(name), server_id, "associated_prompts")

    def _resources(self, server_id: str | None) -> dict[str, ResourceRecord]:
        """One resource per uri: the first-registered gateway's."""

        def build() -> dict[str, ResourceRecord]:
            first: dict[str, ResourceRecord] = {}
            for r in self._offered(server_id, "associated_resources", self.resources_by_id):
                first.setdefault(r.uri, r)
            return first

        return self._memoised("resources-by-uri", server_id, build)  # type: ignore[no-any-return]

    def _templates(self, server_id: str | None) -> list[TemplateRecord]:
        return self._offered(server_id, "associated_resources", self.templates_by_id)

    def owner_of(self, uri: str, server_id: str | None) -> str | None:
        """The gateway that serves `uri`: a listed resource, else the first matching template."""
        resource = self._resources(server_id).get(uri)
        if resource is not None:
            return resource.gateway_id
        for template in self._templates(server_id):
            if uritemplate.matches(template.uri_template, uri):
                return template.gateway_id
        return None

    def owner_of_template(self, uri_template: str, server_id: str | None) -> str | None:
        """The gateway that lists exactly this uriTemplate (completion refers to templates)."""
        for template in self._templates(server_id):
            if template.uri_template == uri_template:
                return template.gateway_id
        return None

    def listing(self, kind: str, server_id: str | None) -> Listing:
        """What `<kind>/list` shows the server (or everyone), as MCP items, with its digest."""
        build = lambda: Listing.of(self._items(kind, server_id))  # noqa: E731
        return self._memoised(kind, server_id, build)  # type: ignore[no-any-return]

    def _items(self, kind: str, server_id: str | None) -> list[Any]:
        if kind == "tools":
            tools = self._offered(server_id, "associated_tools", self.tools_by_id)
            if server_id is None:
                tools.sort(key=lambda t: t.name)
            return [msgspec.structs.replace(t.tool, name=t.name) for t in tools]
        if kind == "prompts":
            prompts = self._offered(server_id, "associated_prompts", self.prompts_by_id)
            if server_id is None:
                prompts.sort(key=lambda p: p.name)
            return [msgspec.structs.replace(p.prompt, name=p.name) for p in prompts]
        if kind == "resources":
            resources = list(self._resources(server_id).values())
            if server_id is None:
                resources.sort(key=lambda r: r.uri)
            return [r.resource for r in resources]
        templates = self._templates(server_id)
        if server_id is None:
            templates.sort(key=lambda t: t.uri_template)
        return [t.template for t in templates]
