"""A2A agent cards: fetched through the SSRF guard, checked, and read for what Forge needs.

The card lives at `<base>/.well-known/agent-card.json` (A2A 1.0 and 0.3), or at
`/.well-known/agent.json` for agents of 0.3 and before. A 1.0 card lists its endpoints in
`supportedInterfaces` (`url`, `protocolBinding`, `protocolVersion` each); a 0.3 card has `url`,
`preferredTransport` and `additionalInterfaces` (`url`, `transport`) and a top-level
`protocolVersion`. Forge takes the first endpoint, in the card's order of preference, of a
binding and version it speaks (JSON-RPC or HTTP+JSON; A2A 1.0 or 0.3), gRPC only when the card
offers nothing else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from forge.core.errors import InvalidParamsError
from forge.core.netguard import NetGuard
from forge.proto.limits import MAX_DESCRIPTION, MAX_URL

if TYPE_CHECKING:
    import httpx2

CARD_PATH = "/.well-known/agent-card.json"
LEGACY_CARD_PATH = "/.well-known/agent.json"  # A2A 0.3 and before
MAX_CARD_BYTES = 1 << 20
CARD_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3
MAX_CARD_DEPTH = 64  # nesting of objects and arrays
# The card's binding spellings → forge.proto.agents.BINDINGS.
_BINDINGS = {"JSONRPC": "jsonrpc", "HTTP+JSON": "http+json", "REST": "http+json", "GRPC": "grpc"}


@dataclass(frozen=True)
class Card:
    """What Forge keeps of an agent card."""

    card: dict[str, Any]
    card_url: str
    url: str  # the chosen interface's endpoint
    protocol_version: str  # "1.0" | "0.3"
    binding: str  # "jsonrpc" | "http+json" | "grpc"
    streaming: bool
    name: str
    description: str | None


def _bad(message: str, field: str = "url") -> InvalidParamsError:
    return InvalidParamsError(message, {"field": field})


def card_urls(base: str) -> list[str]:
    """The URLs to try, in order: the base itself when it names a card, else both paths."""
    path = urlsplit(base).path
    if path.endswith((CARD_PATH, LEGACY_CARD_PATH)):
        return [base]
    root = base.rstrip("/")
    return [root + CARD_PATH, root + LEGACY_CARD_PATH]


def _version(spelling: Any) -> str | None:
    """A card's protocolVersion as one of forge.proto.agents.VERSIONS; None if not spoken."""
    if not isinstance(spelling, str):
        return None
    if spelling == "1" or spelling.startswith("1."):
        return "1.0"
    if spelling == "0.3" or spelling.startswith("0.3."):
        return "0.3"
    return None


def _interfaces(card: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(url, binding spelling, version) of every endpoint the card declares, preferred first."""
    found: list[tuple[str, str, str | None]] = []
    supported = card.get("supportedInterfaces")
    if isinstance(supported, list):  # A2A 1.0
        for entry in supported:
            if not isinstance(entry, dict):
                continue
            url, binding = entry.get("url"), entry.get("protocolBinding")
            if isinstance(url, str) and isinstance(binding, str):
                found.append((url, binding, _version(entry.get("protocolVersion") or "1.0")))
    url = card.get("url")
    if isinstance(url, str):  # A2A 0.3 (a 1.0 card may keep these for 0.3 clients)
        version = _version(card.get("protocolVersion") or "0.3")
        preferred = card.get("preferredTransport") or "JSONRPC"
        found.append((url, preferred if isinstance(preferred, str) else "", version))
        extra = card.get("additionalInterfaces")
        for entry in extra if isinstance(extra, list) else []:
            if isinstance(entry, dict):
                url, binding = entry.get("url"), entry.get("transport")
                if isinstance(url, str) and isinstance(binding, str):
                    found.append((url, binding, version))
    return found


def _http_url(url: str) -> bool:
    if len(url) > MAX_URL:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _grpc_target(url: str) -> tuple[str, int] | None:
    """A gRPC interface's (host, port): `host:port` (as a2a-sdk's cards write it), or a
    grpc(s):// / http(s):// URL; None when it is neither."""
    if len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url if "://" in url else f"grpc://{url}")
        tls = parts.scheme in ("grpcs", "https")
        port = parts.port or (443 if tls else 80)
    except ValueError:
        return None
    if parts.scheme not in ("grpc", "grpcs", "http", "https") or not parts.hostname:
        return None
    return parts.hostname, port


def read_card(card: Any, card_url: str) -> Card:
    """The card's name, endpoint, version, binding and streaming; 422 if it is not a card Forge
    can use."""
    if not isinstance(card, dict):
        raise _bad(f"{card_url} did not answer an A2A agent card (a JSON object)")
    name = card.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad(f"{card_url} did not answer an A2A agent card (it has no name)")
    interfaces = _interfaces(card)
    if not interfaces:
        raise _bad(f"the agent card at {card_url} declares no endpoint (supportedInterfaces, url)")
    usable = [
        (url, _BINDINGS[binding.upper()], version)
        for url, binding, version in interfaces
        if version is not None and binding.upper() in _BINDINGS
    ]
    usable.sort(key=lambda i: i[1] == "grpc")  # stable: the card's order otherwise
    if not usable:
        raise _bad(
            f"the agent card at {card_url} declares no endpoint Forge speaks"
            " (JSONRPC, HTTP+JSON or GRPC; A2A 1.0 or 0.3)"
        )
    url, binding, version = usable[0]
    if not (_grpc_target(url) if binding == "grpc" else _http_url(url)):
        raise _bad(f"the agent card at {card_url} names an endpoint that is not an http(s) URL")
    capabilities = card.get("capabilities")
    streaming = isinstance(capabilities, dict) and capabilities.get("streaming") is True
    description = card.get("description")
    return Card(
        card=card,
        card_url=card_url,
        url=url,
        protocol_version=version or "1.0",
        binding=binding,
        streaming=streaming,
        name=name,
        # The tool's description too: what an MCP client shows, kept to the catalog's limit.
        description=description[:MAX_DESCRIPTION] if isinstance(description, str) else None,
    )


def _storable(text: str) -> bool:
    """Whether PostgreSQL can hold the string in jsonb: no NUL, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_tree(document: Any, url: str) -> None:
    """422 for a card nested deeper than MAX_CARD_DEPTH or holding a string the catalog cannot
    store (walked without recursion)."""
    todo: list[tuple[Any, int]] = [(document, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, str):
            if not _storable(value):
                raise _bad(f"the agent card at {url} holds characters that cannot be stored")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_CARD_DEPTH:
            raise _bad(f"the agent card at {url} is nested deeper than {MAX_CARD_DEPTH} levels")
        if isinstance(value, dict):
            todo.extend((k, depth) for k in value)
            todo.extend((v, depth + 1) for v in value.values())
        else:
            todo.extend((v, depth + 1) for v in value)


async def _get(http: httpx2.AsyncClient, url: str) -> tuple[int, bytes]:
    """Status and body (at most MAX_CARD_BYTES) of a GET."""
    async with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
        if response.status_code != 200:
            return response.status_code, b""
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_CARD_BYTES:
                raise _bad(f"the agent card at {url} is larger than {MAX_CARD_BYTES} bytes")
        return 200, bytes(body)


async def _fetch(guard: NetGuard, base: str, timeout_s: float) -> tuple[str, bytes]:
    """The URL the card was found at, and its body. The HTTP client is imported here, at the
    first card fetched: a registry with no agent keeps its some MiB out of memory (issue 16)."""
    import httpx2

    from forge.core import httpx_dialer

    settings: dict[str, Any] = {"follow_redirects": True, "max_redirects": MAX_REDIRECTS}
    async with httpx_dialer.client(guard, timeout=timeout_s, **settings) as http:
        status = 0
        for url in card_urls(base):
            try:
                status, body = await _get(http, url)
            except httpx2.HTTPError as exc:
                if (refused := httpx_dialer.refusal(exc)) is not None:
                    raise refused from exc
                problem = type(exc).__name__
                raise _bad(f"the agent at {base} could not be reached ({problem})") from exc
            if status == 200:
                return url, body
    raise _bad(f"the agent at {base} serves no agent card (HTTP {status} at {url})")


async def fetch(guard: NetGuard, base: str, timeout_s: float = CARD_TIMEOUT_S) -> Card:
    """The agent's card, fetched through the guard (every connection, redirects included).

    403 for an address the operator has not allowed; 422 for an agent that cannot be reached,
    answers an error or something that is not an A2A card. The card's endpoint is checked by
    the guard too: it is what the a2a-bridge will dial.
    """
    await guard.check_url(base)
    try:
        async with asyncio.timeout(timeout_s):  # the whole fetch: a trickling answer too
            url, body = await _fetch(guard, base, timeout_s)
    except TimeoutError as exc:
        raise _bad(f"the agent at {base} did not answer its card within {timeout_s:g} s") from exc
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise _bad(f"the agent card at {url} is nested too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"the agent card at {url} is not JSON") from exc
    check_tree(document, url)
    card = read_card(document, url)
    target = _grpc_target(card.url) if card.binding == "grpc" else None
    if target is not None:  # checked again by the a2a-bridge when it dials
        await guard.addresses(*target)
    else:
        await guard.check_url(card.url, "card.url")
    return card
