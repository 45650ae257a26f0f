"""The tools, prompts and resources the MCP conformance
suite's server scenarios call, in both eras (Streamable HTTP on /mcp;
`python -m forge.servers.conformance` serves them; the tasks extension is in `.tasks`).

Names, arguments and answers follow the scenario texts of the pinned `@modelcontextprotocol/
conformance` package (`conformance list --server`; each scenario describes what it expects).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections import OrderedDict
from typing import Annotated, Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve, Sample
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import (
    AudioContent,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageResult,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequiredResult,
    JSONRPCMessage,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from forge.servers.conformance.tasks import TasksExtension

# A 1x1 PNG and a header-only WAV: the scenarios check type and mime type, not the pixels.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

server = MCPServer("forge-conformance", version="0.1.0", extensions=[TasksExtension()])


@server.tool()
def test_simple_text() -> str:
    """Returns one text block."""
    return "This is a simple text response for testing."


@server.tool()
def test_image_content() -> list[ImageContent]:
    """Returns one image block."""
    return [ImageContent(type="image", data=PNG, mime_type="image/png")]


@server.tool()
def test_audio_content() -> list[AudioContent]:
    """Returns one audio block."""
    return [AudioContent(type="audio", data=WAV, mime_type="audio/wav")]


def _embedded(uri: str, text: str, mime_type: str = "text/plain") -> EmbeddedResource:
    contents = TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    return EmbeddedResource(type="resource", resource=contents)


@server.tool()
def test_embedded_resource() -> list[EmbeddedResource]:
    """Returns one embedded text resource."""
    return [_embedded("test://embedded-resource", "This is an embedded resource content.")]


@server.tool()
def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Returns text, an image and an embedded resource."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG, mime_type="image/png"),
        _embedded(
            "test://mixed-content-resource",
            json.dumps({"test": "data", "value": 123}),
            "application/json",
        ),
    ]


# The scenarios ask for ~50 ms between notifications: they check that a client sees several
# notifications arrive during one call, not all at once with the result.
_STEP_S = 0.05


@server.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three info log messages while it runs."""
    await ctx.info("Tool execution started")
    await asyncio.sleep(_STEP_S)
    await ctx.info("Tool processing data")
    await asyncio.sleep(_STEP_S)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@server.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50 and 100 of 100 (when the caller asked for progress)."""
    for step in (0, 50, 100):
        if step:
            await asyncio.sleep(_STEP_S)
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
    return "Tool with progress executed successfully"


@server.tool()
def test_error_handling() -> str:
    """Always fails with a tool error."""
    raise RuntimeError("This tool intentionally returns an error for testing")


def _ask_model(prompt: str) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    return Sample([message], max_tokens=100)


@server.tool()
async def test_sampling(
    prompt: str, reply: Annotated[CreateMessageResult, Resolve(_ask_model)]
) -> str:
    """Asks the client's model to complete the prompt (sampling)."""
    content = reply.content
    return f"LLM response: {content.text if isinstance(content, TextContent) else 'No response'}"


class UserResponse(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


def _outcome(result: ElicitationResult[Any]) -> str:
    content = result.data.model_dump_json() if result.action == "accept" else "{}"
    return f"action={result.action}, content={content}"


@server.tool()
async def test_elicitation(message: str, ctx: Context) -> str:
    """Asks the user for a name and an email (elicitation)."""
    return f"User response: {_outcome(await ctx.elicit(message, UserResponse))}"


class Defaults(BaseModel):
    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: str = Field(
        default="active",
        description="User status",
        json_schema_extra={"enum": ["active", "inactive", "pending"]},
    )
    verified: bool = Field(default=True, description="Verification status")


@server.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Elicits a form whose every primitive field has a default (SEP-1034)."""
    result = await ctx.elicit("Please provide user information", Defaults)
    return f"Elicitation completed: {_outcome(result)}"


class Enums(BaseModel):
    untitledSingle: str = Field(
        description="Simple enum without titles",
        json_schema_extra={"enum": ["option1", "option2", "option3"]},
    )
    titledSingle: str = Field(
        description="Enum with titled options (oneOf)",
        json_schema_extra={
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ]
        },
    )
    legacyEnum: str = Field(
        description="Legacy enum with enumNames",
        json_schema_extra={
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
    )
    untitledMulti: list[str] = Field(
        description="Multi-select without titles",
        json_schema_extra={"items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    )
    titledMulti: list[str] = Field(
        description="Multi-select with titled options",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            }
        },
    )


@server.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Elicits a form with the five enum shapes of SEP-1330."""
    result = await ctx.elicit("Please select values using different enum schema types", Enums)
    return f"Elicitation completed: {_outcome(result)}"


@server.tool()
async def test_reconnection(ctx: Context) -> str:
    """Closes its SSE stream mid-call, so the client must reconnect to see the end (SEP-1699)."""
    await ctx.info("Before disconnect")
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await ctx.info("After reconnect")
    return "Reconnection test completed"


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@server.tool()
def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict[str, Any] | None = None,
    contactMethod: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """A tool whose input schema uses JSON Schema 2020-12 keywords (SEP-1613, SEP-2106)."""
    return "ok"


# The scenario checks the schema keyword by keyword, so it is the literal one, not a derived one.
server._tool_manager.get_tool("json_schema_2020_12_tool").parameters = JSON_SCHEMA_2020_12  # type: ignore[union-attr]


_REGION_HEADER: dict[str, Any] = {"x-mcp-header": "Region"}


@server.tool()
def test_custom_header(
    region: Annotated[str, Field(description="Where to run", json_schema_extra=_REGION_HEADER)],
) -> str:
    """Mirrors `region` into the `Mcp-Param-Region` header (x-mcp-header, SEP-2243): the SDK
    checks the header against the argument."""
    return f"Region: {region}"


# --- 2026-07-28 input_required flows (SEP-2322), hand-rolled to use the scenarios' keys ---


def _elicit(message: str, field: str, kind: str = "string") -> dict[str, Any]:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return {
        "method": "elicitation/create",
        "params": {"message": message, "requestedSchema": schema},
    }


def _sample(text: str, max_tokens: int) -> dict[str, Any]:
    message = {"role": "user", "content": {"type": "text", "text": text}}
    return {
        "method": "sampling/createMessage",
        "params": {"messages": [message], "maxTokens": max_tokens},
    }


_ROOTS: dict[str, Any] = {"method": "roots/list", "params": {}}


def _input_required(requests: dict[str, Any], state: str | None = None) -> InputRequiredResult:
    wire: dict[str, Any] = {"resultType": "input_required", "inputRequests": requests}
    if state is not None:
        wire["requestState"] = state
    return InputRequiredResult.model_validate(wire)


def _accepted(ctx: Context, key: str) -> dict[str, Any] | None:
    """The content of an accepted elicitation answer under `key`, or None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return None


_NAME = ("What is your name?", "name")


@server.tool()
def test_input_required_result_elicitation(ctx: Context) -> InputRequiredResult | str:
    """Asks for a name (input_required), then greets."""
    content = _accepted(ctx, "user_name")
    if content is None or not isinstance(content.get("name"), str):
        return _input_required({"user_name": _elicit(*_NAME)})
    return f"Hello, {content['name']}!"


@server.tool()
def test_input_required_result_sampling(ctx: Context) -> InputRequiredResult | str:
    """Asks the client's model a question (input_required), then returns its answer."""
    answer = (ctx.input_responses or {}).get("capital_question")
    if not isinstance(answer, CreateMessageResult):
        return _input_required({"capital_question": _sample("What is the capital of France?", 100)})
    content = answer.content
    return f"LLM response: {content.text if isinstance(content, TextContent) else 'No response'}"


@server.tool()
def test_input_required_result_list_roots(ctx: Context) -> InputRequiredResult | str:
    """Asks for the client's roots (input_required), then lists them."""
    answer = (ctx.input_responses or {}).get("client_roots")
    if not isinstance(answer, ListRootsResult):
        return _input_required({"client_roots": _ROOTS})
    return "Roots: " + ", ".join(str(root.uri) for root in answer.roots)


@server.tool()
def test_input_required_result_request_state(ctx: Context) -> InputRequiredResult | str:
    """Asks for a confirmation with a request state, and checks the state comes back."""
    if _accepted(ctx, "confirm") is None or ctx.request_state != "awaiting-confirm":
        request = _elicit("Please confirm", "ok", "boolean")
        return _input_required({"confirm": request}, "awaiting-confirm")
    return "Confirmed: state-ok"


@server.tool()
def test_input_required_result_multiple_inputs(ctx: Context) -> InputRequiredResult | str:
    """Asks for an elicitation, a sampling and the roots in one round."""
    responses = ctx.input_responses or {}
    wanted = {
        "user_name": _elicit(*_NAME),
        "greeting": _sample("Generate a greeting", 50),
        "client_roots": _ROOTS,
    }
    if ctx.request_state != "multiple" or not all(key in responses for key in wanted):
        return _input_required(wanted, "multiple")
    return "Received all inputs: " + ", ".join(sorted(wanted))


@server.tool()
def test_input_required_result_multi_round(ctx: Context) -> InputRequiredResult | str:
    """Asks for a name, then (a second round) a colour, then answers."""
    if ctx.request_state == "round-2":
        color = _accepted(ctx, "step2")
        if color is not None:
            return f"Round 3 complete: color={color.get('color')}"
    if ctx.request_state in ("round-1", "round-2") and _accepted(ctx, "step1") is not None:
        step2 = _elicit("Step 2: What is your favorite color?", "color")
        return _input_required({"step2": step2}, "round-2")
    if ctx.request_state == "round-2":
        step2 = _elicit("Step 2: What is your favorite color?", "color")
        return _input_required({"step2": step2}, "round-2")
    return _input_required({"step1": _elicit("Step 1: What is your name?", "name")}, "round-1")


@server.tool()
def test_input_required_result_tampered_state(ctx: Context) -> InputRequiredResult | str:
    """Round 1 hands out a request state; the SDK seals it, so a tampered echo is refused."""
    if ctx.request_state == "untampered" and _accepted(ctx, "confirm") is not None:
        return "State verified"
    return _input_required({"confirm": _elicit("Please confirm", "ok", "boolean")}, "untampered")


@server.tool()
def test_input_required_result_capabilities(ctx: Context) -> InputRequiredResult | str:
    """Asks only for what the client declared it can answer (sampling, elicitation)."""
    if ctx.input_responses:
        return "Received: " + ", ".join(sorted(ctx.input_responses))
    declared = ctx.client_capabilities
    requests: dict[str, Any] = {}
    if declared is not None and declared.sampling is not None:
        requests["capital_question"] = _sample("What is the capital of France?", 100)
    if declared is not None and declared.elicitation is not None:
        requests["user_name"] = _elicit(*_NAME)
    return _input_required(requests) if requests else "The client declared nothing to ask"


@server.tool()
async def test_missing_capability(
    reply: Annotated[CreateMessageResult, Resolve(lambda: _ask_model("Say hello"))],
) -> str:
    """Needs sampling: a client that did not declare it is refused (-32021)."""
    return "sampled"


# --- the stateless scenario's probes (SEP-2575) ---


class Answer(BaseModel):
    answer: str = Field(description="Your answer")


def _ask_user() -> Elicit[Answer]:
    return Elicit("Please answer", Answer)


@server.tool()
async def test_streaming_elicitation(
    reply: Annotated[ElicitationResult[Answer], Resolve(_ask_user)],
) -> str:
    """Asks the user mid-call: an input_required result (2026-07-28), never a request on the
    response stream; a legacy client gets the elicitation request on it."""
    return f"Elicitation completed: {_outcome(reply)}"


@server.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Logs while it runs: a 2026-07-28 client that set no _meta logLevel sees none of it."""
    await ctx.info("Logging tool started")
    await ctx.info("Logging tool completed")
    return "Logging tool executed"


@server.prompt()
def test_input_required_result_prompt(ctx: Context) -> InputRequiredResult | list[UserMessage]:
    """A prompt that needs a context from the user first (input_required)."""
    content = _accepted(ctx, "user_context")
    if content is None:
        request = _elicit("What context should the prompt use?", "context")
        return _input_required({"user_context": request})
    return [UserMessage(f"Use this context: {content.get('context')}")]


# --- resources ---


@server.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource."""
    return "This is the content of the static text resource."


@server.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (a PNG)."""
    return base64.b64decode(PNG)


@server.resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """Data for an id, from a template."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@server.resource("test://watched-resource", mime_type="text/plain")
def watched() -> str:
    """A resource clients can subscribe to."""
    return "Watched resource content"


# --- prompts ---


@server.prompt()
def test_simple_prompt() -> list[UserMessage]:
    """A prompt without arguments."""
    return [UserMessage("This is a simple prompt for testing.")]


@server.prompt()
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
    """A prompt with two required arguments."""
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@server.prompt()
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
    """A prompt that embeds the resource it is given."""
    return [
        UserMessage(_embedded(resourceUri, "Embedded resource content for testing.")),
        UserMessage("Please process the embedded resource above."),
    ]


@server.prompt()
def test_prompt_with_image() -> list[UserMessage]:
    """A prompt with an image."""
    return [
        UserMessage(ImageContent(type="image", data=PNG, mime_type="image/png")),
        UserMessage("Please analyze the image above."),
    ]


# The SDK leaves this decorator untyped; the handler itself is typed.
@server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
async def complete(
    ref: PromptReference | ResourceTemplateReference,
    argument: CompletionArgument,
    context: CompletionContext | None,
) -> Completion:
    """Argument values of test_prompt_with_arguments that start with what was typed."""
    values = [v for v in ("paris", "park", "party") if v.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)


# --- legacy utilities the scenarios call: they only need an empty answer ---


async def _set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
    return EmptyResult()


_subscriptions: set[str] = set()


async def _subscribe(ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
    _subscriptions.add(str(params.uri))
    return EmptyResult()


async def _unsubscribe(
    ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams
) -> EmptyResult:
    _subscriptions.discard(str(params.uri))
    return EmptyResult()


_lowlevel = server._lowlevel_server
_lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)
_lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
_lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe)


class MemoryEventStore(EventStore):
    """The events of every SSE stream, kept for a resume with Last-Event-ID (the oldest go
    beyond `max_events`): what makes the SDK send priming events, honour `close_sse_stream`
    and replay a stream (SEP-1699)."""

    def __init__(self, max_events: int = 10_000) -> None:
        self.max_events = max_events
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = f"{stream_id}_{next(self._ids)}"
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        if last_event_id not in self._events:
            return None
        stream_id, _ = self._events[last_event_id]
        after = False
        for event_id, (stream, message) in list(self._events.items()):
            if after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream_id


# The reconnection delay the priming event asks for (milliseconds).
RETRY_MS = 500
