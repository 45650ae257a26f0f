"""The soak phase: a constant mixed load through Forge for FORGE_BENCH_SOAK_S seconds (600 by
default; `--soak-s` on the command line wins), and what every process holds at its start (after a
warm-up) and its end.

The load, modern era (no session), each kind on its own keep-alive connections in its own worker
process (bench/worker.py): `tools/call` of fastecho's echo, `tools/list`, `resources/read` of the
demo server's readme and `prompts/get` of its greeting (the demo server, registered as gateway
`demo`, has resources and prompts; fastecho has neither).

Sampled for every process tree (each service, NATS, PostgreSQL with its backends, the two
upstreams): resident memory (VmRSS, summed over the tree; and PSS, which counts PostgreSQL's
shared buffers once: bench/memory.py) and open file descriptors; from each
service's ops port (/metrics): `forge_nats_pending_bytes` (written to NATS, not yet flushed) and
`forge_bus_requests_in_flight`. Growth of RSS or descriptors past 10% from start to end is
flagged; so is any error. Numbers only: nothing here fails the bench.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import calls, memory, worker
from bench.stack import FORGE_TOOL, Stack, wait_callable
from forge.cli.demo import register, start_server
from forge.cli.mesh import MeshError, stop_process

DEFAULT_S = 600.0
GROWTH_FLAG = 0.10  # more than 10% from start to end is flagged
DEMO = "demo"
_METRIC = re.compile(r"^(forge_nats_pending_bytes|forge_bus_requests_in_flight)\s+(\S+)$", re.M)


def duration(args: Any) -> float:
    """`--soak-s` if given, else FORGE_BENCH_SOAK_S, else 600 s; `--quick` caps it at 2 s."""
    chosen = getattr(args, "soak_s", None)
    setting = os.environ.get("FORGE_BENCH_SOAK_S", DEFAULT_S)
    seconds = float(chosen if chosen is not None else setting)
    return min(seconds, 2.0) if getattr(args, "quick", False) else seconds


def _request(url: str, token: str, method: str, params: dict[str, Any], name: str) -> bytes:
    params = {**params, "_meta": {"io.modelcontextprotocol/protocolVersion": calls.MODERN_VERSION}}
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": calls.MODERN_VERSION,
        "Mcp-Method": method,
    }
    if name:
        headers["Mcp-Name"] = name
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    return calls.encode_request(host, int(port), "/mcp", headers, body)


def targets(running: Stack) -> dict[str, calls.Target]:
    """The four kinds of request, each with the text its answer must hold."""
    url, token = running.forge_url, running.token
    host, port = "127.0.0.1", running.mesh.port

    def target(kind: str, raw: bytes, expect: str) -> calls.Target:
        return calls.Target(kind, "modern", host, port, raw, expect.encode())

    tool = FORGE_TOOL
    echo = {"name": tool, "arguments": {"text": calls.ECHO_TEXT}}
    return {
        "tools/call": target(
            "tools/call", _request(url, token, "tools/call", echo, tool), calls.ECHO_TEXT
        ),
        "tools/list": target("tools/list", _request(url, token, "tools/list", {}, ""), tool),
        "resources/read": target(
            "resources/read",
            _request(
                url, token, "resources/read", {"uri": "forge://demo/readme"}, "forge://demo/readme"
            ),
            "forge://demo/readme",
        ),
        "prompts/get": target(
            "prompts/get",
            _request(
                url,
                token,
                "prompts/get",
                {"name": "demo-greeting", "arguments": {"name": "soak"}},
                "demo-greeting",
            ),
            "soak",
        ),
    }


# ---- what each process holds ------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def processes(roots: dict[str, int]) -> dict[str, dict[str, float]]:
    """RSS (MB) and open descriptors of each named process tree, and how many processes it has."""
    children = memory.children()
    out = {}
    for name, root in roots.items():
        pids = memory.tree(root, children)
        out[name] = {
            "rss_mb": round(sum(_rss_kb(p) for p in pids) / 1024, 1),
            "pss_mb": round(sum(memory.rollup_kb(p)["pss"] for p in pids) / 1024, 1),
            "fds": sum(_fds(p) for p in pids),
            "processes": len(pids),
        }
    return out


def nats_pending(running: Stack) -> dict[str, dict[str, float]]:
    """Each service's NATS bytes not yet flushed and requests in flight, from its /metrics."""
    out: dict[str, dict[str, float]] = {}
    for name in running.mesh.procs:
        try:
            with urllib.request.urlopen(running.mesh.ops_url(name) + "/metrics", timeout=5) as r:
                text = r.read().decode()
        except (OSError, KeyError):
            continue
        out[name] = {m.group(1): float(m.group(2)) for m in _METRIC.finditer(text)}
    return out


def sample(running: Stack, roots: dict[str, int]) -> dict[str, Any]:
    return {"at": time.time(), "processes": processes(roots), "nats": nats_pending(running)}


def growth(start: dict[str, Any], end: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per process tree: the relative change of RSS and descriptors, start to end."""
    out = {}
    for name, first in start["processes"].items():
        last = end["processes"].get(name)
        if last is None:
            continue
        out[name] = {
            key: round((last[key] - first[key]) / first[key], 4) if first[key] else 0.0
            for key in ("rss_mb", "fds")
        }
    return out


# ---- the phase --------------------------------------------------------------------------------


def measure(running: Stack, args: Any) -> dict[str, Any]:
    seconds = duration(args)
    warmup_s = min(60.0, seconds * 0.1)
    print(f"soak: {seconds:g} s of mixed load (warm-up {warmup_s:g} s) ...", flush=True)
    demo, port = start_server(running.mesh, "forge.servers.demo")
    try:
        gateway = register(running.mesh, running.token, DEMO, f"http://127.0.0.1:{port}/mcp")
        if "id" not in gateway and "name" not in gateway:
            raise MeshError(f"registering the demo server failed: {json.dumps(gateway)[:300]}")
        kinds = targets(running)
        for target in kinds.values():
            wait_callable(target)
        roots = {**running.pids(), DEMO: demo.pid}
        phases: dict[str, worker.Phase] = {}
        failures: dict[str, str] = {}

        def run(kind: str, target: calls.Target) -> None:
            job = worker.Job(
                host=target.host,
                port=target.port,
                request=target.request,
                expect=target.expect,
                mode="concurrent",
                clients=2,
                duration_s=seconds,
                warmup=10,
            )
            try:
                phases[kind] = worker.run(job, seconds + 120)
            except (worker.WorkerError, OSError) as exc:
                failures[kind] = str(exc)[-500:]

        threads = [
            threading.Thread(target=run, args=(kind, target), daemon=True)
            for kind, target in kinds.items()
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(warmup_s)
        first = sample(running, roots)
        # The end is sampled just before the load stops, with everything still busy.
        time.sleep(max(0.0, started + seconds - 0.2 - time.monotonic()))
        last = sample(running, roots)
        for thread in threads:
            thread.join()
    finally:
        stop_process(demo)
    return _record(seconds, warmup_s, phases, failures, first, last)


def _record(
    seconds: float,
    warmup_s: float,
    phases: dict[str, worker.Phase],
    failures: dict[str, str],
    first: dict[str, Any],
    last: dict[str, Any],
) -> dict[str, Any]:
    grown = growth(first, last)
    flagged = sorted(
        f"{name} {key} +{change:.0%}"
        for name, changes in grown.items()
        for key, change in changes.items()
        if change > GROWTH_FLAG
    )
    errors = {kind: sum(p.errors.values()) for kind, p in phases.items()}
    return {
        "duration_s": seconds,
        "warmup_s": warmup_s,
        "kinds": {
            kind: {
                "ok": p.ok,
                "errors": p.errors,
                "error_sample": p.error_sample,
                "rps": round(p.rps, 1),
                "latency_ms": {k: round(v, 3) for k, v in p.latency_ms.items()},
            }
            for kind, p in phases.items()
        },
        "failed_kinds": failures,
        "errors_total": sum(errors.values()) + len(failures),
        "start": first,
        "end": last,
        "growth": grown,
        "flagged": flagged,
        "met": not flagged and not any(errors.values()) and not failures,
    }


def lines(soak: dict[str, Any]) -> list[str]:
    out = [
        f"Soak ({soak['duration_s']:g} s of mixed load, start sampled after "
        f"{soak['warmup_s']:g} s): errors {soak['errors_total']}"
    ]
    for kind, k in soak["kinds"].items():
        lat = k["latency_ms"]
        out.append(
            f"  {kind:<15} {k['ok']:>8} ok  {k['rps']:>7.0f}/s  p50 {lat.get('p50', 0):.2f} ms"
            f"  p99 {lat.get('p99', 0):.2f} ms  errors {sum(k['errors'].values())}"
        )
    for kind, why in soak["failed_kinds"].items():
        out.append(f"  {kind}: the load generator failed: {why.splitlines()[-1] if why else ''}")
    out.append(
        f"  {'process':<15} {'RSS MiB start':>13} {'end':>8} {'PSS start':>10} {'end':>8}"
        f" {'fds start':>10} {'end':>6}"
    )
    for name, first in soak["start"]["processes"].items():
        last = soak["end"]["processes"].get(name, {})
        out.append(
            f"  {name:<15} {first['rss_mb']:>13.1f} {last.get('rss_mb', 0):>8.1f}"
            f" {first.get('pss_mb', 0):>10.1f} {last.get('pss_mb', 0):>8.1f}"
            f" {first['fds']:>10} {last.get('fds', 0):>6}"
        )
    pending = {
        name: values.get("forge_nats_pending_bytes", 0)
        for name, values in soak["end"]["nats"].items()
    }
    out.append(
        "  NATS bytes pending at the end (per service): "
        + ", ".join(f"{n} {int(v)}" for n, v in pending.items())
    )
    verdict = "no growth over 10%, no error" if soak["met"] else "FLAGGED"
    out.append(f"  {verdict}" + (": " + "; ".join(soak["flagged"]) if soak["flagged"] else ""))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.soak [--soak-s N] [--quick]`: this phase alone, on a mesh of its own."""
    import argparse
    import sys
    import tempfile

    from bench import stack

    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--soak-s", type=float, help="seconds (default FORGE_BENCH_SOAK_S or 600)")
    parser.add_argument("--quick", action="store_true", help="2 s at most")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-soak-") as tmp, stack.running(Path(tmp)) as up:
        try:
            result = measure(up, args)
        except MeshError as exc:
            print(f"soak failed: {exc}", file=sys.stderr)
            return 1
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
