"""One measured phase in its own process: `python -m bench.worker` reads a Job, prints a Phase."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import msgspec
import uvloop

from bench import calls, cpu, loadgen

Mode = Literal["sequential", "concurrent"]


class Job(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What to run: warm up with `warmup` sequential calls, then the measured phase."""

    host: str
    port: int
    request: bytes
    expect: bytes
    mode: Mode
    warmup: int = 200
    calls: int = 2000  # sequential mode
    clients: int = 32  # concurrent mode
    duration_s: float = 10.0  # concurrent mode
    watch: dict[str, int] = {}  # process trees whose CPU use to sample around the measured phase


class Phase(msgspec.Struct):
    """What came out: counts, rate, latency percentiles (ms), and the client's own CPU time."""

    mode: Mode
    ok: int
    errors: dict[str, int]
    reconnects: int
    error_sample: str
    elapsed_s: float
    rps: float
    latency_ms: dict[str, float]
    client_cpu_s: float
    clients: int
    cpu_cores: dict[str, float]  # cores busy per watched tree, the client, and everything else


def percentiles(latencies_ns: list[int]) -> dict[str, float]:
    """Nearest-rank p50/p90/p99, the max and the mean, in milliseconds."""
    if not latencies_ns:
        return {}
    ordered = sorted(latencies_ns)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, round(q * n + 0.5) - 1))] / 1e6

    return {
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "max": ordered[-1] / 1e6,
        "mean": sum(ordered) / n / 1e6,
    }


async def execute(job: Job) -> Phase:
    warm = await loadgen.sequential(job.host, job.port, job.request, job.expect, job.warmup)
    cpu_before, trees_before, machine_before = _cpu(), cpu.sample(job.watch), cpu.machine()
    if job.mode == "sequential":
        stats = await loadgen.sequential(job.host, job.port, job.request, job.expect, job.calls)
        elapsed = sum(stats.latencies_ns) / 1e9
        clients = 1
    else:
        stats, elapsed = await loadgen.concurrent(
            job.host, job.port, job.request, job.expect, job.clients, job.duration_s
        )
        clients = job.clients
    client_cpu = _cpu() - cpu_before
    cores = cpu.usage(trees_before, cpu.sample(job.watch), elapsed)
    if elapsed > 0:
        cores["loadgen"] = round(client_cpu / elapsed, 3)
        busy = (cpu.machine() - machine_before) / elapsed
        # Whatever else ran on the machine meanwhile: a shared box makes numbers noisy.
        cores["other"] = round(max(0.0, busy - sum(cores.values())), 3)
    errors = dict(stats.errors)
    for kind, count in warm.errors.items():
        errors[f"warm-up: {kind}"] = count
    sample = stats.sample or warm.sample
    return Phase(
        mode=job.mode,
        ok=stats.ok,
        errors=errors,
        reconnects=stats.reconnects,
        error_sample=sample.decode(errors="replace"),
        elapsed_s=elapsed,
        rps=stats.ok / elapsed if elapsed > 0 else 0.0,
        latency_ms=percentiles(stats.latencies_ns),
        client_cpu_s=client_cpu,
        clients=clients,
        cpu_cores=cores,
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class WorkerError(RuntimeError):
    """The load-generator process failed; the message carries its stderr."""


def run(job: Job, timeout_s: float) -> Phase:
    """Run `job` in a fresh interpreter so the client shares no event loop or GIL with anything."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker"],
        input=msgspec.json.encode(job),
        capture_output=True,
        cwd=Path(__file__).resolve().parent.parent,  # where `bench` is importable
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise WorkerError(done.stderr.decode(errors="replace")[-2000:])
    return msgspec.json.decode(done.stdout, type=Phase)


def throughput(target: calls.Target, args: Any, watch: dict[str, int], timeout_s: float) -> Phase:
    """`args.concurrency` connections looping on `target` for `args.duration` seconds (after
    `args.warmup` calls), the CPU of the `watch` process trees sampled around it."""
    job = Job(
        mode="concurrent",
        host=target.host,
        port=target.port,
        request=target.request,
        expect=target.expect,
        warmup=args.warmup,
        clients=args.concurrency,
        duration_s=args.duration,
        watch=watch,
    )
    return run(job, timeout_s)


def main() -> None:
    job = msgspec.json.decode(sys.stdin.buffer.read(), type=Job)
    phase = uvloop.run(execute(job))
    sys.stdout.buffer.write(msgspec.json.encode(phase))


if __name__ == "__main__":
    main()
