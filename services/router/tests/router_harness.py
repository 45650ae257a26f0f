"""Router test doubles: a catalog of two gateways, a fake registry and upstream-proxy on the bus."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import SUBJECT, Bus
from forge.proto.access import BUILTIN_ROLES
from forge.proto.catalog import (
    Gateway,
    PromptRecord,
    ResourceRecord,
    Server,
    Snapshot,
    TemplateRecord,
    ToolRecord,
)
from forge.proto.envelope import Envelope, Principal, Protocol
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool
from forge.router.app import Router
from forge.router.config import RouterConfig
from forge.testing.membus import MemoryBus

ME = Principal(subject="tester", permissions=BUILTIN_ROLES["developer"])
DOCS = Gateway(
    id="g1",
    name="docs",
    slug="docs",
    url="http://127.0.0.1:1/mcp",
    created_at="2026-01-01T00:00:00Z",
    capabilities={"resources": {"subscribe": True}},
)
# Registered later, and lists a uri that docs lists too.
MIRROR = Gateway(
    id="g2", name="mirror", slug="mirror", url="http://127.0.0.1:2/mcp", created_at="2026-02-01Z"
)
README = ResourceRecord("r1", "file:///readme", "g1", Resource(uri="file:///readme", name="rd"))
MIRRORED = ResourceRecord("r2", "file:///readme", "g2", Resource(uri="file:///readme", name="m"))
LOGO = ResourceRecord("r3", "file:///logo.png", "g2", Resource(uri="file:///logo.png", name="l"))
NUMBERS = TemplateRecord(
    "t1", "forge://n/{n}", "g2", ResourceTemplate(uriTemplate="forge://n/{n}", name="numbers")
)
PAGES = TemplateRecord(
    "t2", "file:///pages/{page}", "g1", ResourceTemplate(uriTemplate="file:///pages/{page}")
)
GREET = PromptRecord("p1", "docs-greet", "greet", "g1", Prompt(name="greet"))
SUMMARY = PromptRecord("p2", "mirror-summary", "summary", "g2", Prompt(name="summary"))
TOOLS = [ToolRecord(f"x{i}", f"docs-t{i}", f"t{i}", "g1", Tool(name=f"t{i}")) for i in range(5)]
READER = Server(
    id="s1", name="reader", associated_resources=["r3", "t1"], associated_prompts=["p2"]
)
SNAPSHOT = Snapshot(
    gateways=[DOCS, MIRROR],
    tools=TOOLS,
    servers=[READER],
    resources=[README, MIRRORED, LOGO],
    resource_templates=[NUMBERS, PAGES],
    prompts=[GREET, SUMMARY],
)


def envelope(
    method: str, params: bytes = b"{}", *, era: str = "modern", server_id: str | None = None
) -> Envelope:
    return Envelope(
        id="r1",
        method=method,
        params=msgspec.Raw(params),
        principal=ME,
        deadline=time.time() + 5,
        protocol=Protocol(version="2026-07-28" if era == "modern" else "2025-11-25", era=era),
        server_id=server_id,
    )


@dataclass
class FakeUpstream:
    """Answers every `forge.upstream.<gateway>.rpc`, recording what arrived on which subject."""

    result: bytes = b'{"ok":true}'
    seen: list[tuple[str, Envelope]] = field(default_factory=list)

    async def rpc(self, env: Envelope) -> bytes:
        self.seen.append((subjects.gateway_of(SUBJECT.get()), env))
        return self.result

    def last(self) -> tuple[str, str, Any]:
        """The last call's gateway, method and decoded params."""
        gateway, env = self.seen[-1]
        return gateway, env.method, msgspec.json.decode(env.params)


async def start_router(bus: MemoryBus, snapshot: Snapshot, page_size: int = 100) -> Router:
    async def serve_snapshot(env: Envelope) -> bytes:
        return msgspec.json.encode(snapshot)

    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    await rpc.serve_envelopes(bus, subject, serve_snapshot, queue=None)
    router = Router(bus, RouterConfig(page_size=page_size))
    await router.start()
    return router


async def ask(bus: Bus, env: Envelope) -> Any:
    return msgspec.json.decode(await rpc.call(bus, subjects.ROUTER_RPC, env))
