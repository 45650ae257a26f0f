"""What the a2a-sdk sample agents share: their interfaces (JSON-RPC at the base URL, HTTP+JSON
under `/rest`; or gRPC alone, on a port of its own), their Starlette app, and cancelling the
current task."""

from __future__ import annotations

from collections.abc import Callable

import grpc.aio
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.grpc_handler import GrpcHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCard, AgentInterface, a2a_pb2_grpc
from starlette.applications import Starlette


def interfaces(base_url: str) -> list[AgentInterface]:
    return [
        AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="1.0"),
        AgentInterface(
            url=f"{base_url.rstrip('/')}/rest", protocol_binding="HTTP+JSON", protocol_version="1.0"
        ),
    ]


def app(agent_card: AgentCard, executor: AgentExecutor) -> Starlette:
    """The agent served on both bindings (JSON-RPC with 0.3 compatibility), card included."""
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=agent_card
    )
    routes = [
        *create_agent_card_routes(agent_card),
        *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True),
        *create_rest_routes(handler, path_prefix="/rest"),
    ]
    return Starlette(routes=routes)


async def grpc_app(
    make_card: Callable[[list[AgentInterface]], AgentCard], executor: AgentExecutor, host: str
) -> Starlette:
    """The agent served over A2A 1.0's gRPC binding alone (a free port on `host`, started in
    the running loop); the Starlette app serves only its card, which lists that interface."""
    server = grpc.aio.server()
    port = server.add_insecure_port(f"[{host}]:0" if ":" in host else f"{host}:0")
    shown = f"[{host}]" if ":" in host else host
    interface = AgentInterface(
        url=f"{shown}:{port}", protocol_binding="GRPC", protocol_version="1.0"
    )
    agent_card = make_card([interface])
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=agent_card
    )
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(GrpcHandler(handler), server)  # type: ignore[no-untyped-call]
    await server.start()
    app = Starlette(routes=create_agent_card_routes(agent_card))
    app.state.grpc = server  # kept alive as long as the app
    return app


async def cancel_current(context: RequestContext, event_queue: EventQueue) -> None:
    """An executor's `cancel`: the current task, if any, is canceled."""
    if context.current_task is not None:
        task = context.current_task
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()
