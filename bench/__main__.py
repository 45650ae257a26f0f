"""`python -m bench`: tools/call latency and throughput, straight to fastecho and through Forge."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import (
    a2a,
    calls,
    catalog,
    contextforge,
    issue16,
    overload,
    plugins,
    report,
    scale,
    scanners,
    soak,
    stack,
    startup,
    tracing,
    worker,
)
from forge.cli.mesh import MeshError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (10)")
    parser.add_argument("--warmup", type=int, default=200, help="calls before each phase (200)")
    parser.add_argument("--era", choices=("both", "legacy", "modern"), default="both")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="where the JSON goes")
    parser.add_argument("--state-dir", type=Path, help="mesh state and logs (default: temporary)")
    parser.add_argument("--no-scanners", action="store_true", help="skip Rust vs Python scanners")
    parser.add_argument(
        "--no-plugins", action="store_true", help="skip the PII/secrets/exfil plugin phase"
    )
    parser.add_argument("--no-a2a", action="store_true", help="skip the A2A agent phase")
    parser.add_argument("--no-catalog", action="store_true", help="skip the large-catalog phase")
    parser.add_argument(
        "--no-tracing", action="store_true", help="skip the tracing off vs on phase"
    )
    parser.add_argument("--no-overload", action="store_true", help="skip the 10x overload phase")
    parser.add_argument(
        "--soak-s", type=float, help="soak seconds (default: FORGE_BENCH_SOAK_S, else 600)"
    )
    parser.add_argument("--no-soak", action="store_true", help="skip the soak phase")
    parser.add_argument(
        "--no-contextforge", action="store_true", help="skip the side by side with ContextForge"
    )
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up phase")
    parser.add_argument(
        "--no-scale", action="store_true", help="skip the scale phase (several edge processes)"
    )
    parser.add_argument(
        "--edge-workers",
        type=int,
        default=1,
        help="the main mesh's edge processes (FORGE_EDGE_WORKERS, default 1)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.duration, args.warmup = min(args.calls, 100), min(args.duration, 0.5), 20
    return args


def measure(
    target: calls.Target, args: argparse.Namespace, roots: dict[str, int]
) -> dict[str, Any]:
    """The sequential latency phase, then the throughput phase with CPU sampled around it."""
    common = {
        "host": target.host,
        "port": target.port,
        "request": target.request,
        "expect": target.expect,
        "warmup": args.warmup,
    }
    budget = 60.0 + args.duration + args.calls * 0.05
    latency = worker.run(worker.Job(mode="sequential", calls=args.calls, **common), budget)
    load = worker.throughput(target, args, roots, budget)
    return {
        "latency": report.phase_dict(latency),
        "throughput": report.phase_dict(load),
        "cpu_cores": load.cpu_cores,
    }


def run(args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    eras: list[calls.Era] = ["legacy", "modern"] if args.era == "both" else [args.era]
    results: dict[str, Any] = {}
    print(f"starting the mesh and fastecho (state in {state_dir}) ...", flush=True)
    started = time.monotonic()
    plugin_file = state_dir / "plugins.yaml"
    plugin_phase: dict[str, Any] | None = None
    a2a_phase: dict[str, Any] | None = None
    overload_phase: dict[str, Any] | None = None
    soak_phase: dict[str, Any] | None = None
    contextforge_phase: dict[str, Any] | None = None
    with stack.running(
        state_dir,
        plugins_config=plugin_file,
        env=overload.env(args),
        edge_workers=args.edge_workers,
    ) as running:
        print(f"up in {time.monotonic() - started:.1f} s", flush=True)
        roots = running.pids()
        for era in eras:
            direct, forge = running.targets(era)
            stack.wait_callable(direct)
            stack.wait_callable(forge)
            results[era] = {}
            for target in (direct, forge):
                print(f"measuring {era} {target.name} ...", flush=True)
                results[era][target.name] = measure(target, args, roots)
        if not args.no_overload:
            overload_phase = overload.measure(running, args)
        if not args.no_plugins:
            plugin_phase = plugins.measure(running, plugin_file, args)
        if not args.no_a2a:
            a2a_phase = a2a.measure(running, args)
        if not args.no_contextforge and "legacy" in results:
            contextforge_phase = contextforge.measure(running, args, results["legacy"])
        if not args.no_soak:
            soak_phase = soak.measure(running, args)
        catalog_phase = None if args.no_catalog else catalog.measure(running, args)
    # A mesh of its own, once the main one is gone: the edge as several processes.
    scale_phase = None if args.no_scale else scale.measure(args, state_dir / "scale")
    tracing_phase = None if args.no_tracing else tracing.measure(args, state_dir / "tracing")
    config = {
        "calls": args.calls,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup": args.warmup,
        "quick": args.quick,
        "edge_workers": args.edge_workers,
        "eras": eras,
        "upstream": "forge.servers.fastecho --era both",
        "forge_tool": stack.FORGE_TOOL,
    }
    doc = report.record(config, results)
    if plugin_phase is not None:
        doc["plugins"] = plugin_phase
    if a2a_phase is not None:
        doc["a2a"] = a2a_phase
    if tracing_phase is not None:
        doc["tracing"] = tracing_phase
    if overload_phase is not None:
        doc["overload"] = overload_phase
    if soak_phase is not None:
        doc["soak"] = soak_phase
    if contextforge_phase is not None:
        doc["contextforge"] = contextforge_phase
    if catalog_phase is not None:
        doc["catalog"] = catalog_phase
    if scale_phase is not None:
        doc["scale"] = scale_phase
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.state_dir is not None:
            doc = run(args, args.state_dir)
        else:
            with tempfile.TemporaryDirectory(prefix="forge-bench-") as tmp:
                doc = run(args, Path(tmp))
    except (MeshError, worker.WorkerError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if not args.no_scanners:
        print("measuring the scanners, Rust vs Python ...", flush=True)
        doc["scanners"] = scanners.measure(quick=args.quick)
    if not args.no_startup and not args.quick:  # its own meshes, after the others
        doc["startup"] = startup.phase()
    print()
    print(report.table(doc))
    if "overload" in doc:
        print("\n" + "\n".join(overload.lines(doc["overload"])))
    if "catalog" in doc:
        print("\n" + "\n".join(catalog.lines(doc["catalog"])))
    if "startup" in doc:
        print("\n" + "\n".join(startup.lines(doc["startup"])))
    if "scale" in doc:
        print("\n" + "\n".join(scale.lines(doc["scale"])))
    doc["issue16"] = issue16.record(doc)
    summary = issue16.lines(doc)
    if summary:
        print("\n" + "\n".join(summary))
    path = report.write(doc, args.out)
    print(f"\nwrote {path} and {path.parent / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
