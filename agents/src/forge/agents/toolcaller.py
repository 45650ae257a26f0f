"""`python -m forge.agents.toolcaller`: an A2A 1.0 agent on a2a-sdk that answers by calling MCP
tools, through an MCP endpoint (Forge's `/mcp`), with the official MCP SDK client.

A message says which tool to call, one of two ways:

- text `call <tool> <JSON object of arguments>` (the arguments may be left out: `{}`);
- a data part `{"tool": "<name>", "arguments": {...}}` (the text then says nothing that counts).

`tools` lists the tools the endpoint shows (their names as text, and as data `{"tools": [...]}`).
The answer is a Message: the tool's text content as text parts, and a data part `{"tool",
"isError", "structuredContent"}`. A tool's error result (`isError`), an MCP error (an unknown tool,
a refusal) or an endpoint that cannot be reached is a failed Task whose status message says what
went wrong; a message that names no tool is a rejected Task saying how to ask.

Settings: `--mcp-url` (or `TOOLCALLER_MCP_URL`), the endpoint; the bearer token it presents there
from `TOOLCALLER_TOKEN`, or `--token-file` (first line), never a command-line argument (a process
listing would show it); `--mode` the MCP era it speaks (`auto`, `legacy` or `2026-07-28`).
Each message opens one MCP session, calls, and closes it.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from a2a.helpers.proto_helpers import (
    new_data_part,
    new_message,
    new_task_from_user_message,
    new_text_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentSkill, Message, Part
from google.protobuf.json_format import MessageToDict
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from forge.agents import sdk
from forge.agents.serving import run

NAME = "Forge tool-calling agent"
USAGE = 'say `call <tool> {"argument": "value"}`, or `tools` to list them'


@dataclass(frozen=True)
class Endpoint:
    """Where the tools are and how to present oneself there."""

    url: str
    token: str
    mode: str = "auto"
    timeout_s: float = 60.0


class RequestError(ValueError):
    """The message does not say which tool to call."""


def _data_of(message: Message | None) -> Any:
    for part in message.parts if message is not None else ():
        if part.HasField("data"):
            return MessageToDict(part.data)
    return None


def parse(text: str, data: Any) -> tuple[str, dict[str, Any]] | None:
    """The tool and arguments a message asks for; None for `tools`; RequestError otherwise."""
    if isinstance(data, dict) and isinstance(data.get("tool"), str) and data["tool"]:
        arguments = data.get("arguments", {})
        if not isinstance(arguments, dict):
            raise RequestError("`arguments` must be a JSON object")
        return data["tool"], arguments
    words = text.strip().split(maxsplit=2)
    if words == ["tools"]:
        return None
    if len(words) < 2 or words[0] != "call":
        raise RequestError(USAGE)
    try:
        arguments = json.loads(words[2]) if len(words) == 3 else {}
    except json.JSONDecodeError as exc:
        raise RequestError(f"the arguments are not JSON ({exc.msg}); {USAGE}") from None
    if not isinstance(arguments, dict):
        raise RequestError(f"the arguments must be a JSON object; {USAGE}")
    return words[1], arguments


class ToolCallError(RuntimeError):
    """The tool could not be called, or answered an error; the text says which."""


def _first(group: BaseExceptionGroup[Exception]) -> Exception:
    leaf = group.exceptions[0]
    return _first(leaf) if isinstance(leaf, BaseExceptionGroup) else leaf


def _failure(exc: Exception) -> ToolCallError:
    if isinstance(exc, MCPError):
        return ToolCallError(f"the MCP endpoint refused the call: {exc.code} {exc.message}")
    return ToolCallError(f"the MCP endpoint cannot be reached ({type(exc).__name__})")


class ToolCallerExecutor(AgentExecutor):
    """Calls the tool a message names and answers with its result."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def _client(self) -> tuple[httpx2.AsyncClient, Client]:
        headers = {"Authorization": f"Bearer {self.endpoint.token}"} if self.endpoint.token else {}
        http = httpx2.AsyncClient(headers=headers, timeout=self.endpoint.timeout_s)
        link = streamable_http_client(self.endpoint.url, http_client=http)
        return http, Client(link, mode=self.endpoint.mode)

    async def _answer(self, asked: tuple[str, dict[str, Any]] | None) -> list[Part]:
        http, client = self._client()
        try:
            async with http, client:
                if asked is None:
                    names = [tool.name for tool in (await client.list_tools()).tools]
                    return [new_text_part("\n".join(names)), new_data_part({"tools": names})]
                tool, arguments = asked
                result = await client.call_tool(tool, arguments)
        except (MCPError, httpx2.HTTPError, OSError) as exc:
            raise _failure(exc) from None
        except ExceptionGroup as group:
            # The SDK's transport runs in a task group: a failure there arrives wrapped.
            known = group.subgroup((MCPError, httpx2.HTTPError, OSError))
            if known is None:
                raise
            raise _failure(_first(known)) from None
        texts = [item.text for item in result.content if item.type == "text"]
        if result.is_error:
            raise ToolCallError(f"the tool {tool} failed: " + "\n".join(texts))
        summary = {
            "tool": tool,
            "isError": bool(result.is_error),
            "structuredContent": result.structured_content,
        }
        return [*(new_text_part(text) for text in texts), new_data_part(summary)]

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        try:
            asked = parse(context.get_user_input(), _data_of(context.message))
            parts = await self._answer(asked)
        except (RequestError, ToolCallError) as exc:
            await self._refuse(context, event_queue, exc)
            return
        message = new_message(parts, context_id=context.context_id, task_id=None)
        await event_queue.enqueue_event(message)

    async def _refuse(self, context: RequestContext, queue: EventQueue, why: Exception) -> None:
        assert context.message is not None  # the SDK calls execute with the user's message
        task = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:
            await queue.enqueue_event(task)
        updater = TaskUpdater(queue, task.id, task.context_id)
        said = new_text_message(str(why), context_id=task.context_id)
        if isinstance(why, RequestError):
            await updater.reject(said)
        else:
            await updater.failed(said)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await sdk.cancel_current(context, event_queue)


def card(base_url: str) -> AgentCard:
    return AgentCard(
        name=NAME,
        description="Answers a message by calling the MCP tool it names (call <tool> <json>).",
        version="1.0.0",
        supported_interfaces=sdk.interfaces(base_url),
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[
            AgentSkill(
                id="call-tool",
                name="Call a tool",
                description="Calls an MCP tool and answers with its result.",
                tags=["mcp", "tools"],
                examples=['call echo {"text": "hi"}', "tools"],
            )
        ],
    )


def app(base_url: str, endpoint: Endpoint) -> Starlette:
    return sdk.app(card(base_url), ToolCallerExecutor(endpoint))


def endpoint_of(args: argparse.Namespace) -> Endpoint:
    url = args.mcp_url or os.environ.get("TOOLCALLER_MCP_URL", "")
    if not url:
        raise SystemExit("toolcaller: --mcp-url (or TOOLCALLER_MCP_URL) is required")
    token = os.environ.get("TOOLCALLER_TOKEN", "")
    if args.token_file is not None:
        lines = Path(args.token_file).read_text().splitlines()
        token = lines[0].strip() if lines else ""
    return Endpoint(url, token, args.mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mcp-url", help="the MCP endpoint (TOOLCALLER_MCP_URL)")
    parser.add_argument("--token-file", help="a file whose first line is the bearer token")
    parser.add_argument("--mode", default="auto", help="auto, legacy or 2026-07-28")
    run(
        parser.description or NAME,
        9101,
        lambda base_url, args: app(base_url, endpoint_of(args)),
        parser,
    )


if __name__ == "__main__":
    main()
