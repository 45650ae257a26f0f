"""The tracing phase: what traces cost a tools/call through Forge.

The same modern tools/call of fastecho's echo through a mesh with tracing off (no exporter
configured, the default) and through a mesh exporting every span (OTLP over HTTP, sampler
always_on) to a local sink that accepts each export and discards it. Sequential latency, in
rounds alternating between the two meshes (both run; a drift of the shared machine hits both),
each side's p50 and p99 the median of its rounds. Targets: on adds at most 0.5 ms at p50. Off
is the default path of every other phase; what off adds per hop (one `enabled()` check where a
span would open) is measured in-process here too, since no mesh without the checks exists to
compare with. `python -m bench.tracing [options]` runs this phase alone.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec

from bench import stack, worker
from forge.core import rpc
from forge.proto.envelope import ENCODER, ENVELOPE_DECODER, Envelope, Principal

TARGET_ON_P50_MS = 0.5
TARGET_OFF_P50_MS = 0.1
ROUNDS = 3
# Spans a tools/call opens through the mesh, with no plugin: the edge's HTTP and MCP spans, the
# router's, the upstream-proxy's and its POST; the off path checks `enabled()` about as often.
HOPS = 6


@contextmanager
def sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint that accepts every export and discards it; its URL."""

    class Discard(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def traced_env(url: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "always_on",
    }


def off_cost_us(count: int = 20000) -> float:
    """Microseconds one envelope's answer spends on tracing when it is off: rpc.answer with
    tracing off, less the same decode-run-encode without the check (measured in-process)."""
    data = ENCODER.encode(
        Envelope(
            id="1",
            method="tools/call",
            params=msgspec.Raw(b'{"name":"echo","arguments":{}}'),
            principal=Principal(subject="bench"),
            deadline=time.time() + 3600,
        )
    )

    async def handler(envelope: Envelope) -> bytes:
        return b"{}"

    async def timed() -> tuple[float, float]:
        for _ in range(1000):
            await rpc.answer(handler, data, "bench")
            await rpc._run(handler, ENVELOPE_DECODER.decode(data), "bench")
        with_check, without = [], []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(count):
                await rpc.answer(handler, data, "bench")
            with_check.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(count):
                await rpc._run(handler, ENVELOPE_DECODER.decode(data), "bench")
            without.append(time.perf_counter() - started)
        return min(with_check) / count * 1e6, min(without) / count * 1e6

    checked, bare = asyncio.run(timed())
    return max(0.0, checked - bare)


def _phase(p: worker.Phase) -> dict[str, Any]:
    return {
        "ok": p.ok,
        "errors": dict(p.errors),
        "latency_ms": {k: round(v, 4) for k, v in p.latency_ms.items()},
    }


def measure(args: Any, state_dir: Path) -> dict[str, Any]:
    """Start a mesh with tracing off and one exporting every span; measure both in rounds."""
    with ExitStack() as running:
        url = running.enter_context(sink())
        print("starting a mesh with tracing off and one with tracing on ...", flush=True)
        off = running.enter_context(stack.running(state_dir / "off"))
        on = running.enter_context(stack.running(state_dir / "on", env=traced_env(url)))
        sides = {"off": off, "on": on}
        targets = {}
        for name, side in sides.items():
            _, forge = side.targets("modern")
            stack.wait_callable(forge)
            targets[name] = forge
        budget = 60.0 + args.calls * 0.05
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for _ in range(1 if args.quick else ROUNDS):
            for name, target in targets.items():
                print(f"measuring tools/call with tracing {name} ...", flush=True)
                job = worker.Job(
                    host=target.host,
                    port=target.port,
                    request=target.request,
                    expect=target.expect,
                    warmup=args.warmup,
                    mode="sequential",
                    calls=args.calls,
                )
                rounds[name].append(_phase(worker.run(job, budget)))
    latency = {
        name: {
            q: round(statistics.median(r["latency_ms"][q] for r in runs), 4) for q in ("p50", "p99")
        }
        for name, runs in rounds.items()
    }
    errors = {name: sum(sum(r["errors"].values()) for r in runs) for name, runs in rounds.items()}
    added = latency["on"]["p50"] - latency["off"]["p50"]
    off_us = off_cost_us(2000 if args.quick else 20000)
    off_ms = off_us * HOPS / 1000
    return {
        "call": "modern tools/call of fastecho's echo through Forge",
        "on": "every span exported over OTLP/HTTP to a local sink (sampler always_on)",
        "latency_ms": latency,
        "errors": errors,
        "on_added_p50_ms": round(added, 3),
        "on_added_p99_ms": round(latency["on"]["p99"] - latency["off"]["p99"], 3),
        "on_met": added <= TARGET_ON_P50_MS,
        "off_us_per_hop": round(off_us, 3),
        "off_added_ms": round(off_ms, 4),
        "off_met": off_ms <= TARGET_OFF_P50_MS,
        "targets_ms": {"off": TARGET_OFF_P50_MS, "on": TARGET_ON_P50_MS},
        "rounds": 1 if args.quick else ROUNDS,
        "calls": args.calls,
    }


def lines(result: dict[str, Any]) -> list[str]:
    lat = result["latency_ms"]
    on_mark = "met" if result["on_met"] else "MISSED"
    off_mark = "met" if result["off_met"] else "MISSED"
    return [
        f"Tracing ({result['call']}; on = {result['on']}):",
        f"  off: p50 {lat['off']['p50']:.3f} ms  p99 {lat['off']['p99']:.3f} ms"
        f"  ({result['errors']['off']} errors)",
        f"  on:  p50 {lat['on']['p50']:.3f} ms  p99 {lat['on']['p99']:.3f} ms"
        f"  ({result['errors']['on']} errors)",
        f"  added by tracing on: p50 {result['on_added_p50_ms']:+.3f} ms"
        f" (target <= {result['targets_ms']['on']:g})  {on_mark}"
        f"   p99 {result['on_added_p99_ms']:+.3f} ms",
        f"  added by tracing off: {result['off_us_per_hop']:.3f} us a hop, about"
        f" {result['off_added_ms']:.4f} ms a call over {HOPS} hops"
        f" (target <= {result['targets_ms']['off']:g})  {off_mark}",
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.tracing [bench options]`: this phase alone, on meshes of its own."""
    import tempfile

    from bench.__main__ import parse_args

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-bench-tracing-") as tmp:
        result = measure(args, Path(tmp))
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
