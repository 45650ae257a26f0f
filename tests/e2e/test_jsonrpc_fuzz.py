"""A property-based JSON-RPC fuzzer against the edge's MCP endpoints: every transport (Streamable
HTTP, the legacy HTTP+SSE pair, WebSocket), each in both eras (2025: an initialized session;
2026-07-28: stateless, the era declared in each request's `_meta` and on /mcp in its headers).

hypothesis makes the inputs (derandomized: the same ones every run): structured JSON-RPC with
wrong types, huge and odd ids, nested params, unknown and real method names, batches, responses
sent as requests, and bytes that are not JSON at all. Each must get an answer that is not a 5xx,
within ANSWER_S (no hang); after each one, the same connection still answers a probe; after all
of them, a normal tools/call works on every transport; no service logged a traceback.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from forge.cli.mesh import SERVICES, Mesh

EXAMPLES = 50  # per transport and era: 300 inputs in all
ANSWER_S = 10.0  # no hang: each answer (or probe answer) within this
LEGACY, MODERN = "2025-11-25", "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
INIT = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {
        "protocolVersion": LEGACY,
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
ECHO = "demo-echo"
# Real method names, so that the fuzzer gets past "method not found" (subscriptions/listen is
# left out: it is a stream that lasts, on purpose).
METHODS = (
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
)
_PROBES = itertools.count()

# --- the inputs ----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**90),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=60), values)
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=40), values)
known_params = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from([ECHO, "demo-nope"]) | values},
        optional={"arguments": values, "_meta": values},
    ),
    st.fixed_dictionaries({"uri": st.text(max_size=60) | values}),
    st.fixed_dictionaries(
        {"protocolVersion": st.sampled_from([LEGACY, MODERN, "1999-01-01"]) | values},
        optional={"capabilities": values, "clientInfo": values},
    ),
    st.fixed_dictionaries({"level": st.sampled_from(["debug", "nope"]) | values}),
    st.fixed_dictionaries({"_meta": st.dictionaries(st.sampled_from(list(META)), values)}),
)
messages = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0") | values},
    optional={
        "id": ids,
        "method": methods,
        "params": known_params | values,
        "result": values,
        "error": values,
    },
)


# Well-formed requests of real methods with odd ids and params: what gets past the first checks.
plausible = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": ids,
        "method": st.sampled_from(METHODS),
        "params": known_params | st.dictionaries(st.text(max_size=10), values, max_size=4),
    }
)


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


raw = st.one_of(
    st.binary(max_size=200),
    messages.map(encode).flatmap(
        lambda text: st.integers(0, max(len(text) - 1, 0)).map(lambda cut: text[:cut])
    ),
    st.integers(1, 200).map(
        lambda depth: (
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":'
            + b"[" * depth
            + b"]" * depth
            + b"}"
        )
    ),
)
# (the body, the method it names if any: the modern era's Mcp-Method header repeats it)
inputs = st.one_of(
    plausible.map(lambda m: (encode(m), m.get("method"))),
    plausible.map(lambda m: (encode(m), m.get("method"))),
    messages.map(lambda m: (encode(m), m.get("method"))),
    st.lists(messages, max_size=4).map(lambda batch: (encode(batch), None)),
    raw.map(lambda body: (body, None)),
)


def corpus(modern: bool) -> list[tuple[bytes, Any]]:
    """EXAMPLES inputs, the same every run; modern ones declare 2026-07-28 in their `_meta`."""
    out: list[tuple[bytes, Any]] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        body, method = data.draw(inputs)
        if modern and data.draw(st.booleans()):
            body, method = data.draw((plausible | messages).map(with_meta))
        out.append((body, method))

    collect()
    return out


def with_meta(message: dict[str, Any]) -> tuple[bytes, Any]:
    params = message.get("params")
    if isinstance(params, dict):
        message = {**message, "params": {**params, "_meta": META}}
    else:
        message = {**message, "params": {"_meta": META}}
    return encode(message), message.get("method")


# --- the transports ------------------------------------------------------------------------------


def probe(modern: bool) -> dict[str, Any]:
    """A request every endpoint answers: ping (legacy), tools/list (ping is gone in 2026)."""
    if modern:
        return {
            "jsonrpc": "2.0",
            "id": f"probe-{next(_PROBES)}",
            "method": "tools/list",
            "params": {"_meta": META},
        }
    return {"jsonrpc": "2.0", "id": f"probe-{next(_PROBES)}", "method": "ping"}


def call_echo(modern: bool, text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"name": ECHO, "arguments": {"text": text}}
    if modern:
        params["_meta"] = META
    return {"jsonrpc": "2.0", "id": f"call-{text}", "method": "tools/call", "params": params}


def echoed(answer: dict[str, Any], text: str) -> bool:
    content = answer.get("result", {}).get("content", [])
    return any(part.get("text") == text for part in content)


class Http:
    """Streamable HTTP: each input one POST, answered on its own response."""

    def __init__(self, mesh: Mesh, token: str, modern: bool) -> None:
        self.url, self.modern = mesh.url + "/mcp", modern
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        self.http = httpx.AsyncClient(timeout=ANSWER_S)

    async def open(self) -> None:
        if self.modern:
            return
        opened = await self.http.post(self.url, json=INIT, headers=self.headers)
        assert opened.status_code == 200, opened.text
        self.headers |= {
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": LEGACY,
        }
        await self.http.post(self.url, json=INITIALIZED, headers=self.headers)

    def headers_for(self, method: Any, body: Any = None) -> dict[str, str]:
        if not self.modern:
            return self.headers
        headers = self.headers | {"MCP-Protocol-Version": MODERN}
        if isinstance(method, str) and method.isascii() and method.isprintable():
            headers["Mcp-Method"] = method
        if isinstance(body, dict) and method == "tools/call":
            headers["Mcp-Name"] = body["params"]["name"]
        return headers

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with asyncio.timeout(ANSWER_S):
            async with self.http.stream("POST", self.url, content=body, headers=headers) as answer:
                if answer.headers.get("content-type", "").startswith("text/event-stream"):
                    async for line in answer.aiter_lines():  # the first message is enough
                        if line.startswith("data:"):
                            return answer.status_code, line[5:].strip().encode()
                    return answer.status_code, b""
                return answer.status_code, await answer.aread()

    async def send(self, body: bytes, method: Any) -> None:
        status, content = await self.post(body, self.headers_for(method))
        assert status < 500, (status, body[:300], content[:300])
        if content and status != 202:
            json.loads(content)  # an answer is JSON, whatever was sent

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        status, content = await self.post(
            encode(message), self.headers_for(message["method"], message)
        )
        assert status == 200, (status, content[:300])
        answer: dict[str, Any] = json.loads(content)
        return answer

    async def close(self) -> None:
        await self.http.aclose()


class Sse:
    """The 2024-11-05 pair: inputs POSTed to /message, answers on the /sse stream."""

    def __init__(self, mesh: Mesh, token: str, modern: bool) -> None:
        self.mesh, self.modern = mesh, modern
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=ANSWER_S
        )
        self.answers: dict[Any, dict[str, Any]] = {}
        self.arrived = asyncio.Event()
        self.endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.reader = asyncio.create_task(self.read())
        async with asyncio.timeout(ANSWER_S):
            self.message_url = self.mesh.url + await self.endpoint
        if not self.modern:
            await self.ask(INIT)
            await self.post(encode(INITIALIZED))

    async def read(self) -> None:
        async with self.http.stream("GET", self.mesh.url + "/sse", timeout=None) as stream:
            event = "message"
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                    if event == "endpoint":
                        self.endpoint.set_result(data)
                    else:
                        answer = json.loads(data)
                        if isinstance(answer, dict):
                            self.answers[answer.get("id")] = answer
                        self.arrived.set()
                    event = "message"

    async def post(self, body: bytes) -> int:
        async with asyncio.timeout(ANSWER_S):
            answer = await self.http.post(
                self.message_url, content=body, headers={"Content-Type": "application/json"}
            )
        assert answer.status_code < 500, (answer.status_code, body[:300], answer.text[:300])
        return answer.status_code

    async def send(self, body: bytes, method: Any) -> None:
        await self.post(body)
        await self.ask(probe(self.modern))  # the session still answers

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert await self.post(encode(message)) == 202
        async with asyncio.timeout(ANSWER_S):
            while message["id"] not in self.answers:
                self.arrived.clear()
                await self.arrived.wait()
        return self.answers.pop(message["id"])

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.http.aclose()


class Ws:
    """WebSocket (subprotocol `mcp`): each input one text frame on one connection."""

    def __init__(self, mesh: Mesh, token: str, modern: bool) -> None:
        self.url = mesh.url.replace("http://", "ws://") + "/ws"
        self.token, self.modern = token, modern
        self.http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=ANSWER_S
        )

    async def open(self) -> None:
        self.context = self.http.websocket(
            self.url, subprotocols=["mcp"], max_message_size_bytes=1 << 20
        )
        self.ws = await self.context.__aenter__()
        if not self.modern:
            await self.ask(INIT)
            await self.ws.send_text(json.dumps(INITIALIZED))

    async def send(self, body: bytes, method: Any) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            await self.ws.send_bytes(body)
        else:
            if not text:
                return  # an empty frame carries no message: nothing to answer
            await self.ws.send_text(text)
        await self.ask(probe(self.modern))  # the connection still answers

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send_text(json.dumps(message))
        async with asyncio.timeout(ANSWER_S):
            while True:
                answer = json.loads(await self.ws.receive_text())
                if isinstance(answer, dict) and answer.get("id") == message["id"]:
                    return answer

    async def close(self) -> None:
        await self.context.__aexit__(None, None, None)
        await self.http.aclose()


TRANSPORTS: dict[str, type[Http | Sse | Ws]] = {"http": Http, "sse": Sse, "ws": Ws}


@pytest.fixture(scope="module")
def logs(mesh: Mesh) -> Iterator[None]:
    """No service logs a traceback while the fuzzer runs."""
    offsets = {name: _size(mesh, name) for name in SERVICES}
    yield
    for name, offset in offsets.items():
        with open(mesh.log_path(name), "rb") as log:
            log.seek(offset)
            written = log.read().decode("utf-8", "replace")
        assert "Traceback" not in written, (name, written[-3000:])


def _size(mesh: Mesh, name: str) -> int:
    try:
        return mesh.log_path(name).stat().st_size
    except FileNotFoundError:
        return 0


CASES = [(t, e) for t in TRANSPORTS for e in ("legacy", "modern")]


@pytest.mark.parametrize(("transport", "era"), CASES, ids=[f"{t}-{e}" for t, e in CASES])
async def test_fuzzed_json_rpc_gets_an_answer_and_the_mesh_still_serves(
    mesh: Mesh,
    admin_token: str,
    demo: dict[str, Any],
    logs: None,
    transport: str,
    era: str,
) -> None:
    inputs = corpus(era == "modern")
    assert len(inputs) == EXAMPLES
    link = TRANSPORTS[transport](mesh, admin_token, era == "modern")
    await link.open()
    try:
        for body, method in inputs:
            await link.send(body, method)
        text = f"after-{len(inputs)}-fuzzed"
        answer = await link.ask(call_echo(link.modern, text))
        assert echoed(answer, text), answer
    finally:
        await link.close()
