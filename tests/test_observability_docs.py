"""docs/observability.md names every Prometheus metric Forge registers, and the Grafana dashboard
and the scrape configuration shipped beside it use only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

# Imported for what they register: the bus gauges, the shared metrics, the edge's HTTP metrics.
import forge.core.bus
import forge.core.metrics
import forge.edge.http_metrics  # noqa: F401
from forge.cli.main import DEFAULT_OPS_BASE
from forge.cli.mesh import SERVICES

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs/observability.md").read_text()
# Registered by a service's app.py when it starts (read at scrape time).
STARTED = {"forge_db_pool_connections", "forge_upstream_sessions"}


def registered() -> set[str]:
    return {
        metric.name
        for metric in REGISTRY.collect()
        if metric.name.startswith("forge_")  # prometheus-client's own process_/python_ aside
    }


def test_every_forge_metric_is_documented_with_its_exposed_name() -> None:
    names = registered() | STARTED
    assert len(names) >= 14
    for name in names:
        family = next((m for m in REGISTRY.collect() if m.name == name), None)
        exposed = f"{name}_total" if family is not None and family.type == "counter" else name
        assert f"`{exposed}" in DOC, f"docs/observability.md does not describe {exposed}"


def test_the_dashboard_queries_only_documented_metrics() -> None:
    dashboard = json.loads((ROOT / "docs/observability/grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"forge_\w+", e)
    }
    assert used
    for name in used:
        assert f"`{name}" in DOC, f"the dashboard uses {name}, which the docs do not describe"


def test_the_scrape_configuration_names_the_ports_forge_up_prefers() -> None:
    config = (ROOT / "docs/observability/prometheus.yml").read_text()
    for offset, _ in enumerate(SERVICES):
        assert f'"127.0.0.1:{DEFAULT_OPS_BASE + offset}"' in config
