"""The router's in-memory catalog: filled from a registry snapshot, kept fresh by events."""

from __future__ import annotations

import logging

import msgspec

from forge.proto.catalog import Deleted, Gateway, Server, Snapshot, ToolRecord, ToolsChanged
from forge.proto.mcp import Tool

log = logging.getLogger("forge.router.catalog")

_GATEWAY = msgspec.json.Decoder(Gateway)
_SERVER = msgspec.json.Decoder(Server)
_TOOLS_CHANGED = msgspec.json.Decoder(ToolsChanged)
_DELETED = msgspec.json.Decoder(Deleted)
_ENC = msgspec.json.Encoder()


class Catalog:
    """Name → tool resolution and per-server tool lists, with their encoded lists memoised."""

    def __init__(self) -> None:
        self.gateways: dict[str, Gateway] = {}
        self.tools: dict[str, ToolRecord] = {}  # by exposed name
        self.tools_by_id: dict[str, ToolRecord] = {}
        self.servers: dict[str, Server] = {}
        self.loaded = False
        self._lists: dict[str | None, list[Tool]] = {}

    def load(self, snapshot: Snapshot) -> None:
        self.gateways = {g.id: g for g in snapshot.gateways}
        self.tools = {t.name: t for t in snapshot.tools}
        self.tools_by_id = {t.id: t for t in snapshot.tools}
        self.servers = {s.id: s for s in snapshot.servers}
        self._lists.clear()
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
            self._replace_tools(gone, [])
        elif entity == "tools" and kind == "changed":
            changed = _TOOLS_CHANGED.decode(data)
            self._replace_tools(changed.gateway_id, changed.tools)
        elif entity == "servers" and kind == "changed":
            server = _SERVER.decode(data)
            self.servers[server.id] = server
        elif entity == "servers" and kind == "deleted":
            self.servers.pop(_DELETED.decode(data).id, None)
        else:
            return
        self._lists.clear()

    def _replace_tools(self, gateway_id: str, tools: list[ToolRecord]) -> None:
        for old in [t for t in self.tools_by_id.values() if t.gateway_id == gateway_id]:
            self.tools_by_id.pop(old.id, None)
            if self.tools.get(old.name) is old:
                del self.tools[old.name]
        for tool in tools:
            self.tools[tool.name] = tool
            self.tools_by_id[tool.id] = tool

    def server_exists(self, server_id: str) -> bool:
        return server_id in self.servers

    def resolve(self, name: str, server_id: str | None) -> ToolRecord | None:
        """The enabled tool of that exposed name, if the caller's server offers it."""
        tool = self.tools.get(name)
        if tool is None or not tool.enabled:
            return None
        gateway = self.gateways.get(tool.gateway_id)
        if gateway is None or not gateway.enabled:
            return None
        if server_id is not None:
            server = self.servers.get(server_id)
            if server is None or tool.id not in server.associated_tools:
                return None
        return tool

    def list_tools(self, server_id: str | None) -> list[Tool]:
        cached = self._lists.get(server_id)
        if cached is not None:
            return cached
        if server_id is None:
            records = sorted(self.tools.values(), key=lambda t: t.name)
        else:
            server = self.servers.get(server_id)
            ids = server.associated_tools if server else []
            records = [self.tools_by_id[i] for i in ids if i in self.tools_by_id]
        tools = [
            msgspec.structs.replace(r.tool, name=r.name)
            for r in records
            if r.enabled and (g := self.gateways.get(r.gateway_id)) is not None and g.enabled
        ]
        self._lists[server_id] = tools
        return tools
