"""A modern client's call held open while a legacy upstream's questions go out as input_required."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core.bus import Bus
from forge.core.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    ForgeError,
)
from forge.proto.envelope import Envelope
from forge.proto.jsonrpc import Message, RequestId, error_bytes, result_bytes
from forge.upstream_proxy.eras.inflight import SERVER_REQUESTS, CallCancelledError, InFlight, Local
from forge.upstream_proxy.sessions.pool import Session
from forge.upstream_proxy.transports.call import Reply

log = logging.getLogger("forge.upstream_proxy.eras.held")
# The capability a client declares to answer each server-to-client request.
CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
# Telling an upstream about an abandoned call is a courtesy: never wait long on it.
CANCEL_TIMEOUT_S = 1.0
# Answers and cancels sent upstream in the background, kept here until done.
_BACKGROUND: set[asyncio.Future[None]] = set()
_ENC = msgspec.json.Encoder()
_CAPABILITIES = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECT = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class Question:
    """A server-to-client request the upstream waits on: its id, and where its answer goes."""

    upstream_id: RequestId | None
    method: str
    params: bytes
    reply: Reply


class Answered(Exception):
    """The held call asks the client something: `result` is the input_required result."""

    def __init__(self, result: bytes) -> None:
        super().__init__("input required")
        self.result = result


class Held:
    """One upstream call running on its own, which the client's answers feed, round by round.

    `wait` returns the upstream's result, raises `Answered` with an input_required result when
    the upstream asks the client something first, or raises the call's error.
    """

    def __init__(
        self,
        bus: Bus,
        session: Session,
        envelope: Envelope,
        gateway_id: str,
        local: Local | None = None,
    ) -> None:
        self.key = ""  # set when it is held for a retry
        self.session = session
        self.gateway_id = gateway_id
        self.principal = envelope.principal.subject
        self.inflight = InFlight(bus, envelope, local)
        self.inflight.gateway_id = gateway_id
        self.inflight.on_request = self._on_request
        self.asked: dict[str, Question] = {}  # what the client is answering now, by key
        self._waiting: list[Question] = []  # asked by the upstream, not yet of the client
        self._asked: asyncio.Future[None] | None = None
        self.expiry: asyncio.TimerHandle | None = None
        self._declared = _declared(self.inflight.client_capabilities)
        # Forge's legacy sessions declare URL-mode elicitation for any client that has it; an
        # empty `elicitation` is form mode only.
        elicitation = self._declared.get("elicitation", msgspec.Raw(b"{}"))
        self._url_elicitation = "url" in _object(bytes(elicitation))
        work = session.request(envelope.method, bytes(envelope.params), self.inflight)
        self.task = asyncio.ensure_future(work)
        self.task.add_done_callback(_retrieve)

    async def wait(self, state: Callable[[], str]) -> bytes:
        """Until the upstream answers (its result) or asks (`Answered`, with `state()` in it)."""
        if not self._waiting and not self.task.done():
            asked = self._asked = asyncio.get_running_loop().create_future()
            cancel = asyncio.ensure_future(self.inflight.cancelled.wait())
            try:
                await asyncio.wait({self.task, asked, cancel}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._asked = None
                cancel.cancel()
        if self.task.done():
            return self.task.result()  # the upstream's own error is raised as it is
        if not self._waiting:
            raise CallCancelledError
        # Asked together, answered together.
        self.asked = {f"r{n}": q for n, q in enumerate(self._waiting, 1)}
        self._waiting = []
        raise Answered(_input_required(self.asked, state()))

    async def answer(self, responses: dict[str, msgspec.Raw]) -> None:
        """Send the client's answers upstream, each with the upstream's own request id."""
        asked, self.asked = self.asked, {}
        for key, question in asked.items():
            response = responses.get(key)
            if response is None:
                message = f"the client gave no answer to {question.method}"
                data = _error(question.upstream_id, INTERNAL_ERROR, message)
            else:
                data = result_bytes(question.upstream_id, bytes(response))
            await _send(question.reply, data)

    def drop(self, reason: str) -> None:
        """Give up: open questions get an error, the call is abandoned and cancelled upstream."""
        if self.expiry is not None:
            self.expiry.cancel()
        asked = [*self.asked.values(), *self._waiting]
        self.asked, self._waiting = {}, []
        for question in asked:
            _spawn(_send(question.reply, _error(question.upstream_id, INTERNAL_ERROR, reason)))
        if not self.task.done():
            self.task.cancel()
        _spawn(self._tell_cancel())

    async def _tell_cancel(self) -> None:
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                await self.session.cancel(self.inflight)
        except (ForgeError, TimeoutError):
            log.debug("gateway %s was not told of a cancel", self.session.label)

    def _takes(self, params: msgspec.Raw) -> bool:
        """Whether the client takes this elicitation: a URL-mode one only if it declared so."""
        return self._url_elicitation or _object(bytes(params)).get("mode") != "url"

    async def _on_request(self, message: Message, reply: Reply) -> None:
        # Called from the upstream's reader: answer what Forge can at once, queue the rest.
        upstream_id = message.id
        assert upstream_id is not msgspec.UNSET  # narrowing: only requests get here
        method = message.method if isinstance(message.method, str) else "?"
        if method == "ping":
            _spawn(_send(reply, result_bytes(upstream_id, b"{}")))
        elif method not in SERVER_REQUESTS:
            _spawn(
                _send(reply, _error(upstream_id, METHOD_NOT_FOUND, f"Method not found: {method}"))
            )
        elif CAPABILITY[method] not in self._declared:
            _spawn(_send(reply, _missing(upstream_id, CAPABILITY[method])))
        elif method == "elicitation/create" and not self._takes(message.params):
            _spawn(_send(reply, _missing(upstream_id, "elicitation", {"url": {}})))
        else:
            params = bytes(message.params) if len(message.params) else b"{}"
            self._waiting.append(Question(upstream_id, method, params, reply))
            if self._asked is not None and not self._asked.done():
                self._asked.set_result(None)


def _input_required(asked: dict[str, Question], state: str) -> bytes:
    requests = b",".join(
        _ENC.encode(key) + b':{"method":' + _ENC.encode(q.method) + b',"params":' + q.params + b"}"
        for key, q in asked.items()
    )
    head = b'{"resultType":"input_required","inputRequests":{' + requests + b"}"
    return head + b',"requestState":' + _ENC.encode(state) + b"}"


def _declared(capabilities: bytes) -> dict[str, msgspec.Raw]:
    try:
        return _CAPABILITIES.decode(capabilities)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


def _object(data: bytes) -> dict[str, Any]:
    try:
        return _OBJECT.decode(data) if data else {}
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


def _missing(
    upstream_id: RequestId | None, capability: str, detail: dict[str, Any] | None = None
) -> bytes:
    # As the SDK's own server refuses what the client did not declare (2026-07-28).
    error = {
        "code": MISSING_CLIENT_CAPABILITY,
        "message": f"Client did not declare the {capability} capability",
        "data": {"requiredCapabilities": {capability: detail or {}}},
    }
    return error_bytes(upstream_id, _ENC.encode(error))


def _error(upstream_id: RequestId | None, code: int, message: str) -> bytes:
    return error_bytes(upstream_id, _ENC.encode({"code": code, "message": message}))


async def _send(reply: Reply, data: bytes) -> None:
    try:
        await reply(data)
    except ForgeError as exc:
        log.info("could not send an answer upstream: %s", exc.message)


def _spawn(work: Awaitable[None]) -> None:
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _retrieve(task: asyncio.Future[bytes]) -> None:
    # A held call nobody comes back for may fail unseen: that is no error of ours.
    if not task.cancelled():
        task.exception()
