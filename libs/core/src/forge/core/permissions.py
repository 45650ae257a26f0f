"""Who may publish and subscribe on which NATS subjects: one NATS user per service.

The table follows the subjects table of docs/architecture.md (its "from → to" column): a service
publishes what it calls or announces and subscribes to what it serves or follows. Every service
also answers the requests it receives (`allow_responses`), receives its own replies on its own
inbox (`_INBOX.<user>.>`, the prefix `NatsBus.connect` gives a connection whose URL names a user),
serves and pulls large messages' bodies (`forge.body.>`), and uses the JetStream streams of its
own key-value buckets and event logs only.

`nats_config` renders the users as a nats-server `authorization` block: `forge up` writes it
into the embedded NATS's configuration, and `forge nats-config` prints it for a NATS elsewhere
(the Helm chart, compose). See docs/deployment.md, "NATS permissions".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forge.core import subjects

# The services as `forge run` names them; each is a NATS user of the same name.
SERVICES = ("edge", "router", "registry", "plugin_runner", "upstream_proxy", "a2a_bridge")
# A user with every right, for operators and tests (never given to a service).
OPERATOR = "operator"
# The rate_limiter plugin's buckets are named by a setting (`forge_ratelimit_<window>s` by
# default): the plugin-runner may use any bucket but the other services' own.
_ANY_BUCKET = "*"

_CATALOG_CALLS = subjects.registry_all(subjects.CATALOG)
_IDENTITY_CALLS = subjects.registry_all(subjects.IDENTITY)
_PLUGIN_CALLS = subjects.plugins_call(">")


# What the router asks and announces: the catalog's snapshot, upstream and agent calls, plugin
# hooks, call metrics. The edge has them too (its local router, FORGE_EDGE_ROUTER=local).
_ROUTER_CALLS = (
    subjects.registry(subjects.CATALOG, "snapshot", "get"),
    subjects.registry(subjects.CATALOG, "gateways", "get"),
    subjects.registry(subjects.CATALOG, "tools", "page"),
    subjects.upstream("*", "rpc"),
    subjects.a2a("*", "call"),
    _PLUGIN_CALLS,
    subjects.PLUGINS_MANIFEST_GET,
    subjects.metrics("*"),
)


@dataclass(frozen=True)
class Rights:
    """One service's subjects: what it may publish to and subscribe to, beyond the common ones."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    buckets: tuple[str, ...] = ()  # JetStream key-value buckets it reads and writes
    logs: tuple[str, ...] = ()  # event logs (`Bus.log_append` / `log_follow`) it uses
    deny_publish: tuple[str, ...] = field(default=())
    deny_subscribe: tuple[str, ...] = field(default=())


# Every service's buckets, named here so the plugin-runner's "any bucket" can leave them out.
SESSIONS_REVOKED = "forge-sessions-revoked"
UPSTREAM_LEASES = "forge-upstream-leases"
UPSTREAM_USER_TOKENS = "forge-upstream-user-tokens"
A2A_PUSH = "forge_a2a_push"
A2A_TASKS = "forge_a2a_tasks"
SSE_LOG = "sse"

TABLE: dict[str, Rights] = {
    "edge": Rights(
        publish=(
            subjects.ROUTER_RPC,
            subjects.ROUTER_HEALTH,
            _CATALOG_CALLS,
            _IDENTITY_CALLS,
            subjects.UPSTREAM_HEALTH,
            subjects.upstream_oauth("*"),
            subjects.A2A_HEALTH,
            subjects.a2a("*", "*"),
            _PLUGIN_CALLS,
            subjects.PLUGINS_MANIFEST_GET,
            subjects.CANCEL_ANY,
            subjects.session("*"),
            subjects.TOKEN_USAGE,
            # A client's answer to a server-to-client request goes to the asking service's
            # inbox, from whichever edge replica the client reached (`is_inbox`).
            subjects.INBOX_PREFIX + ">",
            # The router's, for the router in the edge's process (FORGE_EDGE_ROUTER=local,
            # docs/decisions/0033-edge-local-routing.md): the router trusts the edge's principal,
            # so these let the edge cause nothing it could not through the router.
            *_ROUTER_CALLS,
            # Its local upstream's (FORGE_EDGE_UPSTREAM=local, docs/decisions/
            # 0035-edge-local-upstream-calls.md): a call's in-flight messages, resource updates,
            # the retry of a call another replica holds.
            subjects.stream("*"),
            subjects.resource_updated("*"),
            subjects.resume("*"),
        ),
        subscribe=(
            subjects.stream("*"),
            subjects.session("*"),
            subjects.RESOURCE_UPDATED_ANY,
            subjects.PLUGINS_MANIFEST,
            subjects.CATALOG_EVENTS,
            subjects.IDENTITY_EVENTS,
            # Its local upstream's: cancellations of calls in flight, retries of calls held here.
            subjects.CANCEL_ANY,
            subjects.resume("*"),
        ),
        buckets=(SESSIONS_REVOKED,),
        logs=(SSE_LOG,),
    ),
    "router": Rights(
        publish=_ROUTER_CALLS,
        subscribe=(
            subjects.ROUTER_RPC,
            subjects.ROUTER_HEALTH,
            subjects.CATALOG_EVENTS,
            subjects.PLUGINS_MANIFEST,
        ),
        deny_publish=(subjects.TOKEN_USAGE,),
    ),
    "registry": Rights(
        publish=(
            subjects.CATALOG_EVENTS,
            subjects.IDENTITY_EVENTS,
            subjects.upstream("*", "discover"),
            subjects.AUDIT_LAUNCH,
        ),
        subscribe=(
            _CATALOG_CALLS,
            _IDENTITY_CALLS,
            subjects.metrics("*"),
            subjects.AUDIT_LAUNCH,
            subjects.discover_pages("*"),
        ),
    ),
    "plugin_runner": Rights(
        publish=(
            subjects.PLUGINS_MANIFEST,
            subjects.registry(subjects.CATALOG, "plugin_bindings", ">"),
        ),
        subscribe=(
            "forge.plugins.>",
            subjects.entity_events(subjects.CATALOG, "plugin_bindings"),
        ),
        buckets=(_ANY_BUCKET,),
    ),
    "upstream_proxy": Rights(
        publish=(
            # Its replicas ask each other: the stdio lease holder's pinned ops, held calls.
            "forge.upstream.>",
            subjects.stream("*"),
            subjects.discover_pages("*"),
            subjects.resource_updated("*"),
            subjects.registry(subjects.CATALOG, "snapshot", "get"),
            subjects.registry(subjects.CATALOG, "gateways", "get"),
            subjects.AUDIT_LAUNCH,
        ),
        subscribe=(
            "forge.upstream.>",
            subjects.CANCEL_ANY,
            subjects.entity_events(subjects.CATALOG, "gateways"),
        ),
        buckets=(UPSTREAM_LEASES, UPSTREAM_USER_TOKENS),
    ),
    "a2a_bridge": Rights(
        publish=(
            subjects.stream("*"),
            subjects.metrics("agents"),
            subjects.registry(subjects.CATALOG, "agents", ">"),
            subjects.registry(subjects.CATALOG, "snapshot", "get"),
            _PLUGIN_CALLS,
            subjects.PLUGINS_MANIFEST_GET,
        ),
        subscribe=(
            "forge.a2a.>",
            subjects.CANCEL_ANY,
            subjects.entity_events(subjects.CATALOG, "agents"),
            subjects.PLUGINS_MANIFEST,
        ),
        buckets=(A2A_PUSH, A2A_TASKS),
    ),
}

# Buckets and logs only their owner may touch (left out of the plugin-runner's "any bucket").
_OWNED_BUCKETS = tuple(
    bucket for rights in TABLE.values() for bucket in rights.buckets if bucket != _ANY_BUCKET
)
_OWNED_LOGS = tuple(log for rights in TABLE.values() for log in rights.logs)


def _stream_api(stream: str) -> list[str]:
    """The JetStream API subjects of one stream: info, create, update, messages, consumers."""
    return [
        f"$JS.API.STREAM.*.{stream}",
        f"$JS.API.STREAM.MSG.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}.>",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.FC.{stream}.>",  # flow control answers of a watch or a follow
        f"$JS.ACK.{stream}.>",
    ]


def _log_stream(log: str) -> str:
    return "FORGE_LOG_" + log.upper().replace("-", "_")


def permissions(service: str) -> dict[str, Any]:
    """One service's permissions in nats-server's configuration shape."""
    rights = TABLE[service]
    publish = [*rights.publish, "forge.body.>"]
    subscribe = [*rights.subscribe, "forge.body.>", subjects.inbox(service) + ".>"]
    deny_publish = list(rights.deny_publish)
    for bucket in rights.buckets:
        # A bucket's stream is KV_<bucket>; NATS has no wildcard for part of a token, so "any
        # bucket" is any stream, less the ones other services own.
        stream = "*" if bucket == _ANY_BUCKET else f"KV_{bucket}"
        publish += [f"$KV.{bucket}.>", *_stream_api(stream)]
    if _ANY_BUCKET in rights.buckets:
        for bucket in _OWNED_BUCKETS:
            deny_publish += [f"$KV.{bucket}.>", *_stream_api(f"KV_{bucket}")]
        for log in _OWNED_LOGS:
            deny_publish += [f"forge.log.{log}.>", *_stream_api(_log_stream(log))]
    for log in rights.logs:
        publish += [f"forge.log.{log}.>", *_stream_api(_log_stream(log))]
    shape: dict[str, Any] = {
        "publish": {"allow": publish},
        "subscribe": {"allow": subscribe},
        # Answer the requests it receives, on whatever reply subject they name.
        "allow_responses": True,
    }
    if deny_publish:
        shape["publish"]["deny"] = deny_publish
    if rights.deny_subscribe:
        shape["subscribe"]["deny"] = list(rights.deny_subscribe)
    return shape


def env_password(user: str) -> str:
    """The environment variable a rendered configuration reads `user`'s password from."""
    return f"FORGE_NATS_{user.upper()}_PASSWORD"


def nats_config(passwords: Mapping[str, str] | None = None, *, operator: bool = False) -> str:
    """The users and their permissions as a nats-server `authorization` block.

    With `passwords` ({user: password}) the passwords are written in; without, each is read by
    nats-server from its environment (`$FORGE_NATS_<USER>_PASSWORD`), so the block can be
    shipped without secrets. `operator` adds the user with every right.
    """
    users = [*SERVICES, OPERATOR] if operator else list(SERVICES)
    lines = ["authorization {", "  users = ["]
    for user in users:
        if passwords is None:
            password = "$" + env_password(user)
        else:
            password = json.dumps(passwords[user])
        entry = f"    {{user: {json.dumps(user)}, password: {password}"
        if user != OPERATOR:
            entry += f", permissions: {json.dumps(permissions(user))}"
        lines.append(entry + "}")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"
