"""Idle memory of the whole mesh `forge up` runs (issue 16: whole mesh <= 350 MiB idle).

`forge up` (no demo) is started on a state folder, left idle `settle_s` seconds after its
"ready at" line, and every process of the mesh is read: `forge up` itself (the supervisor,
which applied the migrations), and what it started (from its processes.json: each service,
the embedded NATS, the embedded PostgreSQL with its backends and background workers):

- RSS (VmRSS of /proc/<pid>/status): the pages each process has in memory. Summed over
  processes it counts a shared page once per process sharing it: PostgreSQL's shared buffers
  (and shared libraries) once per backend.
- PSS (Pss of /proc/<pid>/smaps_rollup): each page divided among the processes sharing it, so
  the sum over processes counts a shared page once, PostgreSQL's shared buffers included. But
  a page shared with processes outside the mesh (the Python binary and libraries, when other
  Python processes run) is only partly counted: on a busy machine the PSS sum is too low.
- USS (Private_Clean + Private_Dirty of smaps_rollup): the pages of one process alone.
- Unique (the physical pages of /proc/<pid>/pagemap, as root): every page that any process of
  the mesh has in memory, each counted once however many processes of the mesh or outside it
  share it: what the mesh holds, on any machine. On a machine running the mesh alone it is
  the PSS sum.

The target line uses the unique figure (the PSS sum where pagemap gives no page numbers, as
not root): of the three sums it alone counts every page the mesh holds exactly once. RSS is
shown next to it, per process and summed, as the number `ps` and earlier reports give.
`python -m bench.memory [--settle-s S] [--runs N]` runs this alone (medians of the runs).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forge.cli.mesh import STATE_FILE, MeshError
from forge.embedded.process import free_port

TARGET_MIB = 350.0  # issue 16, PSS summed over every process of the mesh
SETTLE_S = 5.0
# Before issue 16's memory work (this module run on ac66913's sources, medians of 3), MiB.
BEFORE_DATE = "2026-12-06"
BEFORE = {"unique": 315.8, "pss": 270.7, "rss": 524.5}


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rollup_kb(pid: int) -> dict[str, int]:
    """PSS and USS (private pages) of one process, KiB, from its smaps_rollup."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Pss", "Private_Clean", "Private_Dirty"):
                fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return {
        "pss": fields.get("Pss", 0),
        "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    }


_PAGE = os.sysconf("SC_PAGE_SIZE")
_PFN = (1 << 55) - 1
_PRESENT = 1 << 63


def _frames(pid: int) -> set[int]:
    """The physical page numbers of every page `pid` has in memory (empty if unreadable;
    all zero when not root, which `unique_mib` takes for unreadable)."""
    found: set[int] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                start, end = (int(x, 16) for x in line.split(maxsplit=1)[0].split("-"))
                if start >= 1 << 47:  # the kernel's vsyscall page
                    continue
                pagemap.seek(start // _PAGE * 8)
                entries = array.array("Q")
                entries.frombytes(pagemap.read((end - start) // _PAGE * 8))
                found.update(e & _PFN for e in entries if e & _PRESENT)
    except OSError:
        pass
    return found


def unique_mib(pids: list[int]) -> float | None:
    """The memory `pids` hold together, each physical page once; None when pagemap gives no
    page numbers (not root)."""
    frames: set[int] = set()
    for pid in pids:
        frames |= _frames(pid)
    if not frames or frames == {0}:
        return None
    return round(len(frames - {0}) * _PAGE / 2**20, 1)


def children() -> dict[int, list[int]]:
    """Every process's children, by parent pid (from /proc/<pid>/stat)."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """`root` and its descendants, from `children()`."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


SUPERVISOR = "forge_up"  # `forge up` itself: its own process alone (the rest are its children)


def pids_of(roots: dict[str, int]) -> dict[str, list[int]]:
    """Each named root process with its descendants (SUPERVISOR without them)."""
    found = children()
    return {
        name: [root] if name == SUPERVISOR else tree(root, found) for name, root in roots.items()
    }


def trees(roots: dict[str, int]) -> dict[str, dict[str, float]]:
    """RSS, PSS, USS and unique (MiB) of each named process tree (root and descendants)."""
    out = {}
    for name, pids in pids_of(roots).items():
        rollups = [rollup_kb(p) for p in pids]
        out[name] = {
            "rss_mib": round(sum(_status_kb(p, "VmRSS:") for p in pids) / 1024, 1),
            "pss_mib": round(sum(r["pss"] for r in rollups) / 1024, 1),
            "uss_mib": round(sum(r["uss"] for r in rollups) / 1024, 1),
            "unique_mib": unique_mib(pids) or 0.0,
            "processes": len(pids),
        }
    return out


def roots_of(state_dir: Path) -> dict[str, int]:
    """Every process `forge up` started, by name, from its processes.json."""
    state = json.loads((state_dir / STATE_FILE).read_text())
    roots = {entry["name"]: entry["pid"] for entry in state["services"]}
    for part in ("nats", "postgres"):
        if state.get(f"{part}_pid"):
            roots[part] = state[f"{part}_pid"]
    return roots


def totals(processes: dict[str, dict[str, float]]) -> dict[str, float]:
    """The whole mesh's RSS, PSS and USS sums, and the services' (Python) part of each."""
    services = {k: v for k, v in processes.items() if k not in ("nats", "postgres", SUPERVISOR)}
    out = {}
    for key in ("rss_mib", "pss_mib", "uss_mib"):
        out[key] = round(sum(v[key] for v in processes.values()), 1)
        out[f"services_{key}"] = round(sum(v[key] for v in services.values()), 1)
    return out


def sample(roots: dict[str, int]) -> dict[str, Any]:
    """Every tree's figures, the sums, and the mesh's unique memory (see the module doc)."""
    processes = trees(roots)
    unique = unique_mib([p for pids in pids_of(roots).values() for p in pids])
    return {
        "processes": processes,
        **totals(processes),
        "unique_mib": unique,
        "target_mib": unique if unique is not None else totals(processes)["pss_mib"],
    }


@contextlib.contextmanager
def forge_up(state_dir: Path, log: Path) -> Iterator[tuple[int, float]]:
    """Start `forge up` (no demo) on `state_dir`, its output appended to `log`; once its
    "ready at" line is out, yield its pid and the seconds from exec to that line. Then stop it
    (SIGINT; its process group killed after 60 s). MeshError if it exits before ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env.update(FORGE_STATE_DIR=str(state_dir), FORGE_EDGE_PORT=str(free_port()))
    with open(log, "ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "forge.cli.main", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        ready_s = None
        try:
            for line in proc.stdout:
                out.write(line)
                if b"ready at" in line:
                    ready_s = time.monotonic() - started
                    break
            if ready_s is not None:
                yield proc.pid, ready_s
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                rest, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rest, _ = proc.communicate()
            out.write(rest or b"")
    if ready_s is None:
        raise MeshError(f"forge up exited with code {proc.returncode} before ready; see {log}")


def idle(state_dir: Path, log: Path, settle_s: float = SETTLE_S) -> dict[str, Any]:
    """Start `forge up`, wait for ready and `settle_s` more, read every process, stop it."""
    with forge_up(state_dir, log) as (pid, _):
        time.sleep(settle_s)
        found = sample({SUPERVISOR: pid, **roots_of(state_dir)})
    return {"settle_s": settle_s, **found}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per process and for the sums: the median of each figure over the runs."""
    names = runs[0]["processes"]
    processes = {
        name: {
            key: round(statistics.median(r["processes"][name][key] for r in runs), 1)
            for key in runs[0]["processes"][name]
        }
        for name in names
        if all(name in r["processes"] for r in runs)
    }
    uniques = [r["unique_mib"] for r in runs if r["unique_mib"] is not None]
    return {
        "runs": len(runs),
        "settle_s": runs[0]["settle_s"],
        "processes": processes,
        **totals(processes),
        "unique_mib": round(statistics.median(uniques), 1) if uniques else None,
        "target_mib": round(statistics.median(r["target_mib"] for r in runs), 1),
        "target_runs_mib": [r["target_mib"] for r in runs],
    }


def measure(runs: int = 3, settle_s: float = SETTLE_S, state_dir: Path | None = None) -> Any:
    with tempfile.TemporaryDirectory(prefix="forge-memory-") as tmp:
        base = state_dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        return median_of([idle(base / "up", base / "forge-up.log", settle_s) for _ in range(runs)])


def lines(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"Idle memory: not measured: {result['error']}"]
    met = "yes" if result["target_mib"] <= TARGET_MIB else "no"
    what = "unique pages" if result["unique_mib"] is not None else "PSS sum (not root)"
    before = "".join(
        f", {key} {BEFORE[key]:.0f}" for key in ("unique", "pss", "rss") if BEFORE.get(key)
    )
    out = [
        f"Idle memory of `forge up` ({result['settle_s']:g} s after ready, medians of"
        f" {result['runs']}), MiB. Unique: each page the mesh holds once; PSS: shared pages"
        " divided among sharers (also outside the mesh); RSS: a shared page once per process"
        " (PostgreSQL's shared buffers once per backend); USS: private pages:",
        f"  whole mesh: {result['target_mib']:.1f} ({what})  target <= {TARGET_MIB:.0f}: {met}"
        f"   PSS {result['pss_mib']:.1f}  RSS {result['rss_mib']:.1f}"
        f"  USS {result['uss_mib']:.1f}",
        f"  the services alone: PSS {result['services_pss_mib']:.1f}"
        f"  RSS {result['services_rss_mib']:.1f}  USS {result['services_uss_mib']:.1f}",
    ]
    if before:
        out.append(f"  before ({BEFORE_DATE}):{before[1:]}")
    out.append(f"  {'process':<17} {'unique':>7} {'PSS':>7} {'RSS':>7} {'USS':>7}  processes")
    for name, p in result["processes"].items():
        out.append(
            f"  {name:<17} {p['unique_mib']:>7.1f} {p['pss_mib']:>7.1f} {p['rss_mib']:>7.1f}"
            f" {p['uss_mib']:>7.1f}  {int(p['processes'])}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="forge up runs (3)")
    parser.add_argument("--settle-s", type=float, default=SETTLE_S, help="idle before reading")
    parser.add_argument("--state-dir", type=Path, help="state and logs (default: temporary)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    try:
        result = measure(args.runs, args.settle_s, args.state_dir)
    except MeshError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines(result)))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
