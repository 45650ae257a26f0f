"""Issue 16's targets in one table: the bar, the figure the issue started from, this run's."""

from __future__ import annotations

from typing import Any

# Not the gateway: the bench's own upstream, its load generator, and whatever else ran.
NOT_GATEWAY = frozenset({"fastecho", "loadgen", "other"})


def calls_per_cpu_second(era: dict[str, Any]) -> float | None:
    """Calls per CPU-second of the gateway's processes (services, NATS, PostgreSQL) at load."""
    forge = era["forge"]
    cores = forge.get("cpu_cores") or {}
    busy = sum(v for k, v in cores.items() if k not in NOT_GATEWAY)
    rps = forge["throughput"]["rps"]
    return rps / busy if busy > 0 else None


def _row(
    name: str,
    bar: str,
    before: str,
    after: float | None,
    fmt: str,
    met: bool | None,
    extra: str = "",
) -> list[str]:
    shown = "-" if after is None else format(after, fmt)
    verdict = "-" if met is None else ("met" if met else "MISSED")
    return [name, bar, before, shown, verdict, extra]


def _throughput(
    name: str,
    rps: float,
    direct_rps: float,
    cf: dict[str, Any] | None,
    scaled: tuple[int, dict[str, Any]] | None,
) -> list[list[str]]:
    """The calls/s @32 row: the main mesh's (one edge process), and when the scale phase ran,
    the target's verdict on its mesh (several edge processes, FORGE_EDGE_WORKERS)."""
    against = f"x{rps / direct_rps:.3f} of direct" + (
        f"; ContextForge {cf['rps']:,.0f}/s" if cf else ""
    )
    if scaled is None:
        return [
            _row(
                f"{name}: calls/s @32 sessions",
                ">= 6,000",
                "2,300-3,800",
                rps,
                ",.0f",
                rps >= 6000,
                against,
            )
        ]
    workers, measured = scaled
    wide = measured["throughput"]["rps"]
    cores = measured.get("cpu_cores") or {}
    busy = sum(v for k, v in cores.items() if k not in NOT_GATEWAY)
    per_cpu = f"; {wide / busy:,.0f} calls per CPU-s" if busy > 0 else ""
    return [
        _row(
            f"{name}: calls/s @32, 1 edge process", "-", "2,300-3,800", rps, ",.0f", None, against
        ),
        _row(
            f"{name}: calls/s @32, {workers} edge processes",
            ">= 6,000",
            "2,300-3,800",
            wide,
            ",.0f",
            wide >= 6000,
            f"x{wide / direct_rps:.3f} of direct{per_cpu}",
        ),
    ]


def rows(doc: dict[str, Any]) -> list[list[str]]:
    """One row per target of the issue that this run measured."""
    out: list[list[str]] = []
    cat = doc.get("catalog")
    if cat and (cat["tools_small"], cat["tools_large"]) == (10_000, 100_000):
        small = cat["tools_small"]
        out += [
            _row(
                "register 10,000 tools (s)",
                "< 5",
                "504 at 15 s",
                cat["register_small_s"],
                ".2f",
                cat["register_small_s"] < 5,
            ),
            _row(
                "register 100,000 tools (s)",
                "< 60",
                "impossible",
                cat["register_large_s"],
                ".2f",
                cat["register_large_s"] < 60,
            ),
            _row(
                "tools/list first page p50 (ms)",
                "<= 20",
                "-",
                cat["list_first_page_p50_ms"],
                ".2f",
                cat["list_first_page_p50_ms"] <= 20,
            ),
            _row(
                f"tools/list all {small:,} p50 (ms)",
                "<= 200",
                "-",
                cat[f"list_all_{small}_p50_ms"],
                ".1f",
                cat[f"list_all_{small}_p50_ms"] <= 200,
            ),
            _row(
                "change reaches every router p50 (ms)",
                "<= 100",
                "-",
                cat["propagation_p50_ms"],
                ".1f",
                cat["propagation_p50_ms"] <= 100,
            ),
            _row(
                f"a {small:,}-tool gateway reaches every router p50 (ms)",
                "<= 100",
                "event > bus limit",
                cat.get("propagation_large_p50_ms"),
                ".1f",
                None
                if cat.get("propagation_large_p50_ms") is None
                else cat["propagation_large_p50_ms"] <= 100,
            ),
            _row(
                "router MiB per 10,000 tools",
                "proportional",
                "-",
                cat["rss_mib_per_10k"]["router"],
                ".1f",
                None,
            ),
            _row(
                "edge MiB per 10,000 tools",
                "proportional",
                "-",
                cat["rss_mib_per_10k"]["edge"],
                ".1f",
                None,
            ),
        ]
    legacy_cf = (doc.get("contextforge") or {}).get("rows", {}).get("contextforge")
    scale = doc.get("scale") or {}
    scaled = {era: (scale["edge_workers"], m) for era, m in scale.get("eras", {}).items()}
    for name, era in doc.get("results", {}).items():
        t = era["targets"]
        direct = era["direct"]
        per_cpu = calls_per_cpu_second(era)
        rps = era["forge"]["throughput"]["rps"]
        o50, o99 = t["overhead_p50_ms"]["measured"], t["overhead_p99_ms"]["measured"]
        cf = legacy_cf if name == "legacy" else None
        out += [
            _row(
                f"{name}: calls per CPU-second",
                ">= 4,500",
                "~2,300",
                per_cpu,
                ",.0f",
                None if per_cpu is None else per_cpu >= 4500,
                f"direct {direct['throughput']['rps']:,.0f}/s",
            ),
            *_throughput(name, rps, direct["throughput"]["rps"], cf, scaled.get(name)),
            _row(
                f"{name}: overhead p50 (ms)",
                "<= 0.7",
                "+1.0 to +1.5",
                o50,
                "+.3f",
                o50 <= 0.7,
                f"x{t['latency_ratio_p50']} of direct"
                + (f"; ContextForge p50 {cf['p50_ms']:.2f} ms" if cf else ""),
            ),
            _row(
                f"{name}: overhead p99 (ms)",
                "<= 2",
                "-",
                o99,
                "+.3f",
                o99 <= 2,
                f"x{t['latency_ratio_p99']} of direct"
                + (f"; ContextForge p99 {cf['p99_ms']:.2f} ms" if cf else ""),
            ),
        ]
    dense = (doc.get("scanners") or {}).get("dense")
    if dense:
        for scanner, r in dense["scanners"].items():
            out.append(
                _row(
                    f"{scanner} Rust/Python, 10 KB dense",
                    ">= 20x",
                    "~17x",
                    r["ratio"],
                    ".1f",
                    r["ratio"] >= 20,
                )
            )
    start = doc.get("startup") or {}
    up = start.get("forge_up")
    if up:
        out.append(
            _row(
                "forge up -> ready (s)", "<= 3", "~4.4", up["median_s"], ".2f", up["median_s"] <= 3
            )
        )
    idle = start.get("memory")
    if idle and "error" not in idle:
        mib = idle["target_mib"]
        what = "unique pages" if idle.get("unique_mib") is not None else "PSS"
        out.append(
            _row(
                f"whole-mesh idle memory (MiB, {what})",
                "<= 350",
                "~420",
                mib,
                ".0f",
                mib <= 350,
                f"RSS summed {idle['rss_mib']:.0f}, PSS {idle['pss_mib']:.0f}",
            )
        )
    return out


def record(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The table's rows for the JSON record."""
    keys = ("target", "bar", "before", "measured", "verdict", "compared")
    return [dict(zip(keys, r, strict=True)) for r in rows(doc)]


def lines(doc: dict[str, Any]) -> list[str]:
    """The table, or nothing when no phase of the issue ran."""
    body = rows(doc)
    if not body:
        return []
    head = ["issue 16 target", "bar", "before", "this run", "verdict", "compared"]
    table = [head, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(head) - 1)]
    out = ["Issue 16 (scale and speed), this machine:"]
    for i, r in enumerate(table):
        cells = [r[j].ljust(widths[j]) if j == 0 else r[j].rjust(widths[j]) for j in range(5)]
        out.append("  " + "  ".join(cells) + ("  " + r[5] if r[5] else ""))
        if i == 0:
            out.append("  " + "-" * (sum(widths) + 2 * 4))
    out.append(
        "  (before: the figures the issue was filed with; calls per CPU-second: calls/s at 32"
        " sessions over the cores the gateway's processes used — services, NATS, PostgreSQL;"
        " N edge processes: the scale phase's mesh, FORGE_EDGE_WORKERS=N)"
    )
    return out
