"""A steady load of MCP `tools/call`s from several clients against one or more edges, every
outcome recorded with when it started and ended, for fault tests to judge afterwards.

Each client is its own HTTP client (its own connections) and sends modern (2026-07-28) requests,
which need no session, one after another: each of the calls it is given through each edge in
turn, as a round-robin balancer spreads them, the clients from different places in the round. A
connection an edge refuses is tried at once on the next edge, as a load balancer does with a
replica that is down; a request whose connection breaks after it was sent is
not retried (a `tools/call` may not be idempotent): it is recorded as `dropped`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "faults-load", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
# What a client waits for after a failed call before its next one (a client backs off; this
# keeps probing a recovery every 50 ms without spending the machine on refusals).
FAILED_PAUSE_S = 0.05

# The kinds of outcome:
OK = "ok"  # the tool's answer, holding what was sent
ERROR = "error"  # a JSON-RPC error object (its code in `code`)
DROPPED = "dropped"  # the connection broke after the request was sent
REFUSED = "refused"  # every edge refused the connection
UNANSWERED = "unanswered"  # nothing within the client's timeout
WRONG = "wrong"  # an answer that is neither the tool's result nor a JSON-RPC error


@dataclass(frozen=True)
class Call:
    """One tool and its arguments; `echoed` is the text its answer must contain."""

    tool: str
    arguments: dict[str, Any]
    echoed: str


@dataclass(frozen=True)
class Outcome:
    client: int
    tool: str
    edge: str
    started: float  # time.time()
    ended: float
    kind: str
    code: int | None = None
    status: int = 0
    detail: str = ""

    def overlaps(self, start: float, end: float) -> bool:
        """Whether the request was in flight at some moment of [start, end]."""
        return self.started <= end and self.ended >= start


@dataclass
class Load:
    """Run with `async with load:`; the clients send until the block ends, then their requests
    in flight are awaited (each bounded by `timeout_s`)."""

    urls: Sequence[str]
    token: str
    calls: Sequence[Call]
    clients: int = 4
    timeout_s: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Load:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def between(self, start: float, end: float) -> list[Outcome]:
        """The outcomes of the requests started in [start, end)."""
        return [o for o in self.outcomes if start <= o.started < end]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind != OK]

    async def _client(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        # Every call through every edge in turn, each client from another place in the round.
        plan = itertools.cycle(itertools.product(self.calls, range(len(self.urls))))
        for _ in range(number):
            next(plan)
        sequence = itertools.count()
        async with httpx.AsyncClient(headers=headers, timeout=self.timeout_s) as http:
            while not self._stop.is_set():
                call, edge = next(plan)
                text = f"{call.echoed} {number}-{next(sequence)}"
                outcome = await self._send(http, number, call, text, edge)
                self.outcomes.append(outcome)
                if outcome.kind != OK:
                    await asyncio.sleep(FAILED_PAUSE_S)

    async def _send(
        self,
        http: httpx.AsyncClient,
        number: int,
        call: Call,
        text: str,
        first: int,
    ) -> Outcome:
        arguments = {k: (text if v == call.echoed else v) for k, v in call.arguments.items()}
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": call.tool, "arguments": arguments, "_meta": META},
        }
        headers = {
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": "tools/call",
            "Mcp-Name": call.tool,
        }
        started = time.time()

        edge = first

        def outcome(kind: str, **kw: Any) -> Outcome:
            url = self.urls[edge]
            return Outcome(number, call.tool, url, started, time.time(), kind, **kw)

        for attempt in range(len(self.urls)):
            edge = (first + attempt) % len(self.urls)
            try:
                response = await http.post(self.urls[edge] + "/mcp", json=body, headers=headers)
            except httpx.ConnectError:
                continue  # refused: the balancer's next replica
            except httpx.TimeoutException as exc:
                return outcome(UNANSWERED, detail=type(exc).__name__)
            except httpx.TransportError as exc:
                return outcome(DROPPED, detail=f"{type(exc).__name__}: {exc}")
            return judged(outcome, response, text)
        return outcome(REFUSED)


def judged(outcome: Callable[..., Outcome], response: httpx.Response, text: str) -> Outcome:
    """The outcome of one answer: the tool's result holding `text`, a JSON-RPC error, or wrong."""
    status = response.status_code
    try:
        reply = response.json()
    except ValueError:
        return outcome(WRONG, status=status, detail=response.text[:200])
    error = reply.get("error") if isinstance(reply, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        detail = str(error.get("message", ""))[:200]
        return outcome(ERROR, code=error["code"], status=status, detail=detail)
    result = reply.get("result") if isinstance(reply, dict) else None
    if status == 200 and isinstance(result, dict) and not result.get("isError"):
        if text in str(result.get("content")):
            return outcome(OK, status=status)
    return outcome(WRONG, status=status, detail=response.text[:200])


def summary(outcomes: Sequence[Outcome]) -> str:
    """`n calls: ok a, error b (codes ...), ...` for a report line."""
    kinds: dict[str, int] = {}
    codes: dict[int, int] = {}
    for o in outcomes:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
        if o.code is not None:
            codes[o.code] = codes.get(o.code, 0) + 1
    parts = [f"{kind} {count}" for kind, count in sorted(kinds.items())]
    if codes:
        parts.append("codes " + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items())))
    return f"{len(outcomes)} calls: " + "; ".join(parts)
