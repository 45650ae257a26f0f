"""CPU seconds per named process tree, read from /proc, to show where a phase spends the machine."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_all() -> dict[int, tuple[int, float]]:
    """Every visible process: pid -> (parent pid, CPU seconds so far)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = raw[raw.rfind(")") + 2 :].split()
        ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        out[int(entry.name)] = (ppid, (utime + stime) / _TICK)
    return out


def sample(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each root process together with all of its descendants."""
    table = _read_all()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    totals: dict[str, float] = {}
    for name, root in roots.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in table:
                total += table[pid][1]
            todo.extend(children.get(pid, ()))
        totals[name] = total
    return totals


def machine() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def usage(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores used by each tree over the interval (1.0 = one core kept busy throughout)."""
    if seconds <= 0:
        return {}
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 3) for name in after}
