"""The REST API's one error handler: a ForgeError any REST route raises, answered in one shape.

`{"detail": <message>, "code": <JSON-RPC code>[, "data": ...]}` with the error class's
`http_status` (forge.core.errors.CODES). Routes raise; they never catch ForgeError to answer it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from forge.core.errors import ForgeError
from forge.edge.auth.guard import ChallengeError
from forge.proto.envelope import ENCODER

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from forge.edge.state import Edge


def body(exc: ForgeError) -> bytes:
    """The REST error body of `exc`."""
    shape: dict[str, Any] = {"detail": exc.message, "code": exc.code}
    if exc.data is not None:
        shape["data"] = exc.data
    return ENCODER.encode(shape)


def response(edge: Edge, exc: ForgeError) -> Response:
    """`exc` as a REST answer. Every 401 says how to authenticate (RFC 9728: the guard's own
    challenge when it raised, else the REST one); a throttled sign-in says when to come back."""
    headers: dict[str, str] = {}
    if isinstance(exc, ChallengeError):
        headers["www-authenticate"] = exc.challenge
    elif exc.http_status == 401:
        headers["www-authenticate"] = edge.urls.challenge(None, token_sent=False, rest=True)
    if isinstance(exc.data, dict) and "retry_after_s" in exc.data:
        headers["retry-after"] = str(exc.data["retry_after_s"])
    return Response(body(exc), exc.http_status, headers, media_type="application/json")


def handler(edge: Edge) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The Starlette exception handler for ForgeError on the edge's app."""

    async def answer(request: Request, exc: Exception) -> Response:
        # Starlette routes only ForgeErrors here; WebSocket routes answer their own errors.
        if not isinstance(exc, ForgeError) or request.scope["type"] != "http":
            raise exc
        return response(edge, exc)

    return answer
