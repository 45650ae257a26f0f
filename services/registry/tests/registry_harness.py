"""Registry test doubles: a fake upstream-proxy and a client that calls the registry over a bus."""

from __future__ import annotations

import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.errors import ForgeError, UpstreamUnavailableError
from forge.core.sealing import new_key_spec
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import Prompt, PromptArgument, Resource, ResourceTemplate, Tool
from forge.registry.app import Registry
from forge.registry.catalog.store import Store
from forge.registry.config import RegistryConfig
from forge.testing.membus import MemoryBus

ADMIN = Principal(subject="admin@test", is_admin=True)


def person(subject: str, *teams: str, role: str | None = None) -> Principal:
    """A member of `teams` with `role` bound globally (holding its permissions), or no role."""
    if role is None:
        return Principal(subject, teams=teams)
    return Principal(subject, teams=teams, roles=(role,), permissions=BUILTIN_ROLES[role])


KEYS = new_key_spec("k1")
# The fake upstreams live on loopback, which the SSRF guard refuses unless allowed.
# stdio gateways the tests register: any python module, and one stand-in server.
ALLOWED_COMMANDS = f"{shlex.quote(sys.executable)} -m ...; /usr/bin/server"
CONFIG = RegistryConfig(
    secret_keys=KEYS,
    upstream_allowed_networks="127.0.0.0/8",
    stdio_allowed_commands=ALLOWED_COMMANDS,
)
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
    # Streamed discovery (when the registry asks for it): the tools in pages of `page_size`
    # on `forge.discover.<request id>` over `bus`, the rest in the last page; failing after
    # `fail_after_pages` pages when set.
    bus: Any = None
    page_size: int | None = None
    fail_after_pages: int | None = None

    async def discover(self, envelope: Envelope) -> bytes:
        params = msgspec.json.decode(envelope.params)
        self.seen.append(params["gateway"])
        if self.fail:
            raise UpstreamUnavailableError("the upstream refused the connection")
        if self.page_size is not None and params.get("streamed"):
            return await self._streamed(envelope)
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

    async def _streamed(self, envelope: Envelope) -> bytes:
        assert self.page_size is not None
        pages: list[dict[str, Any]] = [
            {"tools": self.tools[i : i + self.page_size]}
            for i in range(0, len(self.tools), self.page_size)
        ]
        rest = {
            "resources": self.resources,
            "resource_templates": self.resource_templates,
            "prompts": self.prompts,
        }
        pages.append(rest)
        for seq, page in enumerate(pages):
            if self.fail_after_pages is not None and seq == self.fail_after_pages:
                raise UpstreamUnavailableError("the upstream went away mid-discovery")
            answer = await self.bus.request(
                subjects.discover_pages(envelope.id),
                _ENC.encode({"seq": seq, **page}),
                deadline=envelope.deadline,
            )
            rpc.unwrap(answer)
        counts = {
            "pages": len(pages),
            "tools": len(self.tools),
            "resources": len(self.resources),
            "resource_templates": len(self.resource_templates),
            "prompts": len(self.prompts),
        }
        return _ENC.encode(
            {
                "protocol_version": "2025-11-25",
                "capabilities": {"tools": {"listChanged": True}},
                "server_info": {"name": "fake", "version": "1"},
                "streamed": counts,
            }
        )


@dataclass
class Client:
    """Calls the registry the way the edge does: an envelope on the operation's subject."""

    bus: MemoryBus

    async def __call__(
        self, entity: str, op: str, params: Any = None, *, as_: Principal = ADMIN
    ) -> Any:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"catalog.{entity}.{op}",
            params=msgspec.Raw(_ENC.encode(params if params is not None else {})),
            principal=as_,
            deadline=time.time() + 10,
        )
        data = await rpc.call(self.bus, subjects.registry(subjects.CATALOG, entity, op), envelope)
        return msgspec.json.decode(data)

    def events(self, entity: str, kind: str) -> list[Any]:
        subject = subjects.event(subjects.CATALOG, entity, kind)
        return [msgspec.json.decode(body) for s, body in self.bus.published if s == subject]


async def start_registry(
    store: Store, config: RegistryConfig, upstream: FakeUpstreamProxy | None = None
) -> Client:
    """A registry replica with its own settings on a bus of its own, with a fake upstream."""
    bus = MemoryBus()
    fake = upstream or FakeUpstreamProxy()
    fake.bus = bus
    await rpc.serve_envelopes(bus, subjects.upstream_any("discover"), fake.discover, queue=None)
    await Registry(bus, store, config).start()
    return Client(bus)


async def code_of(call: Any) -> int:
    """The error code a call ends with (the test fails if it succeeds)."""
    try:
        await call
    except ForgeError as exc:
        return exc.code
    raise AssertionError("the call succeeded")


async def error_of(call: Any) -> ForgeError:
    try:
        await call
    except ForgeError as exc:
        return exc
    raise AssertionError("the call succeeded")
