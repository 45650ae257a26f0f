"""Catalog table rows as proto Structs: JSON columns decoded with typed decoders, UTC times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from forge.proto.agents import Agent
from forge.proto.catalog import (
    Gateway,
    PromptRecord,
    ResourceRecord,
    Server,
    TemplateRecord,
    ToolRecord,
)
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool
from forge.proto.plugins import PluginBinding
from forge.registry.times import timestamp

_DICT = msgspec.json.Decoder(dict[str, Any])
_LIST = msgspec.json.Decoder(list[str])
_COMMAND = msgspec.json.Decoder(list[str] | None)
_ENV = msgspec.json.Decoder(dict[str, str])
_ALIASES = msgspec.json.Decoder(dict[str, str])
_TOOL = msgspec.json.Decoder(Tool)
_RESOURCE = msgspec.json.Decoder(Resource)
_TEMPLATE = msgspec.json.Decoder(ResourceTemplate)
_PROMPT = msgspec.json.Decoder(Prompt)


def env(value: str) -> dict[str, str]:
    return _ENV.decode(value)


def _placed(row: Mapping[str, Any]) -> dict[str, Any]:
    """Who owns the entry and who sees it."""
    return {"owner": row["owner"], "team_id": row["team_id"], "visibility": row["visibility"]}


def gateway(row: Mapping[str, Any]) -> Gateway:
    return Gateway(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        url=row["url"],
        transport=row["transport"],
        description=row["description"],
        enabled=row["enabled"],
        reachable=row["reachable"],
        protocol_version=row["protocol_version"],
        capabilities=_DICT.decode(row["capabilities"]),
        server_info=_DICT.decode(row["server_info"]),
        timeout_s=row["timeout_s"],
        tags=_LIST.decode(row["tags"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        command=_COMMAND.decode(row["command"]) if row["command"] is not None else None,
        env=_ENV.decode(row["env"]),
        auth_type=row["auth_type"],
        auth=row["auth"],
        **_placed(row),
    )


def agent(row: Mapping[str, Any]) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        url=row["url"],
        card_url=row["card_url"],
        description=row["description"],
        enabled=row["enabled"],
        reachable=row["reachable"],
        protocol_version=row["protocol_version"],
        binding=row["binding"],
        card=_DICT.decode(row["card"]),
        streaming=row["streaming"],
        timeout_s=row["timeout_s"],
        tags=_LIST.decode(row["tags"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        auth_type=row["auth_type"],
        auth=row["auth"],
        **_placed(row),
    )


def tool(row: Mapping[str, Any]) -> ToolRecord:
    return ToolRecord(
        id=row["id"],
        name=row["name"],
        original_name=row["original_name"],
        gateway_id=row["gateway_id"],
        tool=_TOOL.decode(row["definition"]),
        enabled=row["enabled"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        **_placed(row),
    )


def server(row: Mapping[str, Any]) -> Server:
    return Server(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        associated_tools=list(row["tool_ids"]),
        associated_resources=[*row["resource_ids"], *row["template_ids"]],
        associated_prompts=list(row["prompt_ids"]),
        enabled=row["enabled"],
        tags=_LIST.decode(row["tags"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        original_names=row["original_names"],
        aliases=_ALIASES.decode(row["aliases"]),
        **_placed(row),
    )


def resource(row: Mapping[str, Any]) -> ResourceRecord:
    return ResourceRecord(
        id=row["id"],
        uri=row["uri"],
        gateway_id=row["gateway_id"],
        resource=_RESOURCE.decode(row["definition"]),
        enabled=row["enabled"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        **_placed(row),
    )


def template(row: Mapping[str, Any]) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        uri_template=row["uri_template"],
        gateway_id=row["gateway_id"],
        template=_TEMPLATE.decode(row["definition"]),
        enabled=row["enabled"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        **_placed(row),
    )


def prompt(row: Mapping[str, Any]) -> PromptRecord:
    return PromptRecord(
        id=row["id"],
        name=row["name"],
        original_name=row["original_name"],
        gateway_id=row["gateway_id"],
        prompt=_PROMPT.decode(row["definition"]),
        enabled=row["enabled"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        **_placed(row),
    )


def plugin_binding(row: Mapping[str, Any]) -> PluginBinding:
    return PluginBinding(
        id=row["id"],
        plugin=row["plugin"],
        team_id=row["team_id"],
        tool=row["tool"],
        mode=row["mode"],
        config=_DICT.decode(row["config"]),
        priority=row["priority"],
        owner=row["owner"],
        visibility=row["visibility"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )
