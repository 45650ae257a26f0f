"""`python -m bench --quick` runs end to end and records what it measured (never judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_a_quick_bench_run_writes_a_record_with_every_phase(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--era", "both", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    doc = json.loads((tmp_path / "latest.json").read_text())
    assert len(list(tmp_path.glob("bench-*.json"))) == 1
    assert {"timestamp", "machine", "config", "results", "errors_total"} <= doc.keys()
    assert doc["errors_total"] == 0
    for era in ("legacy", "modern"):
        result = doc["results"][era]
        for side in ("direct", "forge"):
            assert result[side]["latency"]["ok"] == doc["config"]["calls"]
            assert result[side]["throughput"]["ok"] > 0
            assert {"p50", "p90", "p99", "max"} <= result[side]["latency"]["latency_ms"].keys()
        targets = result["targets"]
        for name in ("overhead_p50_ms", "overhead_p99_ms", "forge_rps", "direct_over_forge_rps"):
            assert {"measured", "target", "met"} <= targets[name].keys()
    assert "overhead p50" in done.stdout
    # Issue 16's table: every era's CPU per call and overhead against the bar, also in the record.
    assert "Issue 16 (scale and speed)" in done.stdout
    measured = {row["target"]: row for row in doc["issue16"]}
    for era in ("legacy", "modern"):
        per_cpu = measured[f"{era}: calls per CPU-second"]
        assert float(per_cpu["measured"].replace(",", "")) > 0
        assert per_cpu["verdict"] in {"met", "MISSED"}
        # The scale phase's mesh (two edge processes) carries the calls/s target; the main
        # mesh's one edge process is shown beside it.
        wide = measured[f"{era}: calls/s @32, 2 edge processes"]
        assert float(wide["measured"].replace(",", "")) > 0 and wide["verdict"] in {"met", "MISSED"}
        assert measured[f"{era}: calls/s @32, 1 edge process"]["verdict"] == "-"
    scale = doc["scale"]
    assert scale["edge_workers"] == 2
    for era in ("legacy", "modern"):
        assert scale["eras"][era]["throughput"]["ok"] > 0
        assert scale["eras"][era]["throughput"]["errors"] == {}
        assert scale["eras"][era]["cpu_cores"]["edge"] > 0
    assert "Scale (2 edge processes" in done.stdout
    # The A2A phase: the echo agent straight and through Forge (MCP and A2A), every call answered.
    a2a = doc["a2a"]
    for side in ("direct", "forge", "forge-a2a"):
        measured = a2a["sides"][side]
        assert measured["latency"]["ok"] == a2a["rounds"] * doc["config"]["calls"]
        assert measured["latency"]["errors"] == {} and measured["throughput"]["errors"] == {}
        assert measured["throughput"]["ok"] > 0
    assert {"added_p50_ms", "added_p99_ms", "target_p50_ms", "met"} <= a2a.keys()
    assert {"a2a_added_p50_ms", "a2a_added_p99_ms", "a2a_met"} <= a2a.keys()
    assert "A2A (" in done.stdout
    # The tracing phase: the same call through a mesh with tracing off and one exporting every
    # span to a local OTLP sink, every call answered on both.
    traced = doc["tracing"]
    assert traced["errors"] == {"off": 0, "on": 0}
    assert {"p50", "p99"} <= traced["latency_ms"]["on"].keys()
    assert {"on_added_p50_ms", "on_met", "off_us_per_hop", "off_met"} <= traced.keys()
    assert "Tracing (" in done.stdout
    # The overload phase: 10x the clients its edge's bound admits, polite (waiting Retry-After)
    # and eager; what is not admitted is refused with 503 + Retry-After, nothing else fails, and
    # the edge serves normally after.
    overload = doc["overload"]
    for name in ("polite", "eager"):
        assert overload[name]["admitted"] > 0 and overload[name]["refused"] > 0
        assert overload[name]["retry_after"] == ["1"]
        assert overload[name]["other_errors"] == {}, overload[name]["error_sample"]
    assert overload["after"]["admitted"] > 0 and overload["after"]["other_errors"] == {}
    assert {"before", "peak", "after"} <= overload["rss_mb"].keys()
    assert "Overload (" in done.stdout
    # The soak phase (2 s in --quick): every kind of request answered, every process sampled at
    # the start and the end, NATS pending read from each service.
    soaked = doc["soak"]
    assert soaked["duration_s"] == 2.0
    assert set(soaked["kinds"]) == {"tools/call", "tools/list", "resources/read", "prompts/get"}
    for kind, measured in soaked["kinds"].items():
        assert measured["ok"] > 0 and measured["errors"] == {}, (kind, measured["error_sample"])
    assert soaked["errors_total"] == 0 and soaked["failed_kinds"] == {}
    for moment in ("start", "end"):
        sampled = soaked[moment]["processes"]
        assert {"edge", "router", "registry", "nats", "postgres", "demo"} <= sampled.keys()
        assert all(p["rss_mb"] >= p["pss_mb"] > 0 and p["fds"] > 0 for p in sampled.values())
        assert "forge_nats_pending_bytes" in soaked[moment]["nats"]["edge"]
    assert "Soak (" in done.stdout
    # The ContextForge side by side is not run in --quick, and says so.
    assert "skipped" in doc["contextforge"]
    assert "ContextForge side by side: not measured" in done.stdout
