"""An agent's card as Forge's A2A endpoint serves it: the agent's own card, at Forge's URL, with
Forge's security (a bearer token), in the version the client reads."""

from __future__ import annotations

from typing import Any

from forge.proto.agents import Agent

# What the agent's card says about reaching the agent itself: replaced by Forge's.
_OWN = frozenset(
    {
        "url",
        "preferredTransport",
        "additionalInterfaces",
        "protocolVersion",
        "supportedInterfaces",
        "security",
        "securitySchemes",
        "securityRequirements",
        "signatures",
        "supportsAuthenticatedExtendedCard",
    }
)
SCHEME = "forge"


def card_of(
    agent: Agent, base_url: str, version: str, skills: list[Any] | None = None
) -> dict[str, Any]:
    """The card a client of `version` ("1.0" or "0.3") reads at `base_url`."""
    card = {k: v for k, v in agent.card.items() if k not in _OWN}
    card.setdefault("name", agent.name)
    card.setdefault("description", agent.description or agent.name)
    card.setdefault("version", "1.0.0")
    card.setdefault("defaultInputModes", ["text/plain"])
    card.setdefault("defaultOutputModes", ["text/plain"])
    if skills is not None:
        card["skills"] = skills
    card.setdefault("skills", [])
    capabilities = card.get("capabilities")
    capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
    capabilities["pushNotifications"] = True  # Forge delivers them (push.py)
    capabilities.pop("extendedAgentCard", None)
    if version == "1.0":
        capabilities.pop("stateTransitionHistory", None)
        card["capabilities"] = capabilities
        card["supportedInterfaces"] = [
            {"url": base_url, "protocolBinding": "JSONRPC", "protocolVersion": v}
            for v in ("1.0", "0.3")
        ]
        # The HTTP+JSON binding's paths hang off the agent's path: `<url>/message:send`, ...
        rest = {"url": base_url.rstrip("/"), "protocolBinding": "HTTP+JSON"}
        card["supportedInterfaces"].append({**rest, "protocolVersion": "1.0"})
        bearer = {"scheme": "Bearer", "bearerFormat": "JWT"}
        card["securitySchemes"] = {SCHEME: {"httpAuthSecurityScheme": bearer}}
        card["securityRequirements"] = [{"schemes": {SCHEME: {"list": []}}}]
        return card
    card["capabilities"] = capabilities
    card["protocolVersion"] = "0.3.0"
    card["url"] = base_url
    card["preferredTransport"] = "JSONRPC"
    # Both bindings: 0.3's HTTP+JSON paths hang off the agent's path under `v1/`
    # (`<url>/v1/message:send`, ...).
    card["additionalInterfaces"] = [
        {"url": base_url, "transport": "JSONRPC"},
        {"url": base_url.rstrip("/"), "transport": "HTTP+JSON"},
    ]
    card["securitySchemes"] = {SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    card["security"] = [{SCHEME: []}]
    return card
