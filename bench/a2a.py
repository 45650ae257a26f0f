"""The A2A phase: one message to the A2A 1.0 echo agent (a2a-sdk), straight to it and through Forge.

- direct: A2A `SendMessage` (JSON-RPC, `A2A-Version: 1.0`) to the agent;
- forge: MCP `tools/call` of the agent's tool (`a2a-<slug>`, modern era) on Forge's `/mcp`:
  edge → router → a2a-bridge → the agent, and back;
- forge-a2a: the same `SendMessage` on Forge's A2A endpoint (`/a2a/<slug>/`): edge → a2a-bridge
  → the agent, and back.

Each side: sequential latency on one connection (alternating rounds, the median of each side's),
then calls/s with `--concurrency` clients. The overhead is forge minus direct; target: p50 ≤ 2
ms added, as for an upstream's tools/call. `python -m bench.a2a [options]` runs this phase alone.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import calls, worker
from bench.stack import Stack, wait_callable
from forge.cli.mesh import MeshError
from forge.servers.process import ServerProcess, spawn

AGENT = "bench-echo"
TARGET_P50_MS = 2.0
ROUNDS = 2


def _target(name: str, url: str, headers: dict[str, str], message: dict[str, Any]) -> calls.Target:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(message, separators=(",", ":")).encode()
    raw = calls.encode_request(host, port, parts.path or "/", headers, body)
    return calls.Target(name, "modern", host, port, raw, calls.ECHO_TEXT.encode())


def direct(agent_url: str) -> calls.Target:
    """A2A 1.0 SendMessage to the agent itself (its answer: a Message echoing the text)."""
    message = {"messageId": "bench-1", "role": "ROLE_USER", "parts": [{"text": calls.ECHO_TEXT}]}
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    headers = {"Content-Type": "application/json", "A2A-Version": "1.0"}
    return _target("direct", agent_url, headers, request)


def forge_mcp(stack: Stack, tool: str) -> calls.Target:
    """The agent's tool called through Forge (modern era: no session to carry)."""
    params = {
        "name": tool,
        "arguments": {"message": calls.ECHO_TEXT},
        "_meta": {"io.modelcontextprotocol/protocolVersion": calls.MODERN_VERSION},
    }
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    headers = calls._headers(tool, "modern", stack.token, None)
    return _target("forge", stack.forge_url, headers, request)


def forge_a2a(stack: Stack, slug: str) -> calls.Target:
    """The same SendMessage to Forge's A2A endpoint for the agent (`/a2a/<slug>/`)."""
    message = {"messageId": "bench-1", "role": "ROLE_USER", "parts": [{"text": calls.ECHO_TEXT}]}
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    headers = {
        "Content-Type": "application/json",
        "A2A-Version": "1.0",
        "Authorization": f"Bearer {stack.token}",
    }
    return _target("forge-a2a", f"{stack.mesh.url}/a2a/{slug}/", headers, request)


def register(stack: Stack, url: str) -> str:
    """Register the agent (public) and return its slug; an earlier one of the name goes."""
    auth = {"Authorization": f"Bearer {stack.token}"}
    with httpx.Client(base_url=stack.mesh.url, headers=auth, timeout=30) as rest:
        for agent in rest.get("/a2a").json():
            if agent.get("name") == AGENT:
                rest.delete(f"/a2a/{agent['id']}")
        created = rest.post("/a2a", json={"name": AGENT, "url": url, "visibility": "public"})
        if created.status_code != 201:
            raise MeshError(f"registering the echo agent failed: {created.text[:300]}")
        return str(created.json()["slug"])


@contextlib.contextmanager
def echo_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


def _phase(p: worker.Phase) -> dict[str, Any]:
    return {
        "ok": p.ok,
        "errors": dict(p.errors),
        "error_sample": p.error_sample,
        "rps": round(p.rps, 1),
        "latency_ms": {k: round(v, 4) for k, v in p.latency_ms.items()},
    }


def _job(target: calls.Target, args: Any, **mode: Any) -> worker.Job:
    return worker.Job(
        host=target.host,
        port=target.port,
        request=target.request,
        expect=target.expect,
        warmup=args.warmup,
        **mode,
    )


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one side as one: the median p50 and p99, counts summed."""
    return {
        "ok": sum(r["ok"] for r in runs),
        "errors": {k: sum(r["errors"].get(k, 0) for r in runs) for r in runs for k in r["errors"]},
        "error_sample": next((r["error_sample"] for r in runs if r["error_sample"]), ""),
        "latency_ms": {
            q: round(statistics.median(r["latency_ms"][q] for r in runs), 4) for q in ("p50", "p99")
        },
        "rounds": runs,
    }


def measure(stack: Stack, args: Any) -> dict[str, Any]:
    """Start the echo agent, register it, and measure both sides.

    Sequential latency in alternating rounds (direct, forge, direct, forge) so that a drift of a
    shared machine hits both sides, each side's figure the median of its rounds; then calls/s
    with `--concurrency` clients, once per side.
    """
    with echo_agent() as agent:
        roots = {**stack.pids(), "agent": agent.proc.pid}
        slug = register(stack, agent.url)
        tool = f"a2a-{slug}"
        targets = [direct(agent.url), forge_mcp(stack, tool), forge_a2a(stack, slug)]
        for target in targets:
            wait_callable(target)
        budget = 60.0 + args.duration + args.calls * 0.05
        rounds: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        for _ in range(ROUNDS):
            for target in targets:
                print(f"measuring A2A {target.name} ...", flush=True)
                job = _job(target, args, mode="sequential", calls=args.calls)
                rounds[target.name].append(_phase(worker.run(job, budget)))
        sides: dict[str, Any] = {}
        for target in targets:
            print(f"measuring A2A {target.name} at {args.concurrency} clients ...", flush=True)
            job = _job(
                target,
                args,
                mode="concurrent",
                clients=args.concurrency,
                duration_s=args.duration,
                watch=roots,
            )
            load = worker.run(job, budget)
            sides[target.name] = {
                "latency": _median(rounds[target.name]),
                "throughput": _phase(load),
                "cpu_cores": load.cpu_cores,
            }
    d_lat = sides["direct"]["latency"]["latency_ms"]
    f_lat = sides["forge"]["latency"]["latency_ms"]
    a_lat = sides["forge-a2a"]["latency"]["latency_ms"]
    added, added_a2a = f_lat["p50"] - d_lat["p50"], a_lat["p50"] - d_lat["p50"]
    return {
        "agent": "forge.agents.echo (a2a-sdk, A2A 1.0 JSON-RPC)",
        "direct": "A2A SendMessage to the agent",
        "forge": f"MCP tools/call of {tool} on /mcp (modern)",
        "forge-a2a": f"A2A SendMessage on Forge's /a2a/{slug}/",
        "sides": sides,
        "added_p50_ms": round(added, 3),
        "added_p99_ms": round(f_lat["p99"] - d_lat["p99"], 3),
        "met": added <= TARGET_P50_MS,
        "a2a_added_p50_ms": round(added_a2a, 3),
        "a2a_added_p99_ms": round(a_lat["p99"] - d_lat["p99"], 3),
        "a2a_met": added_a2a <= TARGET_P50_MS,
        "target_p50_ms": TARGET_P50_MS,
        "concurrency": args.concurrency,
        "rounds": ROUNDS,
    }


def lines(result: dict[str, Any]) -> list[str]:
    out = [
        f"A2A ({result['agent']}): direct = {result['direct']}; forge = {result['forge']};"
        f" forge-a2a = {result['forge-a2a']}:"
    ]
    for name, side in result["sides"].items():
        lat, thr = side["latency"], side["throughput"]
        errors = sum(lat["errors"].values()) + sum(thr["errors"].values())
        out.append(
            f"  {name + ':':<10} p50 {lat['latency_ms']['p50']:.3f} ms"
            f"  p99 {lat['latency_ms']['p99']:.3f} ms"
            f"  {thr['rps']:.0f} calls/s @{result['concurrency']}"
            f" (loaded p50 {thr['latency_ms'].get('p50', 0):.2f} ms,"
            f" p99 {thr['latency_ms'].get('p99', 0):.2f} ms)  {lat['ok']} ok, {errors} errors"
        )
    for name, prefix in (("forge", ""), ("forge-a2a", "a2a_")):
        mark = "met" if result[prefix + "met"] else "MISSED"
        out.append(
            f"  added ({name}): p50 {result[prefix + 'added_p50_ms']:+.3f} ms"
            f" (target <= {result['target_p50_ms']:g})  {mark}"
            f"   p99 {result[prefix + 'added_p99_ms']:+.3f} ms"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.a2a [bench options]`: this phase alone, on a mesh of its own."""
    import tempfile
    from pathlib import Path

    from bench import stack
    from bench.__main__ import parse_args

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-bench-a2a-") as tmp:
        with stack.running(Path(tmp)) as running:
            result = measure(running, args)
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
