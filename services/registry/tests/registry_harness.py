"""Registry test doubles: a fake upstream-proxy and a client that calls the registry over a bus."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.errors import UpstreamUnavailableError
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import Prompt, PromptArgument, Resource, ResourceTemplate, Tool
from forge.testing.membus import MemoryBus

ADMIN = Principal(subject="admin@test", is_admin=True)
_ENC = msgspec.json.Encoder()


@dataclass
class FakeUpstreamProxy:
    """Answers `forge.upstream.*.discover` on the MemoryBus with whatever the test sets."""

    tools: list[Tool] = field(default_factory=lambda: [Tool(name="echo"), Tool(name="add")])
    resources: list[Resource] = field(
        default_factory=lambda: [
            Resource(uri="file:///readme", name="readme", mimeType="text/plain")
        ]
    )
    resource_templates: list[ResourceTemplate] = field(
        default_factory=lambda: [ResourceTemplate(uriTemplate="file:///n/{n}", name="numbers")]
    )
    prompts: list[Prompt] = field(
        default_factory=lambda: [
            Prompt(name="greet", arguments=[PromptArgument(name="who", required=True)])
        ]
    )
    fail: bool = False
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def discover(self, envelope: Envelope) -> bytes:
        self.seen.append(msgspec.json.decode(envelope.params)["gateway"])
        if self.fail:
            raise UpstreamUnavailableError("the upstream refused the connection")
        return _ENC.encode(
            {
                "protocol_version": "2025-11-25",
                "capabilities": {"tools": {"listChanged": True}},
                "server_info": {"name": "fake", "version": "1"},
                "tools": self.tools,
                "resources": self.resources,
                "resource_templates": self.resource_templates,
                "prompts": self.prompts,
            }
        )


@dataclass
class Client:
    """Calls the registry the way the edge does: an envelope on the operation's subject."""

    bus: MemoryBus

    async def __call__(self, entity: str, op: str, params: Any = None) -> Any:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"catalog.{entity}.{op}",
            params=msgspec.Raw(_ENC.encode(params if params is not None else {})),
            principal=ADMIN,
            deadline=time.time() + 10,
        )
        data = await rpc.call(self.bus, subjects.registry(subjects.CATALOG, entity, op), envelope)
        return msgspec.json.decode(data)

    def events(self, entity: str, kind: str) -> list[Any]:
        subject = subjects.event(subjects.CATALOG, entity, kind)
        return [msgspec.json.decode(body) for s, body in self.bus.published if s == subject]
