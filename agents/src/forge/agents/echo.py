"""`python -m forge.agents.echo`: an A2A 1.0 echo agent on a2a-sdk (JSON-RPC and HTTP+JSON;
with `--grpc`, gRPC alone).

It answers a message with the text it got and a data part. What the text starts with picks the
shape of the answer, so one agent exercises every way an A2A answer can look:

- anything else: a Message `[text, data]`, the data `{"echo", "data", "context_id"}`;
- `task ...`: a Task, completed, with an artifact `[text, data]`;
- `file ...`: a completed Task whose artifact holds a file part (`echo.txt`, text/plain);
- `fail ...`: a failed Task whose status message says why;
- `ask ...`: a Task in input-required; the next message on that task completes it;
- `slow <n> ...`: a Task that works for n half-seconds (1 to 20, default 3), saying `step i of
  n` in a working status each time, then completes as `task` does.

Streaming (`SendStreamingMessage`) comes with the SDK for the same answers.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Awaitable
from typing import Any

from a2a.helpers.proto_helpers import (
    new_data_part,
    new_message,
    new_raw_part,
    new_task_from_user_message,
    new_text_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    TaskState,
)
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette

from forge.agents import sdk
from forge.agents.serving import run

NAME = "Forge echo agent"


def _data_of(message: Message | None) -> Any:
    for part in message.parts if message is not None else ():
        if part.HasField("data"):
            return MessageToDict(part.data)
    return None


class EchoExecutor(AgentExecutor):
    """Echoes what it is sent; see the module's docstring for the shapes."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        echoed = {"echo": text, "data": _data_of(context.message), "context_id": context.context_id}
        current = context.current_task
        word = text.split(" ", 1)[0]
        if current is None and word not in ("task", "file", "fail", "ask", "slow"):
            await event_queue.enqueue_event(
                new_message(
                    [new_text_part(text), new_data_part(echoed)],
                    context_id=context.context_id,
                    task_id=None,
                )
            )
            return
        if current is None:
            assert context.message is not None  # the SDK calls execute with the user's message
            current = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(current)
        updater = TaskUpdater(event_queue, current.id, current.context_id)
        if word == "fail":
            await updater.failed(
                new_text_message(
                    f"the echo agent was asked to fail: {text}", context_id=current.context_id
                )
            )
        elif word == "ask" and context.current_task is None:
            await updater.requires_input(
                new_text_message("what else should I echo?", context_id=current.context_id)
            )
        elif word == "slow":
            await self._work(updater, text, current.context_id)
            await updater.add_artifact([new_text_part(text), new_data_part(echoed)], name="echo")
            await updater.complete()
        elif word == "file":
            part = new_raw_part(text.encode(), media_type="text/plain", filename="echo.txt")
            await updater.add_artifact([part], name="echo")
            await updater.complete()
        else:
            await updater.add_artifact([new_text_part(text), new_data_part(echoed)], name="echo")
            await updater.complete()

    async def _work(self, updater: TaskUpdater, text: str, context_id: str) -> None:
        words = text.split()
        steps = int(words[1]) if len(words) > 1 and words[1].isdigit() else 3
        steps = min(max(steps, 1), 20)
        for step in range(1, steps + 1):
            said = new_text_message(f"step {step} of {steps}", context_id=context_id)
            await updater.update_status(TaskState.TASK_STATE_WORKING, message=said)
            await asyncio.sleep(0.5)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await sdk.cancel_current(context, event_queue)


def card(base_url: str, interfaces: list[AgentInterface] | None = None) -> AgentCard:
    return AgentCard(
        name=NAME,
        description="Answers every message with the text and data it got.",
        version="1.0.0",
        supported_interfaces=interfaces or sdk.interfaces(base_url),
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Echoes the message's text and data.",
                tags=["echo"],
                examples=["hello", "task hello", "fail now"],
            )
        ],
    )


def app(base_url: str) -> Starlette:
    return sdk.app(card(base_url), EchoExecutor())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grpc",
        action="store_true",
        help="serve A2A 1.0 over gRPC alone (a port of its own; the card lists only that)",
    )

    def make(base_url: str, args: argparse.Namespace) -> Starlette | Awaitable[Starlette]:
        if args.grpc:
            make_card = functools.partial(card, base_url)
            return sdk.grpc_app(make_card, EchoExecutor(), args.host)
        return app(base_url)

    run(__doc__.splitlines()[0], 9100, make, parser)


if __name__ == "__main__":
    main()
