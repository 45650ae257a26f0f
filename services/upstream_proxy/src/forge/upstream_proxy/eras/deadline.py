"""How long a call may take: the envelope's deadline, less the way back, within the gateway's."""

from __future__ import annotations

import time

from forge.core.errors import DeadlineExceededError
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope

# Answer this long before the envelope's deadline: the router stops waiting 0.05 s before it,
# and our reply still has to cross NATS to get there.
REPLY_MARGIN_S = 0.1


def budget(envelope: Envelope, gateway: Gateway) -> float:
    """Seconds left for the gateway to answer; DeadlineExceededError when none are."""
    left = envelope.deadline - time.time() - REPLY_MARGIN_S
    if gateway.timeout_s is not None:
        left = min(left, gateway.timeout_s)
    if left <= 0:
        raise DeadlineExceededError(f"no time left to call gateway {gateway.name!r}")
    return left
