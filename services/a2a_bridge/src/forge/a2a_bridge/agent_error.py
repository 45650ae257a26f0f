"""An agent's own A2A error (not Forge's), whatever binding carried it."""

from __future__ import annotations


class AgentRpcError(Exception):
    """The agent answered with an error of its own (not Forge's): the model should read it.

    `code` is a JSON-RPC code, or an HTTP+JSON / gRPC status name (`NOT_FOUND`, ...) that
    serving.code_of reads as the A2A error it stands for."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
