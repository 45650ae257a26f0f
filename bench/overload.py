"""The overload phase: 10x the sustainable load against a mesh whose edge bounds its MCP requests
in flight (FORGE_EDGE_MAX_INFLIGHT, docs/decisions/0027-bounded-requests-in-flight.md).

The sustainable load is `--concurrency` clients (each sends its next call when the last one is
answered), and the edge's bound is set to it. Then 10x as many clients: what the edge admits
should keep the latency it had at the sustainable load, and the rest should be refused at once
(503 + Retry-After, JSON-RPC -32015), with the processes' memory flat. Twice: clients that
honour Retry-After (polite), and clients that retry after `EAGER_PAUSE_S` (eager: the edge
spends much of its time refusing). Measured: unloaded latency (one client), the sustainable
load, each overload (admitted calls/s, p50/p99; refusals, time to refuse p50/p99; anything
else), calls after them, and the RSS of every service before, at its peak during, and after.
`python -m bench.overload [bench options]` runs this phase alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Any, cast

import uvloop

from bench import calls, stack
from bench.worker import percentiles

FACTOR = 10
EAGER_PAUSE_S = 0.05
_SAMPLE_S = 0.25  # RSS sampling period during the overload


class _Tally:
    """Latencies by outcome: admitted (200, the echo, no error), refused (503), other."""

    def __init__(self) -> None:
        self.admitted_ns: list[int] = []
        self.refused_ns: list[int] = []
        self.other: dict[str, int] = {}
        self.retry_after: set[str] = set()  # the Retry-After values seen on refusals
        self.sample = b""

    def odd(self, kind: str, body: bytes) -> None:
        self.other[kind] = self.other.get(kind, 0) + 1
        if not self.sample:
            self.sample = body[:300]


class _Client(asyncio.Protocol):
    """One keep-alive connection replaying one request until `stop_at_ns`."""

    def __init__(self, target: calls.Target, tally: _Tally, pause_s: float | None) -> None:
        self.target, self.tally = target, tally
        self.stop_at_ns = 0
        self.pause_s = pause_s  # after a refusal; None: what Retry-After says
        self.buffer = bytearray()
        self.sent_ns = 0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def start(self, stop_at_ns: int) -> None:
        self.stop_at_ns = stop_at_ns
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.tally.odd("connection lost", b"")
            self.done.set_result(None)

    def _send(self) -> None:
        if time.perf_counter_ns() >= self.stop_at_ns:
            if not self.done.done():
                self.done.set_result(None)
            return
        assert self.transport is not None
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(self.target.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        eol = head.find(b"\r\n", at)
        length = int(head[at + 15 : eol if eol > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        took = time.perf_counter_ns() - self.sent_ns
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        status = head[9:12]
        if status == b"200" and self.target.expect in body and b'"error"' not in body:
            self.tally.admitted_ns.append(took)
        elif status == b"503" and b"-32015" in body:
            self.tally.refused_ns.append(took)
            at = head.find(b"retry-after:")
            pause = self.pause_s
            if at >= 0:
                eol = head.find(b"\r\n", at)
                value = head[at + 12 : eol if eol > 0 else len(head)].strip().decode()
                self.tally.retry_after.add(value)
                if pause is None:
                    pause = float(value)
            asyncio.get_running_loop().call_later(pause or 1.0, self._send)
            return
        else:
            self.tally.odd(f"HTTP {status.decode(errors='replace')}", body)
        if b"connection: close" in head:
            self.tally.odd("closed by the edge", b"")
            self.done.set_result(None)
            return
        self._send()


async def _load(
    target: calls.Target, clients: int, duration_s: float, pause_s: float | None
) -> tuple[_Tally, float]:
    """`clients` connections sending for `duration_s`; the tally and the window's length.

    Everyone connects first, so connection setup is not part of the window; a call sent in the
    window is counted when it is answered, even after (a polite client may be sleeping then)."""
    tally = _Tally()
    loop = asyncio.get_running_loop()
    made = await asyncio.gather(
        *(
            loop.create_connection(
                lambda: _Client(target, tally, pause_s), target.host, target.port
            )
            for _ in range(clients)
        )
    )
    conns = [protocol for _, protocol in made]
    stop_at = time.perf_counter_ns() + int(duration_s * 1e9)
    for conn in conns:
        conn.start(stop_at)
    await asyncio.gather(*(conn.done for conn in conns))
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return tally, duration_s


def _rss_mb(pid: int) -> float:
    """Resident memory of one process, MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _rss(pids: dict[str, int]) -> dict[str, float]:
    return {name: _rss_mb(pid) for name, pid in pids.items()}


@contextlib.contextmanager
def _peak_rss(pids: dict[str, int]) -> Any:
    """Samples every process's RSS until the block ends; yields the running maxima."""
    peak = _rss(pids)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(_SAMPLE_S):
            for name, mb in _rss(pids).items():
                peak[name] = max(peak[name], mb)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _phase(tally: _Tally, elapsed: float, clients: int) -> dict[str, Any]:
    def ms(values: list[int]) -> dict[str, float]:
        return {k: round(v, 3) for k, v in percentiles(values).items()}

    return {
        "clients": clients,
        "elapsed_s": round(elapsed, 2),
        "admitted": len(tally.admitted_ns),
        "admitted_rps": round(len(tally.admitted_ns) / elapsed, 1) if elapsed else 0.0,
        "admitted_ms": ms(tally.admitted_ns),
        "refused": len(tally.refused_ns),
        "refused_ms": ms(tally.refused_ns),
        "retry_after": sorted(tally.retry_after),
        "other_errors": tally.other,
        "error_sample": tally.sample.decode(errors="replace"),
    }


def _services(running: stack.Stack) -> dict[str, int]:
    return {name: proc.pid for name, proc in running.mesh.procs.items()}


def env(args: Any) -> dict[str, str]:
    """The mesh's settings for this phase: the edge admits the sustainable concurrency. The
    other phases, at most that many clients at once, never meet the bound."""
    return {"FORGE_EDGE_MAX_INFLIGHT": str(args.concurrency)}


def measure(running: stack.Stack, args: Any) -> dict[str, Any]:
    """The phase on a running mesh started with `env(args)`."""
    sustainable = args.concurrency
    duration = args.duration
    sequential = min(args.calls, 500)
    _, forge = running.targets("modern")
    stack.wait_callable(forge)
    pids = _services(running)

    def run(clients: int, seconds: float, pause_s: float | None = None) -> tuple[_Tally, float]:
        return uvloop.run(_load(forge, clients, seconds, pause_s))

    print(f"overload: edge bound {sustainable}, 1 client, then {sustainable} ...", flush=True)
    run(1, min(2.0, duration))  # warm-up
    # One client for as long as `sequential` calls take, at most `duration`.
    unloaded, took = run(1, min(duration, max(1.0, sequential * 0.002)))
    steady, steady_s = run(sustainable, duration)
    before = _rss(pids)
    print(f"overload: {FACTOR * sustainable} clients ({FACTOR}x), polite, eager ...", flush=True)
    with _peak_rss(pids) as peak:
        polite, polite_s = run(FACTOR * sustainable, duration)
        eager, eager_s = run(FACTOR * sustainable, duration, EAGER_PAUSE_S)
    after_rss = _rss(pids)
    after, after_s = run(sustainable, min(duration, 3.0))
    result = {
        "call": "modern tools/call of fastecho's echo through Forge",
        "edge_max_inflight": sustainable,
        "eager_pause_s": EAGER_PAUSE_S,
        "unloaded": _phase(unloaded, took, 1),
        "sustainable": _phase(steady, steady_s, sustainable),
        "polite": _phase(polite, polite_s, FACTOR * sustainable),
        "eager": _phase(eager, eager_s, FACTOR * sustainable),
        "after": _phase(after, after_s, sustainable),
        "rss_mb": {"before": before, "peak": dict(peak), "after": after_rss},
    }
    s99 = result["sustainable"]["admitted_ms"].get("p99", 0.0)
    for name in ("polite", "eager"):
        o99 = result[name]["admitted_ms"].get("p99", 0.0)
        result[name]["admitted_p99_ratio"] = round(o99 / s99, 2) if s99 else None
    return result


def _pct(phase: dict[str, Any], key: str) -> str:
    got = phase[key]
    if not got:
        return "-"
    return f"p50 {got['p50']:.2f} ms  p99 {got['p99']:.2f} ms"


def _others(phase: dict[str, Any]) -> int:
    return sum(phase["other_errors"].values())


def _overloaded(name: str, phase: dict[str, Any]) -> list[str]:
    return [
        f"  {FACTOR}x, {phase['clients']:>3} clients, {name}: admitted {_pct(phase, 'admitted_ms')}"
        f"  {phase['admitted_rps']:.0f} calls/s  (p99 x{phase['admitted_p99_ratio']} of"
        " sustainable)",
        f"      refused {phase['refused']}: time to refuse {_pct(phase, 'refused_ms')}"
        f"  Retry-After {','.join(phase['retry_after']) or '-'}; {_others(phase)} other errors",
    ]


def lines(result: dict[str, Any]) -> list[str]:
    un, st, af = (result[k] for k in ("unloaded", "sustainable", "after"))
    rss = result["rss_mb"]
    watched = ("edge", "router", "upstream_proxy")
    memory = ", ".join(
        f"{name} {rss['before'].get(name, 0):.0f}/{rss['peak'].get(name, 0):.0f}"
        f"/{rss['after'].get(name, 0):.0f}"
        for name in watched
        if name in rss["before"]
    )
    return [
        f"Overload ({result['call']}; edge bound {result['edge_max_inflight']} in flight;"
        f" polite clients wait Retry-After, eager ones {result['eager_pause_s'] * 1000:.0f} ms):",
        f"  unloaded, 1 client:        {_pct(un, 'admitted_ms')}  ({un['admitted']} calls)",
        f"  sustainable, {st['clients']:>3} clients: {_pct(st, 'admitted_ms')}"
        f"  {st['admitted_rps']:.0f} calls/s  ({st['refused']} refused, {_others(st)} errors)",
        *_overloaded("polite", result["polite"]),
        *_overloaded("eager", result["eager"]),
        f"  after, {af['clients']:>3} clients:      {_pct(af, 'admitted_ms')}"
        f"  ({af['admitted']} calls, {af['refused']} refused, {_others(af)} errors)",
        f"  RSS MiB before/peak/after the overloads: {memory}",
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.overload [bench options]`: this phase alone, on a mesh of its own."""
    import tempfile

    from bench.__main__ import parse_args

    args = parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="forge-bench-overload-") as tmp,
        stack.running(Path(tmp), env=env(args)) as running,
    ):
        result = measure(running, args)
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
