"""Where Forge's A2A gRPC listener is, as agents' cards show it: apart from forge.edge.a2a_grpc
so that serving cards does not import grpc and the A2A protobufs (the listener is off by default;
a third of a second of the edge's start)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from forge.edge.config import EdgeConfig


def address(config: EdgeConfig, public_url: str) -> str | None:
    """Where A2A clients reach the gRPC listener (`host:port`, the public URL's host), or None
    when it is off."""
    if not config.a2a_grpc_port:
        return None
    host = urlsplit(public_url).hostname or config.host
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{config.a2a_grpc_port}"


def with_interface(card: Any, agent: str, where: str | None) -> Any:
    """A 1.0 card (Forge's, for `agent`) with the gRPC interface added, when it is on."""
    if where is None or not isinstance(card, dict):
        return card
    interfaces = card.get("supportedInterfaces")
    if not isinstance(interfaces, list):
        return card
    grpc_interface = {
        "url": where,
        "protocolBinding": "GRPC",
        "protocolVersion": "1.0",
        "tenant": agent,
    }
    return {**card, "supportedInterfaces": [*interfaces, grpc_interface]}
