"""The scale phase: the throughput at `--concurrency` sessions of a mesh whose edge runs as
`SCALE_WORKERS` processes (FORGE_EDGE_WORKERS, docs/decisions/0036-edge-workers.md), each era.

The main phase's mesh runs one edge process, the most efficient per call, and one process tops
out near one core: this phase shows what the same machine serves when the edge may use more.
Measured as the main phase's throughput step (the same load generator, CPU sampled over each
part's processes), on a mesh of its own started after the main one has stopped.
`python -m bench.scale [bench options]` runs this phase alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import calls, report, stack, worker

SCALE_WORKERS = 2


def measure(args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    """Per era: calls/s, the cores each part used, and the edge processes that served."""
    eras: list[calls.Era] = ["legacy", "modern"] if args.era == "both" else [args.era]
    out: dict[str, Any] = {"edge_workers": SCALE_WORKERS, "clients": args.concurrency, "eras": {}}
    print(f"scale: a mesh with {SCALE_WORKERS} edge processes ...", flush=True)
    with stack.running(state_dir, edge_workers=SCALE_WORKERS) as running:
        roots = running.pids()
        for era in eras:
            _, forge = running.targets(era)
            stack.wait_callable(forge)
            print(f"measuring {era} forge, {SCALE_WORKERS} edge processes ...", flush=True)
            load = worker.throughput(forge, args, roots, 60.0 + args.duration)
            out["eras"][era] = {
                "throughput": report.phase_dict(load),
                "cpu_cores": load.cpu_cores,
            }
    return out


def lines(phase: dict[str, Any]) -> list[str]:
    workers = phase["edge_workers"]
    out = [f"Scale ({workers} edge processes, FORGE_EDGE_WORKERS={workers}):"]
    for era, measured in phase["eras"].items():
        cores = measured["cpu_cores"] or {}
        busy = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda kv: -kv[1]))
        out.append(
            f"  {era}: {measured['throughput']['rps']:,.0f} calls/s @{phase['clients']}"
            f" sessions; cores: {busy}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import parse_args

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-bench-scale-") as tmp:
        phase = measure(args, Path(tmp))
    print("\n".join(lines(phase)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
