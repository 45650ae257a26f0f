"""The catalog phase: registering large upstreams, listing a large catalog, change propagation.

- register: an upstream of 10,000 tools, then one of 100,000 (generated, paged 1,000 a page:
  `forge.testing.catalog_server`), timed from the POST to its 201 answer.
- list: `tools/list` through the edge (modern era): every page of the catalog of 10,000 (p50 of
  the whole walk), and the first page's p50 with the catalog at 110,000.
- propagation: a gateway registered (its POST answered after the registry announced it) until
  `tools/list` shows its tool (polled every 2 ms through the edge: an upper bound); of one
  tool, and of 10,000 (1,000 with --quick): a set past 1,000 tools is announced in chunks.
- memory: router and edge RSS before and after, per 10,000 tools held.

`python -m bench.catalog [--quick]` runs this phase alone on a mesh of its own and writes
bench/results/catalog-<UTC timestamp>.json; in `make bench` it is a phase of the run's file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.report import RESULTS
from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.testing.catalog_server import CatalogServer

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
LIST_RUNS = 20


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss(mesh: Mesh, name: str) -> float:
    return sum(_rss_mib(p.pid) for k, p in mesh.procs.items() if mesh.replica_of(k)[0] == name)


def _register(http: httpx.Client, name: str, url: str) -> tuple[float, dict[str, Any]]:
    body = {"name": name, "url": url, "transport": "streamablehttp", "visibility": "public"}
    started = time.perf_counter()
    response = http.post("/gateways", json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"registering {name}: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def _list(http: httpx.Client, path: str, cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"_meta": META}
    if cursor is not None:
        params["cursor"] = cursor
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params}
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    result: dict[str, Any] = http.post(path, json=body, headers=headers).json()["result"]
    return result


def _walk(http: httpx.Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    cursor, count = None, 0
    while True:
        result = _list(http, path, cursor)
        count += len(result["tools"])
        cursor = result.get("nextCursor")
        if not cursor:
            return time.perf_counter() - started, count


def _until_listed(http: httpx.Client, count: int) -> None:
    """Wait (60 s) until the routers list `count` tools: they load the event after the 201."""
    deadline = time.monotonic() + 60
    while _walk(http, "/mcp")[1] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} tools were not listed within 60 s")
        time.sleep(0.05)


def _p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _propagation(http: httpx.Client, runs: int, tools: int = 1) -> list[float]:
    """Register a gateway of `tools` tools (named to sort first); time from its 201 (sent
    after the registry announced it) until tools/list's first page shows its first tool. Past
    INLINE_TOOLS the tools are announced in chunks, swapped in at the last (decision 0034)."""
    samples = []
    for _ in range(runs):
        tag = uuid.uuid4().hex[:6]
        with CatalogServer(tools, prefix=f"p{tag}_") as server:
            _, gateway = _register(http, f"aaa-{tag}", server.url + "/mcp")
            posted = time.perf_counter()
            want = f"{gateway['slug']}-p{tag}_000000"
            while want not in {t["name"] for t in _list(http, "/mcp", None)["tools"]}:
                time.sleep(0.002)
            samples.append(time.perf_counter() - posted)
            http.delete(f"/gateways/{gateway['id']}")
    return samples


def measure_on(mesh: Mesh, token: str, *, quick: bool = False) -> dict[str, Any]:
    small, large = (1_000, 10_000) if quick else (10_000, 100_000)
    headers = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"tools_small": small, "tools_large": large}
    rss_before = {"router": _rss(mesh, "router"), "edge": _rss(mesh, "edge")}
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=600) as http:
        tag = uuid.uuid4().hex[:6]
        with CatalogServer(small, prefix="s") as server:
            print(f"registering {small} tools ...", flush=True)
            result["register_small_s"], first = _register(http, f"cat-s-{tag}", server.url + "/mcp")
        print(f"  {result['register_small_s']:.2f} s", flush=True)
        print(f"listing all {small} ...", flush=True)
        _until_listed(http, small)
        walks = [_walk(http, "/mcp") for _ in range(max(3, LIST_RUNS // 4))]
        if any(count < small for _, count in walks):
            raise RuntimeError(f"a walk of {small} tools listed {[c for _, c in walks]}")
        result[f"list_all_{small}_p50_ms"] = _p50_ms([w for w, _ in walks])
        with CatalogServer(large, prefix="l") as server:
            print(f"registering {large} tools ...", flush=True)
            result["register_large_s"], second = _register(
                http, f"cat-l-{tag}", server.url + "/mcp"
            )
        print(f"  {result['register_large_s']:.2f} s", flush=True)
        _until_listed(http, small + large)  # the routers load what was announced
        rss_after = {"router": _rss(mesh, "router"), "edge": _rss(mesh, "edge")}
        per = (small + large) / 10_000
        result["rss_mib_per_10k"] = {
            k: round((rss_after[k] - rss_before[k]) / per, 1) for k in rss_before
        }
        result["rss_mib"] = {k: round(v, 1) for k, v in rss_after.items()}
        print("listing ...", flush=True)
        firsts = []
        for _ in range(LIST_RUNS):
            started = time.perf_counter()
            _list(http, "/mcp", None)
            firsts.append(time.perf_counter() - started)
        result["list_first_page_p50_ms"] = _p50_ms(firsts)
        print("change propagation ...", flush=True)
        result["propagation_p50_ms"] = _p50_ms(_propagation(http, 3 if quick else 10))
        print(f"change propagation, a gateway of {small} tools ...", flush=True)
        result["propagation_large_p50_ms"] = _p50_ms(_propagation(http, 3 if quick else 5, small))
        for gateway in (first, second):
            http.delete(f"/gateways/{gateway['id']}")
    return result


def lines(result: dict[str, Any]) -> list[str]:
    small, large = result["tools_small"], result["tools_large"]
    full = (small, large) == (10_000, 100_000)  # the targets are for these sizes
    register = "(targets < 5 s, < 60 s)" if full else "(--quick: no targets)"
    listing = "(targets ≤ 20 ms, ≤ 200 ms)" if full else ""
    return [
        f"catalog: register {small} tools {result['register_small_s']:.2f} s, "
        f"{large} tools {result['register_large_s']:.2f} s {register}",
        f"catalog: tools/list first page p50 {result['list_first_page_p50_ms']} ms, "
        f"all {small} p50 {result[f'list_all_{small}_p50_ms']} ms {listing}".rstrip(),
        f"catalog: change reaches every router p50 {result['propagation_p50_ms']} ms (≤ 100); "
        f"of a gateway of {small} tools {result.get('propagation_large_p50_ms')} ms (≤ 100)",
        f"catalog: RSS per 10,000 tools: router {result['rss_mib_per_10k']['router']} MiB, "
        f"edge {result['rss_mib_per_10k']['edge']} MiB (now {result['rss_mib']})",
    ]


def measure(running: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The phase on the bench's running stack."""
    result = measure_on(running.mesh, running.token, quick=args.quick)
    print("\n".join(lines(result)), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 tools")
    parser.add_argument("--state-dir", type=Path, help="mesh state and logs (default: temporary)")
    parser.add_argument("--log-level", default="warning", help="the services' (warning)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-bench-catalog-") as tmp:
        env = {"FORGE_LOG_LEVEL": args.log_level}
        state = args.state_dir or Path(tmp)
        mesh = Mesh(state_dir=state, env=env, allow_loopback_upstreams=True)
        try:
            mesh.start()
            token = mint(mesh.secret, mesh.admin_email, admin=True, ttl_s=3600)
            result = measure_on(mesh, token, quick=args.quick)
        finally:
            mesh.stop()
    print("\n".join(lines(result)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"catalog-{stamp}.json"
    path.write_text(json.dumps({"timestamp": stamp, "catalog": result}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
