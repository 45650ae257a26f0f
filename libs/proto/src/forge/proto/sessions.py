"""Messages between edge replicas about one client session, on `forge.session.<sid>`."""

from __future__ import annotations

import msgspec

from forge.proto.mcp import SubscriptionFilter


class SessionControl(msgspec.Struct, frozen=True, omit_defaults=True):
    """For the replica holding a session's stream, from the replica that took a request: a
    legacy `resources/subscribe` (`forge: "subscribe"`, `uri`) or `unsubscribe` that succeeded;
    a modern `subscriptions/listen` admitted on that stream (`forge: "listen"`, the request's
    `id` and the honoured filter in `notifications`), or cancelled (`forge: "unlisten"`, `id`);
    a modern request on the SSE transport (`forge: "modern"`: no untagged list changes then).
    Told apart from the notifications on the same subject by its first bytes, `{"forge":`;
    never sent to a client."""

    forge: str
    uri: str = ""
    id: str | int | None = None
    notifications: SubscriptionFilter | None = None


SESSION_CONTROL_DECODER = msgspec.json.Decoder(SessionControl)


class StreamOwner(msgspec.Struct, frozen=True, array_like=True):
    """The first record of a resumable SSE answer's event log (`forge.log.<log>.<key>`), read
    by whichever edge replica a client resumes on: who may resume the stream — the same
    principal, on the same endpoint and legacy session."""

    subject: str
    endpoint: str
    session: str | None
