"""kill -9 of each service in turn, under a steady load of tools/calls from several clients, on
one `forge up --replicas all=2` mesh (issue 15).

With two replicas, killing one costs only the requests that were inside it: each of those ends
with a JSON-RPC error by its deadline (or, for an edge, its connection drops: nothing else could
answer it), and every other request is served. Killing every replica of a service at once is the
one-replica case: clients get clear errors (or, for the edges, refused connections) until the
supervisor has started the service again, and once it says it is ready every request is served.
No request is ever left unanswered. The load reaches the upstream-proxy (the demo server's
`demo-echo`), the a2a-bridge (the demo agent's tool), the plugin-runner (a rate limiter on
`demo-echo`, which is never inline) and the router; the registry is behind the caches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from forge.testing import eventually
from tests.faults.forge_up import ForgeUp
from tests.faults.load import (
    DROPPED,
    ERROR,
    OK,
    REFUSED,
    UNANSWERED,
    WRONG,
    Call,
    Load,
    Outcome,
    summary,
)

# Short, so that a request lost inside a killed process ends soon; long for a loaded machine.
REQUEST_TIMEOUT_S = 3.0
# A request with no answer this long after its deadline is unanswered: the failure looked for.
CLIENT_TIMEOUT_S = REQUEST_TIMEOUT_S + 5
CLIENTS = 4
# How long after a SIGKILL a request may still be handed to the dead process: until nats-server
# has read the closed connection and dropped its subscriptions (well under this on loopback). A
# request sent then went into the killed process as surely as one sent just before.
NOTICED_S = 0.25
# Edge first: the others' kills are then seen through both edges again.
ORDER = ("edge", "router", "registry", "plugin_runner", "upstream_proxy", "a2a_bridge")
CALLS = (
    Call("demo-echo", {"text": "T"}, "T"),
    Call("a2a-echo-agent", {"message": "T"}, "T"),
)
PLUGINS = """\
plugins:
  - name: faults-limit
    kind: rate_limiter
    hooks: [tool_pre_invoke]
    conditions: {tools: [demo-echo]}
    config: {by_user: "1000000/m"}
"""


@pytest.fixture(scope="module")
def forge(forge_up: Callable[..., ForgeUp], tmp_path_factory: pytest.TempPathFactory) -> ForgeUp:
    plugins = Path(tmp_path_factory.mktemp("kills")) / "plugins.yaml"
    plugins.write_text(PLUGINS)
    env = {
        "FORGE_EDGE_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG": str(plugins),
        "FORGE_LOG_LEVEL": "info",
    }
    return forge_up(replicas="all=2", env=env)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines printed at the end of the test (seen with -s, and in a failure's output)."""
    lines: list[str] = []
    yield lines
    print(f"\n{request.node.name}:\n" + "\n".join(lines))


async def served(load: Load, since: float = 0.0) -> None:
    """Wait until every tool has been served through every edge by a call sent at `since` or
    later (at the start: the caches are filled)."""

    async def everywhere() -> bool:
        done = {(o.tool, o.edge) for o in load.outcomes if o.kind == OK and o.started >= since}
        return len(done) >= len(CALLS) * len(load.urls)

    def missing() -> str:
        done = {(o.tool, o.edge) for o in load.outcomes if o.kind == OK and o.started >= since}
        wanted = {(c.tool, url) for c in CALLS for url in load.urls}
        return f"never served since {since}: {sorted(wanted - done)}"

    await eventually(everywhere, within_s=60, detail=missing)


@dataclass
class Kill:
    service: str
    names: list[str]
    at: float  # UNIX time just before the SIGKILL
    noticed: float  # NOTICED_S after it was sent
    restarted: float  # when the supervisor had started each again
    ready: float  # when each said it was ready

    def inside(self, o: Outcome) -> bool:
        """Whether the request `o` may have been inside the killed processes."""
        return o.overlaps(self.at, self.noticed)


async def kill(forge: ForgeUp, service: str, names: list[str], ready: bool = True) -> Kill:
    """SIGKILL `names`, wait until the supervisor has started them again and, with `ready`, until
    they say they are ready."""
    at = time.time()
    killed = forge.kill(*names)
    noticed = time.time() + NOTICED_S
    restarted = await asyncio.to_thread(forge.wait_restarted, killed)
    done = await asyncio.to_thread(forge.wait_ready, names) if ready else 0.0
    return Kill(service, names, at, noticed, restarted, done)


def supervised(forge: ForgeUp, kills: list[Kill]) -> None:
    """The supervisor said, for each process killed, how it died and that it started it again."""
    log = forge.log()
    for name in (name for k in kills for name in k.names):
        assert f"forge: {name} was killed by SIGKILL" in log, log[-3000:]
        assert f"forge: {name} started again" in log


def answered(load: Load) -> None:
    """Every request was answered in time (by its deadline, with some slack), and rightly."""
    unanswered = [o for o in load.outcomes if o.kind in (UNANSWERED, WRONG)]
    assert not unanswered, unanswered[:5]


def clear(o: Outcome, service: str) -> bool:
    """A failure a client can act on: a JSON-RPC error; an edge's dropped or refused connection."""
    return o.kind == ERROR or (service == "edge" and o.kind in (DROPPED, REFUSED))


async def test_a_killed_replica_costs_only_the_requests_inside_it(
    forge: ForgeUp, report: list[str]
) -> None:
    kills: list[Kill] = []
    async with Load(forge.urls, forge.token, CALLS, CLIENTS, CLIENT_TIMEOUT_S) as load:
        await served(load)
        # Replica 2 of each in turn, as soon as the one before was started again (replica 1
        # serves meanwhile), then all of them ready.
        for service in ORDER:
            kills.append(await kill(forge, service, [f"{service}-2"], ready=False))
        ready = await asyncio.to_thread(forge.wait_ready, [f"{s}-2" for s in ORDER])
        settled = len(load.outcomes)
        await eventually(lambda: len(load.outcomes) > settled + 10, within_s=30)
    supervised(forge, kills)
    for k in kills:
        # Each failure counted once, at the first kill it was in flight at.
        inside = [o for o in load.failed() if next((x for x in kills if x.inside(o)), None) is k]
        report.append(f"{k.service}: {summary(inside)}")
    last = kills[-1].restarted
    report.append(f"restarted replicas all ready {ready - last:.2f} s after the last restart")
    report.append(f"all: {summary(load.outcomes)}")
    answered(load)
    # A failure is allowed only to a request in flight at a kill, and must say so clearly.
    for o in load.failed():
        at = [k for k in kills if k.inside(o)]
        assert at, f"a request outside every kill failed: {o}"
        assert any(clear(o, k.service) for k in at), o


async def test_a_service_with_every_replica_killed_fails_clearly_and_serves_after_restart(
    forge: ForgeUp, report: list[str]
) -> None:
    kills: list[Kill] = []
    async with Load(forge.urls, forge.token, CALLS, CLIENTS, CLIENT_TIMEOUT_S) as load:
        await served(load)
        for service in ORDER:
            kills.append(await kill(forge, service, forge.replicas(service)))
            await served(load, since=kills[-1].ready)
        settled = len(load.outcomes)
        await eventually(lambda: len(load.outcomes) > settled + 10, within_s=30)
    supervised(forge, kills)
    report.append(f"all: {summary(load.outcomes)}")
    answered(load)
    ends = [k.at for k in kills[1:]] + [time.time()]
    for k, end in zip(kills, ends, strict=True):
        others = [other for other in kills if other is not k]
        # A request in flight at the next kill is that kill's.
        window = [o for o in load.between(k.at, end) if not any(x.inside(o) for x in others)]
        failed = [o for o in window if o.kind != OK]
        inflight = [o for o in load.failed() if k.inside(o) and o.started < k.at]
        assert all(clear(o, k.service) for o in failed + inflight), (k.service, failed)
        # Once the service says it is ready again, every request is served.
        late = [o for o in window if o.started >= k.ready and o.kind != OK]
        assert not late, (k.service, late)
        again = [o for o in window if o.kind == OK and o.started >= k.restarted]
        last_failure = max((o.started for o in failed), default=k.at)
        resumed = min((o.ended for o in again if o.started >= last_failure), default=k.ready)
        report.append(
            f"{k.service}: {summary(failed + inflight)}; killed → restarted"
            f" {k.restarted - k.at:.2f} s, restarted → ready {k.ready - k.restarted:.2f} s,"
            f" restarted → serving {max(0.0, resumed - k.restarted):.2f} s"
        )
    assert not [o for o in load.outcomes if o.ended < kills[0].at and o.kind != OK]
