"""Push-notification configs of tasks started through Forge's A2A endpoint, delivered by Forge.

Forge does not hand a client's webhook to the agent (the agent would dial an address Forge
never checked, and see the client's token): the configs are Forge's, stored in JetStream KV
(bucket `forge_a2a_push`, key `<agent_id>.<sha256 of the agent's task id>`, the task's list of
configs). Storing a config starts a watch of the task (GetTask every `POLL_S` until it ends,
at most `WATCH_S`) that POSTs each new state to every config of the task then stored, through
the SSRF guard: A2A 1.0's StreamResponse `{"task": ...}` for a config created by a 1.0 client,
the 0.3 Task for a 0.3 one, with `X-A2A-Notification-Token` and the config's `authentication`
as an `Authorization` header. A watch is held by a lease in the same bucket (watches.py): when
the replica holding it stops or dies, another carries it on from the last state delivered.

A delivery is an answer of the agent's too: each state passes `agent_post_invoke` as a GetTask
answer of Forge's A2A endpoint does (the same payload, the agent's team's bindings), as the
principal who stored the config (kept with it, without their token). A state a hook refuses,
or that cannot be checked (no plugin-runner answers: fail closed), is delivered withheld: its
id, context and status state, without the agent's message, artifacts or history, marked
`metadata["forge.withheld"]` with the reason's JSON-RPC code.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any

import httpx2
import msgspec

from forge.a2a_bridge import dial, tasks, versions
from forge.a2a_bridge.agents import Agents
from forge.a2a_bridge.credentials import Credentials
from forge.a2a_bridge.hooks import AgentHooks
from forge.a2a_bridge.watches import Held, Watches
from forge.a2a_bridge.wire import AgentClient, AgentRpcError
from forge.core.bus import Bus
from forge.core.errors import INVALID_PARAMS, ForgeError
from forge.proto.agents import Agent
from forge.proto.envelope import Envelope, Principal

log = logging.getLogger("forge.a2a_bridge.push")
BUCKET = "forge_a2a_push"
TTL_S = 7 * 24 * 3600.0
POLL_S = 0.5
WATCH_S = 600.0
DELIVER_TIMEOUT_S = 10.0
POLL_TIMEOUT_S = 30.0
MAX_CONFIGS = 16
_ENDED = frozenset(
    {
        "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_REJECTED",
    }
)
_ENC = msgspec.json.Encoder()
_LIST = msgspec.json.Decoder(list[dict[str, Any]])
_PRINCIPAL = msgspec.json.Decoder(Principal)
WITHHELD = "forge.withheld"  # the metadata key of a state delivered without its content


class PushError(Exception):
    """An A2A error on a config request (code, message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _key(agent_id: str, upstream: str) -> str:
    return f"{agent_id}.{hashlib.sha256(upstream.encode()).hexdigest()}"


class Pushes:
    def __init__(
        self,
        bus: Bus,
        client: AgentClient,
        agents: Agents,
        credentials: Credentials,
        hooks: AgentHooks | None = None,
    ) -> None:
        self.bus = bus
        self.hooks = hooks
        self.client = client
        self.agents = agents
        self.credentials = credentials
        self.watches = Watches(bus, BUCKET, self._watch)
        self.created = False

    async def start(self) -> None:
        """Follow the watches of every replica, to carry on those nobody holds."""
        await self.watches.start()

    async def release(self) -> None:
        """Hand this replica's watches to the others (called while draining, NATS still up)."""
        await self.watches.release()

    async def close(self) -> None:
        await self.watches.close()

    async def _configs(self, agent_id: str, upstream: str) -> list[dict[str, Any]]:
        data = await self.bus.kv_get(BUCKET, _key(agent_id, upstream))
        if not data:
            return []
        try:
            return _LIST.decode(data)
        except msgspec.DecodeError:
            return []

    async def _store(self, agent_id: str, upstream: str, configs: list[dict[str, Any]]) -> None:
        if not self.created:
            # The bucket is made with its entries' lifetime by the first create (kv_put would
            # make it without one): a task's configs go TTL_S after they last changed.
            await self.bus.kv_create(BUCKET, "bucket", b"", ttl_s=TTL_S)
            self.created = True
        await self.bus.kv_put(BUCKET, _key(agent_id, upstream), _ENC.encode(configs))

    async def handle(
        self,
        agent: Agent,
        method: str,
        params: dict[str, Any],
        version: str,
        principal: Principal | None = None,
    ) -> Any:
        """One config method (1.0 form; `taskId` already the agent's): its 1.0-form result.
        `principal` stores the config: deliveries pass the post hooks as theirs."""
        upstream = str(params.get("taskId"))
        forge_id = tasks.tag(agent.id, upstream)
        configs = await self._configs(agent.id, upstream)
        shown = [{**c.get("config", {}), "taskId": forge_id} for c in configs]
        wanted = params.get("id")
        if method == "ListTaskPushNotificationConfigs":
            return {"configs": shown}
        if method == "GetTaskPushNotificationConfig":
            for config in shown:
                if wanted in (None, config.get("id")):
                    return config
            raise PushError(tasks.TASK_NOT_FOUND, f"no push-notification config {wanted!r}")
        if method == "DeleteTaskPushNotificationConfig":
            kept = [c for c in configs if c.get("config", {}).get("id") != wanted]
            await self._store(agent.id, upstream, kept)
            return {}
        config = {k: v for k, v in params.items() if k not in ("taskId", "tenant")}
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PushError(INVALID_PARAMS, "a push-notification config needs an http(s) `url`")
        config.setdefault("id", uuid.uuid4().hex)
        configs = [c for c in configs if c.get("config", {}).get("id") != config["id"]]
        if len(configs) >= MAX_CONFIGS:
            raise PushError(
                INVALID_PARAMS, f"a task holds at most {MAX_CONFIGS} push-notification configs"
            )
        entry: dict[str, Any] = {"config": config, "version": version}
        if principal is not None:  # never their bearer token (kept for token exchange only)
            storable = msgspec.structs.replace(principal, subject_token=None)
            entry["principal"] = msgspec.json.decode(_ENC.encode(storable))
        configs.append(entry)
        await self._store(agent.id, upstream, configs)
        await self.watches.begin(_key(agent.id, upstream), agent.id, upstream, WATCH_S)
        return {**config, "taskId": forge_id}

    async def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        return agent if agent is not None else await self.agents.fetch(agent_id, time.time() + 10)

    async def _watch(self, held: Held) -> None:
        """Poll the task; each new state goes to every config stored for it, then is recorded
        in the lease (so a replica carrying the watch on does not send it again)."""
        upstream = held.lease.task
        try:
            agent = await self._agent(held.lease.agent)
            access = self.credentials.access(agent)
        except ForgeError as exc:  # the agent is gone, or its credentials do not open
            log.warning("push watch of a task ended: %s", type(exc).__name__)
            await self.watches.end(held)
            return
        while time.time() < held.lease.until:
            try:
                deadline = time.time() + POLL_TIMEOUT_S
                params = {"id": upstream}
                task = await dial.request(self.client, agent, access, "GetTask", params, deadline)
            except (ForgeError, AgentRpcError, httpx2.HTTPError) as exc:  # the watch ends
                log.warning("push watch of a task of %s ended: %s", agent.name, type(exc).__name__)
                break
            status = task.get("status") if isinstance(task, dict) else None
            state = status.get("state") if isinstance(status, dict) else None
            seen = hashlib.sha256(_ENC.encode(status)).hexdigest()[:32]
            if seen != held.lease.last:
                await self._deliver(agent, upstream, task)
                if not await self.watches.record(held, seen):
                    return  # another replica holds the watch now
            if state in _ENDED:
                break
            await asyncio.sleep(POLL_S)
        await self.watches.end(held)

    async def _checked(self, agent: Agent, upstream: str, task: Any, principal: Any) -> Any:
        """The state as `agent_post_invoke` lets the config's principal see it; withheld when
        a hook refuses it or it cannot be checked."""
        hooks = self.hooks
        if hooks is None or not hooks.serves("agent_post_invoke"):
            return task
        try:
            who = _PRINCIPAL.decode(_ENC.encode(principal)) if principal else Principal("")
        except msgspec.ValidationError:
            who = Principal("")
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method="GetTask",
            params=msgspec.Raw(b"{}"),
            principal=who,
            deadline=time.time() + DELIVER_TIMEOUT_S,
        )
        try:
            return await hooks.post_answer(envelope, agent, {"id": upstream}, task)
        except ForgeError as exc:
            log.info("a push notification's state was withheld: %s", type(exc).__name__)
            return withheld(task, exc.code)

    async def _deliver(self, agent: Agent, upstream: str, task: Any) -> None:
        checked: dict[bytes, Any] = {}  # per principal: one hook run for their configs
        for entry in await self._configs(agent.id, upstream):
            config = entry.get("config", {})
            who = _ENC.encode(entry.get("principal"))
            if who not in checked:
                shown = await self._checked(agent, upstream, task, entry.get("principal"))
                checked[who] = tasks.tag_task(msgspec.json.decode(_ENC.encode(shown)), agent.id)
            tagged = checked[who]
            body = {"task": tagged} if entry.get("version") != "0.3" else versions.task_down(tagged)
            headers = {"Content-Type": "application/json"}
            if isinstance(config.get("token"), str):
                headers["X-A2A-Notification-Token"] = config["token"]
            auth = config.get("authentication")
            if isinstance(auth, dict) and isinstance(auth.get("credentials"), str):
                headers["Authorization"] = f"{auth.get('scheme') or 'Bearer'} {auth['credentials']}"
            try:
                # The webhook's answer is not read: only that it was delivered matters.
                async with self.client.http.stream(
                    "POST",
                    str(config.get("url")),
                    content=_ENC.encode(body),
                    headers=headers,
                    timeout=DELIVER_TIMEOUT_S,
                ):
                    pass
            except (httpx2.HTTPError, ForgeError) as exc:
                log.warning("a push notification was not delivered: %s", type(exc).__name__)


def withheld(task: Any, code: int) -> Any:
    """A task's state without what the agent said: id, context, status state and time."""
    if not isinstance(task, dict):
        return {"metadata": {WITHHELD: code}}
    status = task.get("status")
    status = status if isinstance(status, dict) else {}
    kept = {k: status[k] for k in ("state", "timestamp") if k in status}
    shown = {k: task[k] for k in ("id", "contextId") if k in task}
    return {**shown, "status": kept, "metadata": {WITHHELD: code}}
