"""Messages between edge replicas about one client session, on `forge.session.<sid>`."""

from __future__ import annotations

import msgspec


class SessionControl(msgspec.Struct, frozen=True):
    """A legacy session's `resources/subscribe` (`forge: "subscribe"`) or `unsubscribe` that
    succeeded on one replica, for the replica holding the session's stream. Told apart from the
    notifications on the same subject by its first bytes, `{"forge":`; never sent to a client."""

    forge: str
    uri: str


SESSION_CONTROL_DECODER = msgspec.json.Decoder(SessionControl)
