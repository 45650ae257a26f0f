"""What a hook knows about the request besides its payload: who, where, which target; and the
call as the plugin-runner and a router's inline chains both take it from an envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError
from forge.plugins.hookspec import PRE_HOOKS, TARGET_KIND
from forge.proto.envelope import Envelope, Principal

ANONYMOUS = Principal(subject="anonymous")


@dataclass(frozen=True)
class HookContext:
    """One hook call. `request` is the request's params (for a pre hook, the payload as it
    arrived; for a post hook, the request as the pre hooks left it, or None when the caller did
    not send it); `target` the tool or prompt name, resource URI or agent name, if any;
    `target_team` the team owning that tool, prompt or resource (from the router's catalog;
    None when it has none or the caller did not say)."""

    hook: str
    method: str = ""
    request_id: str = ""
    server_id: str | None = None
    principal: Principal = ANONYMOUS
    request: Any = None
    target: str | None = None
    target_team: str | None = None
    deadline: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target_kind(self) -> str | None:
        """ "tool", "prompt", "resource", "agent" or None (HTTP and list hooks)."""
        return TARGET_KIND.get(self.hook)

    @property
    def is_pre(self) -> bool:
        return self.hook in PRE_HOOKS

    @property
    def user(self) -> str:
        return self.principal.email or self.principal.subject

    @property
    def team(self) -> str | None:
        """The principal's personal team (listed first)."""
        return self.principal.teams[0] if self.principal.teams else None


def target_of(hook: str, request: Any) -> str | None:
    """The name a request targets: a tool or prompt `name`, a resource `uri`, an agent name."""
    kind = TARGET_KIND.get(hook)
    if kind is None or not isinstance(request, dict):
        return None
    keys = {"resource": ("uri",), "agent": ("agent", "name")}.get(kind, ("name",))
    for key in keys:
        value = request.get(key)
        if isinstance(value, str):
            return value
    return None


def of_envelope(
    hook: str, envelope: Envelope, request: Any, target_team: str | None = None
) -> HookContext:
    """The context of a hook call for the request `envelope` carries (its params decoded as
    `request`, or None when unknown), on a target owned by `target_team`."""
    return HookContext(
        hook=hook,
        method=envelope.method,
        request_id=envelope.id,
        server_id=envelope.server_id,
        principal=envelope.principal,
        request=request,
        target=target_of(hook, request),
        target_team=target_team,
        deadline=envelope.deadline,
    )


_ANY = msgspec.json.Decoder()


def decode_json(data: bytes | msgspec.Raw, what: str) -> Any:
    """A hook call's payload or request (`what`), decoded: InvalidParamsError when it is not
    JSON."""
    try:
        return _ANY.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"the hook's {what} is not valid JSON") from exc
