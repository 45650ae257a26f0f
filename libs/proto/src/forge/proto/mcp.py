"""MCP message types Forge reads, for the legacy (2025-11-25) and modern (2026-07-28) eras."""

from __future__ import annotations

from typing import Any

import msgspec

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
# Newest first: the versions a legacy `initialize` may negotiate.
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
MODERN_VERSIONS = (MODERN,)
SUPPORTED_VERSIONS = MODERN_VERSIONS + LEGACY_VERSIONS

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"

# Methods the 2026-07-28 revision removed: a modern request for one is -32601 (HTTP 404).
REMOVED_METHODS = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)

# Methods whose body carries a name that the modern `Mcp-Name` header must repeat.
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# The tasks extension's methods (SEP-2663): their `Mcp-Name` header repeats params.taskId.
TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})


class TaskParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The task id of a tasks/* request."""

    taskId: str | None = None


TASK_PARAMS_DECODER = msgspec.json.Decoder(TaskParams)


class Implementation(msgspec.Struct, frozen=True, omit_defaults=True):
    """Name and version of a client or server."""

    name: str
    version: str = "0"
    title: str | None = None


class Tool(msgspec.Struct, frozen=True, omit_defaults=True):
    """A tool as MCP lists it."""

    name: str
    inputSchema: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object"})
    title: str | None = None
    description: str | None = None
    outputSchema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    icons: list[dict[str, Any]] | None = None
    execution: dict[str, Any] | None = None  # 2025-11-25: `taskSupport` (tasks in core then)
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class Resource(msgspec.Struct, frozen=True, omit_defaults=True):
    """A resource as MCP lists it."""

    uri: str
    name: str = ""
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None
    size: int | None = None
    annotations: dict[str, Any] | None = None
    icons: list[dict[str, Any]] | None = None
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class ResourceTemplate(msgspec.Struct, frozen=True, omit_defaults=True):
    """A resource template (RFC 6570 `uriTemplate`) as MCP lists it."""

    uriTemplate: str
    name: str = ""
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None
    annotations: dict[str, Any] | None = None
    icons: list[dict[str, Any]] | None = None
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class PromptArgument(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    title: str | None = None
    description: str | None = None
    required: bool | None = None


class Prompt(msgspec.Struct, frozen=True, omit_defaults=True):
    """A prompt as MCP lists it."""

    name: str
    title: str | None = None
    description: str | None = None
    arguments: list[PromptArgument] | None = None
    icons: list[dict[str, Any]] | None = None
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class ListToolsResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result of tools/list."""

    tools: list[Tool]
    nextCursor: str | None = None


class RequestMeta(msgspec.Struct, frozen=True, omit_defaults=True):
    """The `_meta` of a modern request: who the client is, per request."""

    protocol_version: str | None = msgspec.field(default=None, name=META_PROTOCOL_VERSION)
    client_capabilities: msgspec.Raw = msgspec.field(
        default_factory=msgspec.Raw, name=META_CLIENT_CAPABILITIES
    )
    client_info: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw, name=META_CLIENT_INFO)
    progress_token: str | int | None = msgspec.field(default=None, name="progressToken")


class RequestParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """Just the `_meta` of any request's params."""

    meta: RequestMeta | None = msgspec.field(default=None, name="_meta")


class CallToolParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The params of tools/call, with arguments left undecoded."""

    name: str
    arguments: msgspec.Raw = msgspec.Raw()
    meta: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw, name="_meta")


class NamedParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The name-bearing fields of tools/call, prompts/get and resources/read."""

    name: str | None = None
    uri: str | None = None


class ListParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The params of any */list request."""

    cursor: str | None = None


class CompletionRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """The `ref` of completion/complete: `ref/prompt` with a name or `ref/resource` with a uri."""

    type: str
    name: str | None = None
    uri: str | None = None


class CompleteParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """Just the routing part of completion/complete's params."""

    ref: CompletionRef


class SetLevelParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The params of legacy logging/setLevel."""

    level: str


# RFC 5424 severities, as logging/setLevel names them.
LOG_LEVELS = frozenset(
    {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
)


class InitializeParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """The params of a legacy initialize."""

    protocolVersion: str
    capabilities: msgspec.Raw = msgspec.Raw(b"{}")
    clientInfo: msgspec.Raw = msgspec.Raw(b"{}")


class InitializeResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result of a legacy initialize, as Forge reads an upstream's."""

    protocolVersion: str
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    serverInfo: Implementation | None = None
    instructions: str | None = None


class DiscoverResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result of a modern server/discover, as Forge reads an upstream's."""

    supportedVersions: list[str] = msgspec.field(default_factory=list)
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    serverInfo: Implementation | None = None
    instructions: str | None = None


class UriParams(msgspec.Struct, frozen=True):
    uri: str | None = None


class ResourceUpdated(msgspec.Struct, frozen=True):
    """What the edge reads of a notification on `forge.resource.updated.*`: a
    `notifications/resources/updated` names its resource in `params.uri`."""

    method: str | None = None
    params: UriParams | None = None


class SubscriptionFilter(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a 2026-07-28 `subscriptions/listen` opts in to (its `notifications`), and what the
    acknowledgement honours. Other keys (extensions') are tolerated and not honoured."""

    toolsListChanged: bool | None = None
    promptsListChanged: bool | None = None
    resourcesListChanged: bool | None = None
    resourceSubscriptions: list[str] | None = None


class ListenParams(msgspec.Struct, frozen=True):
    """The params of `subscriptions/listen`."""

    notifications: SubscriptionFilter


class TaskList(msgspec.Struct, frozen=True):
    """A legacy `tasks/list` result as the router merges them: the tasks stay raw."""

    tasks: list[msgspec.Raw] = msgspec.field(default_factory=list)


class RetryParams(msgspec.Struct, frozen=True):
    """The members of a modern request's params that retry a call which answered
    `input_required`: the state it handed out and the client's answers to its requests."""

    requestState: str | None = None
    inputResponses: dict[str, msgspec.Raw] | None = None


CALL_TOOL_PARAMS_DECODER = msgspec.json.Decoder(CallToolParams)
NAMED_PARAMS_DECODER = msgspec.json.Decoder(NamedParams)
REQUEST_PARAMS_DECODER = msgspec.json.Decoder(RequestParams)
LIST_PARAMS_DECODER = msgspec.json.Decoder(ListParams)
INITIALIZE_PARAMS_DECODER = msgspec.json.Decoder(InitializeParams)
COMPLETE_PARAMS_DECODER = msgspec.json.Decoder(CompleteParams)
SET_LEVEL_PARAMS_DECODER = msgspec.json.Decoder(SetLevelParams)
LIST_TOOLS_RESULT_DECODER = msgspec.json.Decoder(ListToolsResult)
RESOURCE_UPDATED_DECODER = msgspec.json.Decoder(ResourceUpdated)
TASK_LIST_DECODER = msgspec.json.Decoder(TaskList)
RETRY_PARAMS_DECODER = msgspec.json.Decoder(RetryParams)
LISTEN_PARAMS_DECODER = msgspec.json.Decoder(ListenParams)
