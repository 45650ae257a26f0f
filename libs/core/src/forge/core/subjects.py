"""Every NATS subject Forge uses, built in one place."""

from __future__ import annotations

ROUTER_RPC = "forge.router.rpc"
ROUTER_HEALTH = "forge.router.health"
UPSTREAM_HEALTH = "forge.upstream.health"
A2A_HEALTH = "forge.a2a.health"
CATALOG = "catalog"
IDENTITY = "identity"


def registry(registry: str, entity: str, op: str) -> str:
    """Request/reply to a registry: `forge.registry.<registry>.<entity>.<op>`."""
    return f"forge.registry.{registry}.{entity}.{op}"


def registry_all(registry: str) -> str:
    """Everything a registry serves."""
    return f"forge.registry.{registry}.>"


def registry_health(registry: str) -> str:
    return f"forge.registry.{registry}.health.ping"


def upstream(gateway_id: str, op: str) -> str:
    """Request/reply to the upstream-proxy for one gateway."""
    return f"forge.upstream.{gateway_id}.{op}"


RESUME_PREFIX = "forge.upstream.resume."


def resume(replica_id: str) -> str:
    """One upstream-proxy replica's held calls: modern clients' retries with `requestState`."""
    return RESUME_PREFIX + replica_id


def upstream_any(op: str) -> str:
    """One operation for every gateway: what an upstream-proxy replica serves."""
    return f"forge.upstream.*.{op}"


def a2a(agent_id: str, op: str) -> str:
    """Request/reply to the a2a-bridge for one agent (`call`, `send`, `stream`, `task`, ...)."""
    return f"forge.a2a.{agent_id}.{op}"


def a2a_any(op: str) -> str:
    """One operation for every agent: what an a2a-bridge replica serves."""
    return f"forge.a2a.*.{op}"


def agent_of(subject: str) -> str:
    """The agent id inside a `forge.a2a.<agent_id>.<op>` subject."""
    return subject.split(".", 3)[2]


def gateway_of(subject: str) -> str:
    """The gateway id inside an upstream subject."""
    return subject.split(".", 3)[2]


def event(registry: str, entity: str, kind: str) -> str:
    """Pub/sub cache invalidation: kind is `changed` or `deleted`."""
    return f"forge.events.{registry}.{entity}.{kind}"


def events_all(registry: str) -> str:
    return f"forge.events.{registry}.>"


def entity_events(registry: str, entity: str) -> str:
    """Every change and deletion event of one entity kind."""
    return f"forge.events.{registry}.{entity}.>"


def plugins(hook: str) -> str:
    """Request/reply to the plugin-runner for one hook."""
    return f"forge.plugins.{hook}"


PLUGINS_MANIFEST = "forge.plugins.manifest"


def metrics(kind: str) -> str:
    return f"forge.events.metrics.{kind}"


def stream(request_id: str) -> str:
    """Progress and log notifications of one in-flight request."""
    return f"forge.stream.{request_id}"


def discover_pages(request_id: str) -> str:
    """The pages of one streamed discovery (`forge.proto.catalog.DiscoverPage`), upstream-proxy
    → the registry replica that asked (decision 0034)."""
    return f"forge.discover.{request_id}"


def cancel(request_id: str) -> str:
    return f"forge.cancel.{request_id}"


CANCEL_ANY = "forge.cancel.*"


def request_of(subject: str) -> str:
    """The request id inside a `forge.stream.<id>` or `forge.cancel.<id>` subject."""
    return subject.split(".", 2)[2]


def session(session_id: str) -> str:
    """Server-to-client messages of a legacy session's GET stream."""
    return f"forge.session.{session_id}"


def resource_updated(gateway_id: str) -> str:
    """`notifications/resources/updated` a legacy upstream sent outside any call."""
    return f"forge.resource.updated.{gateway_id}"


RESOURCE_UPDATED_ANY = "forge.resource.updated.*"
INBOX_PREFIX = "_INBOX."


def inbox(user: str) -> str:
    """The reply inbox prefix of a connection made as NATS user `user` (its own `_INBOX.<user>`;
    forge.core.permissions lets each service subscribe to its own alone)."""
    return INBOX_PREFIX + user


def is_inbox(subject: str) -> bool:
    """A NATS reply subject a client may answer on: `_INBOX.` and plain tokens, no wildcards."""
    return (
        subject.startswith(INBOX_PREFIX)
        and len(subject) <= 256
        and all(c not in subject for c in " \t\r\n*>")
        and ".." not in subject
        and not subject.endswith(".")
    )


CATALOG_EVENTS = "forge.events.catalog.>"
IDENTITY_EVENTS = "forge.events.identity.>"
TOKEN_USAGE = "forge.events.metrics.token_usage"
# A process launch (or refusal) to write to the audit log: request/reply, answered once stored.
AUDIT_LAUNCH = "forge.audit.launch"


def upstream_oauth(gateway_id: str) -> str:
    """Edge → upstream-proxy: finish a user's OAuth authorization-code flow for one gateway."""
    return f"forge.upstream.{gateway_id}.oauth"


# Asked by a router (or edge) that starts after the plugin-runner: the reply is the manifest.
PLUGINS_MANIFEST_GET = "forge.plugins.manifest.get"


def plugins_call(hook: str) -> str:
    """Request/reply to the plugin-runner for one hook, params in the wrapped form
    (`{"payload", "request"}`), answered with `{"modified", "payload"?, "result"?}`."""
    return f"forge.plugins.call.{hook}"


def bodies(owner: str) -> str:
    """Where one bus connection serves the bodies of its large messages (claim checks)."""
    return f"forge.body.{owner}"
