"""One modern `subscriptions/listen` subscription: its filter, acknowledgement and messages.

The same on every transport: the acknowledgement first, then the list changes and resource
updates the honoured filter names, each tagged with the listen request's id in
`_meta["io.modelcontextprotocol/subscriptionId"]`, and the request's result (with the same tag)
when the edge ends the subscription gracefully.
"""

from __future__ import annotations

import msgspec

from forge.core.errors import InvalidParamsError
from forge.edge.transports.notices import LIST_CHANGED, PROMPTS, RESOURCES, TOOLS
from forge.proto import jsonrpc
from forge.proto.mcp import LISTEN_PARAMS_DECODER, SubscriptionFilter

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
UPDATED = "notifications/resources/updated"
_ENC = msgspec.json.Encoder()


def requested(params: bytes) -> SubscriptionFilter:
    """The filter a `subscriptions/listen` asks for; -32602 when it is malformed."""
    try:
        return LISTEN_PARAMS_DECODER.decode(params).notifications
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise InvalidParamsError(
            "subscriptions/listen needs params.notifications: an object of the booleans "
            "toolsListChanged, promptsListChanged, resourcesListChanged and the list of URIs "
            f"resourceSubscriptions ({exc})"
        ) from exc


def honoured(wanted: SubscriptionFilter) -> SubscriptionFilter:
    """What Forge honours of a filter: what it asked for as true, and its URIs once each."""
    uris = list(dict.fromkeys(wanted.resourceSubscriptions or ()))
    return SubscriptionFilter(
        toolsListChanged=wanted.toolsListChanged or None,
        promptsListChanged=wanted.promptsListChanged or None,
        resourcesListChanged=wanted.resourcesListChanged or None,
        resourceSubscriptions=uris or None,
    )


def key(request_id: jsonrpc.RequestId | None) -> str:
    """A listen's id as a dictionary key (1 and "1" are different ids)."""
    return _ENC.encode(request_id).decode()


class Listen:
    """One admitted subscription: what it delivers, and how each message looks."""

    def __init__(self, request_id: jsonrpc.RequestId, filter_: SubscriptionFilter) -> None:
        self.id = request_id
        self.filter = filter_
        flags = {
            TOOLS: filter_.toolsListChanged,
            PROMPTS: filter_.promptsListChanged,
            RESOURCES: filter_.resourcesListChanged,
        }
        self.kinds = frozenset(kind for kind, on in flags.items() if on)
        self.uris = frozenset(filter_.resourceSubscriptions or ())
        self._meta = {SUBSCRIPTION_ID: request_id}
        self._tagged = _ENC.encode({"_meta": self._meta})

    def ack(self) -> bytes:
        params = _ENC.encode({"notifications": self.filter, "_meta": self._meta})
        return jsonrpc.notification_bytes(ACKNOWLEDGED, params)

    def notices(self, changed: frozenset[str]) -> list[bytes]:
        kinds = sorted(changed & self.kinds)
        return [jsonrpc.notification_bytes(LIST_CHANGED[kind], self._tagged) for kind in kinds]

    def updated(self, uri: str) -> bytes:
        params = _ENC.encode({"uri": uri, "_meta": self._meta})
        return jsonrpc.notification_bytes(UPDATED, params)

    def farewell(self) -> bytes:
        """The listen request's result: the subscription ended on purpose."""
        return jsonrpc.result_bytes(
            self.id, _ENC.encode({"_meta": self._meta, "resultType": "complete"})
        )
