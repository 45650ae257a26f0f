"""helm/forge: the umbrella chart renders (Helm v4 as a library, no helm binary) with its defaults
and with the value sets operators use, lints clean, and every rendered manifest is valid against
the Kubernetes schemas; each service has its own Deployment, HPA and PDB, probes on the ops port,
the restricted security context, only the edge is exposed, the NetworkPolicies hold, secrets are
generated once and kept, and a wrong value is refused by values.schema.json."""

from __future__ import annotations

import base64
import functools
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from forge.cli.mesh import SERVICES
from forge.core import permissions
from forge.core.bus import Headers, NatsBus
from forge.core.errors import ServiceUnavailableError
from forge.core.settings import SHARED
from forge.core.settings_doc import load_configs, settings_of
from forge.embedded.nats import nats_server_path, start_nats
from forge.testing import eventually

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "forge"
PERMISSIONS = CHART / "files" / "nats-permissions.json"
# The Kubernetes version the manifests are checked against (kubernetes-validate ships its
# schemas; the chart's kubeVersion is >=1.27).
KUBE = "1.33.0"
OPS_PORT = 9464
EDGE_PORT = 4444
# Subchart name -> `forge run` name.
FORGE = {name.replace("_", "-"): name for name in SERVICES}
# registry: A2A agent cards; edge: credential-free upstreams (FORGE_EDGE_UPSTREAM=local), SSO
DIAL_OUT = {"upstream-proxy", "a2a-bridge", "registry", "edge"}
# Kinds whose schema is not Kubernetes' own (CRDs); checked by the assertions below instead.
CRD_KINDS = {"ServiceMonitor", "HTTPRoute"}

Manifest = dict[str, Any]

# kubernetes-validate reads a kind's schema and the shared definitions (megabytes of JSON) from
# disk at every call: read each once, so a few hundred manifests take a second, not twenty.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)

EXTERNAL = {
    "global": {
        "nats": {"external": {"url": "nats://nats.infra:4222", "egressCIDRs": ["10.20.0.0/16"]}},
        "postgresql": {
            "catalog": {"existingSecret": "forge-catalog-db", "existingSecretKey": "url"},
            "identity": {"existingSecret": "forge-identity-db"},
            "external": {"egressCIDRs": ["10.30.0.0/24"]},
        },
        "secrets": {"existingSecret": "forge-secrets"},
    }
}
REPLICAS = {
    name: {"autoscaling": {"enabled": False}, "replicas": n}
    for n, name in enumerate(FORGE, start=1)
}
A2A_GRPC_PORT = 50051
INGRESS = {
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "host": "forge.example.com",
        "tls": [{"secretName": "forge-tls", "hosts": ["forge.example.com"]}],
    },
    "global": {
        "publicUrl": "https://forge.example.com",
        "stdioAllowedCommands": "/opt/forge/bin/python -m forge.servers.fastecho",
    },
    # Forge's A2A gRPC listener on (decision 0029); off in every other set.
    "edge": {"http": {"a2aGrpcPort": A2A_GRPC_PORT}},
}
MONITORED = {"global": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}
HTTPROUTE = {
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "public", "namespace": "gateways"}],
        "hostnames": ["forge.example.com"],
    }
}
IN_FLIGHT = {"edge": {"autoscaling": {"inFlight": {"enabled": True, "averageValue": "30"}}}}
COLLECTOR = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "otel"}}}
OTEL = {
    "global": {
        "env": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.otel:4318",
            "FORGE_LOG_LEVEL": "debug",
        },
        "networkPolicy": {
            "extraEgress": [{"to": [COLLECTOR], "ports": [{"port": 4318, "protocol": "TCP"}]}]
        },
    },
    "router": {"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://router-collector:4318"}},
}
NO_NETPOL = {"global": {"networkPolicy": {"enabled": False}, "nats": {"auth": {"enabled": False}}}}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external": EXTERNAL,
    "replicas": REPLICAS,
    "ingress": INGRESS,
    "servicemonitor": MONITORED,
    "httproute": HTTPROUTE,
    "in-flight": IN_FLIGHT,
    "no-netpol": NO_NETPOL,
    "otel": OTEL,
}


def render(values: dict[str, Any] | None = None) -> list[Manifest]:
    with helm.Chart.load(CHART) as chart:
        out = chart.render(values, name="rel", namespace="forge", is_install=True)
    docs: list[Manifest] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, render(VALUE_SETS[request.param])


@pytest.fixture(scope="module")
def defaults() -> list[Manifest]:
    return render()


def of(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def component(doc: Manifest) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def by_component(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {component(d): d for d in docs if d["kind"] == kind}


def env_of(deploy: Manifest) -> dict[str, dict[str, Any]]:
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def reads(service: str) -> set[str]:
    """The FORGE_* variables a service reads (its own and the shared ones it takes)."""
    found = set()
    for s in settings_of(load_configs()[service]):
        found.add(f"FORGE_{service.upper()}_{s.name.upper()}")
        if s.name in SHARED:
            found.add(f"FORGE_{s.name.upper()}")
    return found


def test_lint_is_clean() -> None:
    for values in VALUE_SETS.values():
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], (report, values)


def test_every_manifest_is_valid_kubernetes(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    assert docs
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "two manifests of one kind share a name"


def test_each_service_has_its_own_deployment_hpa_pdb_and_service(
    rendered: tuple[str, list[Manifest]],
) -> None:
    name, docs = rendered
    deploys = by_component(docs, "Deployment")
    assert set(deploys) == set(FORGE)
    hpas = by_component(docs, "HorizontalPodAutoscaler")
    pdbs = by_component(docs, "PodDisruptionBudget")
    services = by_component(docs, "Service")
    for svc, deploy in deploys.items():
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [FORGE[svc]]  # the image's entrypoint is `forge run`
        assert (
            pdbs[svc]["spec"]["selector"]["matchLabels"]
            == deploy["spec"]["selector"]["matchLabels"]
        )
        assert services[svc]["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
        if name == "replicas":
            assert svc not in hpas
            assert deploy["spec"]["replicas"] == list(FORGE).index(svc) + 1
            continue
        hpa = hpas[svc]
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deploy["metadata"]["name"],
        }
        assert "replicas" not in deploy["spec"]  # the HPA owns it
        kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
        assert kinds["Resource"]["resource"]["name"] == "cpu"
        if name == "in-flight" and svc == "edge":
            assert kinds["Pods"]["pods"]["metric"]["name"] == "forge_bus_requests_in_flight"
        else:
            assert "Pods" not in kinds


def test_probes_and_ops_port(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    for svc, deploy in by_component(docs, "Deployment").items():
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["ops"] == OPS_PORT
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "ops"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
        # docs/observability/prometheus.yml's Kubernetes job finds the pods by these and names
        # the service by app.kubernetes.io/name.
        pod = deploy["spec"]["template"]["metadata"]
        assert pod["annotations"]["prometheus.io/scrape"] == "true"
        assert pod["annotations"]["prometheus.io/port"] == str(OPS_PORT)
        assert pod["labels"]["app.kubernetes.io/name"] == svc
        env = env_of(deploy)
        assert env["FORGE_OPS_PORT"]["value"] == str(OPS_PORT)
        assert env["FORGE_OPS_HOST"]["value"] == "0.0.0.0"
        grpc = VALUE_SETS[name].get("edge", {}).get("http", {}).get("a2aGrpcPort")
        edge = {"ops", "http"} | ({"a2a-grpc"} if grpc else set())
        assert set(ports) == (edge if svc == "edge" else {"ops"})


def test_each_service_gets_only_settings_it_reads(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    stdio = {
        svc
        for svc, deploy in by_component(docs, "Deployment").items()
        if "FORGE_STDIO_ALLOWED_COMMANDS" in env_of(deploy)
    }
    assert stdio == ({"registry", "upstream-proxy"} if name == "ingress" else set())
    for svc, deploy in by_component(docs, "Deployment").items():
        forge_vars = {n for n in env_of(deploy) if n.startswith("FORGE_")}
        assert forge_vars <= reads(FORGE[svc]), (svc, forge_vars - reads(FORGE[svc]))
        for var, entry in env_of(deploy).items():
            if "SECRET" in var or "PASSWORD" in var:
                assert "valueFrom" in entry, f"{svc}: {var} written inline"


def test_settings_for_every_service(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    for svc, deploy in by_component(docs, "Deployment").items():
        env = env_of(deploy)
        names = [e["name"] for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert len(names) == len(set(names)), f"{svc}: a variable set twice"
        if name != "otel":
            assert not any(n.startswith("OTEL_") for n in env)
            continue
        want = "http://router-collector:4318" if svc == "router" else "http://collector.otel:4318"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == want  # the service's own wins
        assert env["FORGE_LOG_LEVEL"]["value"] == "debug"


def test_security_context_is_restricted(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    pods += [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "StatefulSet"]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"] + pod.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_only_the_edge_is_exposed(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    for svc, service in by_component(docs, "Service").items():
        if svc != "edge":
            assert service["spec"]["type"] == "ClusterIP", svc
            assert {p["name"] for p in service["spec"]["ports"]} <= {
                "ops",
                "client",
                "cluster",
                "monitor",
                "postgresql",
            }
    edge = by_component(docs, "Service")["edge"]
    grpc = {"a2a-grpc": A2A_GRPC_PORT} if name == "ingress" else {}  # on in that set only
    assert {p["name"]: p["port"] for p in edge["spec"]["ports"]} == {
        "http": EDGE_PORT,
        **grpc,
        "ops": OPS_PORT,
    }
    deploy = by_component(docs, "Deployment")["edge"]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"ops": OPS_PORT, "http": EDGE_PORT, **grpc}
    listens = env_of(deploy).get("FORGE_EDGE_A2A_GRPC_PORT")
    assert listens == ({"name": "FORGE_EDGE_A2A_GRPC_PORT", "value": "50051"} if grpc else None)
    ingresses = list(of(docs, "Ingress").values())
    routes = list(of(docs, "HTTPRoute").values())
    if name == "ingress":
        (ingress,) = ingresses
        (rule,) = ingress["spec"]["rules"]
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {
            "name": edge["metadata"]["name"],
            "port": {"name": "http"},
        }
        assert ingress["spec"]["tls"][0]["secretName"] == "forge-tls"
        public = env_of(by_component(docs, "Deployment")["edge"])["FORGE_PUBLIC_URL"]
        assert public["value"] == "https://forge.example.com"
    else:
        assert ingresses == []
    if name == "httproute":
        (route,) = routes
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        (rule,) = route["spec"]["rules"]
        assert rule["backendRefs"] == [{"name": edge["metadata"]["name"], "port": EDGE_PORT}]
        assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    else:
        assert routes == []


def selects(peer: Manifest, labels: dict[str, str]) -> bool:
    want = peer.get("podSelector", {}).get("matchLabels", {})
    return "podSelector" in peer and all(labels.get(k) == v for k, v in want.items())


def pod_labels(docs: list[Manifest], comp: str) -> dict[str, str]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job") and component(d) == comp:
            return dict(d["spec"]["template"]["metadata"]["labels"])
    raise AssertionError(f"no pods of {comp}")


def egress_peers(policy: Manifest) -> Iterator[tuple[Manifest, set[int | str]]]:
    for rule in policy["spec"]["egress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get("to", []):
            yield peer, ports


def test_network_policies(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    policies = by_component(docs, "NetworkPolicy")
    if name == "no-netpol":
        assert policies == {}
        return
    external = name == "external"
    for svc in FORGE:
        policy = policies[svc]
        spec = policy["spec"]
        # It selects this service's pods and no other's.
        chosen = [c for c in FORGE if selects(spec, pod_labels(docs, c))]
        assert chosen == [svc]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        # Ingress: the edge's HTTP port from anywhere; every service's ops port from monitoring.
        open_rules = [r for r in spec["ingress"] if "from" not in r]
        if svc == "edge":
            grpc = [{"port": "a2a-grpc", "protocol": "TCP"}] if name == "ingress" else []
            assert [r["ports"] for r in open_rules] == [
                [{"port": "http", "protocol": "TCP"}, *grpc]
            ]
        else:
            assert open_rules == []
        for rule in spec["ingress"]:
            if "from" in rule:
                assert rule["ports"] == [{"port": "ops", "protocol": "TCP"}]
                assert all("namespaceSelector" in p for p in rule["from"])
        # Egress: DNS, NATS; PostgreSQL for the registry alone; the internet for those that dial.
        peers = list(egress_peers(policy))
        nats = [p for p, ports in peers if 4222 in ports]
        assert len(nats) == 1, svc
        if external:
            assert nats[0] == {"ipBlock": {"cidr": "10.20.0.0/16"}}
        else:
            assert selects(nats[0], pod_labels(docs, "nats"))
        pg = [p for p, ports in peers if 5432 in ports]
        if svc == "registry":
            if external:
                assert pg == [{"ipBlock": {"cidr": "10.30.0.0/24"}}] * 2
            else:
                assert selects(pg[0], pod_labels(docs, "postgresql-catalog"))
                assert selects(pg[1], pod_labels(docs, "postgresql-identity"))
        else:
            assert pg == [], svc
        wide = [p for p, _ in peers if p.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
        if svc in DIAL_OUT:
            (block,) = wide
            assert "10.0.0.0/8" in block["ipBlock"]["except"]
            assert "169.254.0.0/16" in block["ipBlock"]["except"]
        else:
            assert wide == [], svc
        others = [
            p
            for p, ports in peers
            if p not in nats and p not in pg and p not in wide and ports != {53}
        ]
        assert others == ([COLLECTOR] if name == "otel" else []), (svc, others)
    if external:
        assert "nats" not in policies and "postgresql-catalog" not in policies
        return
    # NATS takes clients from this release's services; PostgreSQL from the registry and the
    # migration Job only.
    (client_rule,) = [
        r for r in policies["nats"]["spec"]["ingress"] if r["ports"][0]["port"] == 4222
    ]
    for svc in FORGE:
        assert any(selects(p, pod_labels(docs, svc)) for p in client_rule["from"]), svc
    for db in ("catalog", "identity"):
        (rule,) = policies[f"postgresql-{db}"]["spec"]["ingress"]
        allowed = {
            comp
            for comp in [*FORGE, "migrate", "nats"]
            if any(selects(p, pod_labels(docs, comp)) for p in rule["from"])
        }
        assert allowed == {"registry", "migrate"}


def test_service_monitors_only_when_asked(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    monitors = by_component(docs, "ServiceMonitor")
    if name != "servicemonitor":
        assert monitors == {}  # no Prometheus operator in an offline render
        return
    services = by_component(docs, "Service")
    assert set(monitors) == set(FORGE)
    for svc, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prom"
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= services[svc]["metadata"]["labels"].items()
        )
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == "ops" and endpoint["path"] == "/metrics"


def test_bundled_or_external_nats_and_postgresql(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    sets = by_component(docs, "StatefulSet")
    registry = env_of(by_component(docs, "Deployment")["registry"])
    urls = {
        e["value"]
        for d in by_component(docs, "Deployment").values()
        for e in [env_of(d)["FORGE_NATS_URL"]]
    }
    if name == "external":
        assert sets == {}
        assert registry["FORGE_CATALOG_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "forge-catalog-db",
            "key": "url",
        }
        assert registry["FORGE_IDENTITY_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "forge-identity-db",
            "key": "dsn",
        }
        assert all(u.endswith("@nats.infra:4222") for u in urls), urls
        assert of(docs, "Secret").keys() == {"rel-forge-nats-auth"}  # the rest is given
        return
    nats = sets["nats"]
    assert nats["spec"]["replicas"] == 3
    (claim,) = nats["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    conf = of(docs, "ConfigMap")["rel-forge-nats"]["data"]["nats.conf"]
    assert "jetstream {" in conf and conf.count("nats://rel-forge-nats-") == 3
    for db in ("catalog", "identity"):
        pg = sets[f"postgresql-{db}"]
        assert pg["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        ref = registry[f"FORGE_{db.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        secret = of(docs, "Secret")[ref["name"]]
        dsn = base64.b64decode(secret["data"][ref["key"]]).decode()
        assert dsn.startswith("postgresql://forge:") and dsn.endswith(
            f"@rel-forge-postgresql-{db}:5432/forge_{db}"
        )
    if name == "no-netpol":
        assert urls == {"nats://rel-forge-nats:4222"}
    else:
        assert all(u.endswith("@rel-forge-nats:4222") for u in urls), urls


def test_migrations_run_as_a_hook(rendered: tuple[str, list[Manifest]]) -> None:
    name, docs = rendered
    (job,) = of(docs, "Job").values()
    hooks = job["metadata"]["annotations"]["helm.sh/hook"]
    # External databases exist before the release; bundled ones are created by it.
    assert hooks == (
        "pre-install,pre-upgrade" if name == "external" else "post-install,pre-upgrade"
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["registry", "migrate"]
    env = {e["name"] for e in container["env"]}
    assert {"FORGE_CATALOG_DATABASE_URL", "FORGE_IDENTITY_DATABASE_URL"} <= env
    assert not any("JWT" in e or "NATS" in e for e in env)  # what a pre-install hook can read
    # The registry's pods migrate before they start, too (a first install's bundled databases
    # exist before the post-install hook runs); no other service has an init container.
    for svc, deploy in by_component(docs, "Deployment").items():
        inits = deploy["spec"]["template"]["spec"].get("initContainers", [])
        if svc != "registry":
            assert inits == []
            continue
        (init,) = inits
        assert init["args"] == ["registry", "migrate"]
        assert {e["name"]: e for e in init["env"]}["FORGE_CATALOG_DATABASE_URL"] == env_of(deploy)[
            "FORGE_CATALOG_DATABASE_URL"
        ]


def test_secrets_are_generated_once_and_kept(defaults: list[Manifest]) -> None:
    secrets = of(defaults, "Secret")
    main = secrets["rel-forge-secrets"]
    assert main["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = {k: base64.b64decode(v).decode() for k, v in main["data"].items()}
    assert set(data) == {"jwt-secret", "secret-keys", "session-secret", "admin-password"}
    assert len(data["jwt-secret"]) >= 32  # FORGE_JWT_SECRET's minimum
    key_id, key = data["secret-keys"].split(":")
    assert key_id == "k1" and len(base64.b64decode(key)) == 32  # forge.core.sealing's format
    auth = secrets["rel-forge-nats-auth"]
    assert auth["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(auth["data"]) == set(SERVICES)
    # Another render (no cluster: lookup finds nothing) makes new values: on a cluster the
    # template reads the stored Secret back instead (see secrets.yaml).
    again = of(render(), "Secret")["rel-forge-secrets"]["data"]
    assert again["jwt-secret"] != main["data"]["jwt-secret"]
    edge = env_of(by_component(defaults, "Deployment")["edge"])
    assert edge["FORGE_JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "rel-forge-secrets",
        "key": "jwt-secret",
    }
    registry = env_of(by_component(defaults, "Deployment")["registry"])
    assert (
        registry["FORGE_REGISTRY_PLATFORM_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"]
        == "admin-password"
    )


def nats_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(PERMISSIONS.read_text())
    return table


def test_the_chart_permission_table_is_forge_core_permissions() -> None:
    """files/nats-permissions.json is forge.core.permissions' table (what `forge up` gives its
    embedded NATS), written out for the chart; after a change there, rewrite it with
    `.venv/bin/python -m tests.deploy.test_helm`."""
    assert nats_table() == expected_table(), "helm/forge/files/nats-permissions.json is stale"


def expected_table() -> dict[str, Any]:
    return {user: permissions.permissions(user) for user in permissions.SERVICES}


def test_nats_users_follow_the_permission_table(defaults: list[Manifest]) -> None:
    table = nats_table()
    assert set(table) == set(SERVICES)  # one NATS user per service, named as `forge run` does
    auth = of(defaults, "Secret")["rel-forge-nats-auth-config"]["stringData"]["auth.conf"]
    passwords = {
        user: base64.b64decode(v).decode()
        for user, v in of(defaults, "Secret")["rel-forge-nats-auth"]["data"].items()
    }
    assert set(passwords) == set(SERVICES)
    for user, perms in table.items():
        line = f'{{user: "{user}", password: "{passwords[user]}", permissions: '
        assert line + json.dumps(perms, separators=(",", ":"), sort_keys=True) + "}" in auth
    # Nobody but the registry serves the registries; the upstream-proxy cannot ask identity;
    # the edge cannot announce catalog changes.
    for user, perms in table.items():
        serves = perms["subscribe"]["allow"]
        assert (user == "registry") == any(s.startswith("forge.registry.") for s in serves), user
    upstream = table["upstream_proxy"]["publish"]["allow"]
    assert not any(s.startswith(("forge.registry.identity", "forge.registry.>")) for s in upstream)
    assert not any(s.startswith("forge.events.catalog") for s in table["edge"]["publish"]["allow"])
    for svc, deploy in by_component(defaults, "Deployment").items():
        user = FORGE[svc]
        url = env_of(deploy)["FORGE_NATS_URL"]["value"]
        assert url == f"nats://{user}:$(NATS_PASSWORD)@rel-forge-nats:4222"
        assert env_of(deploy)["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == user


def bundled_nats_files(docs: list[Manifest], into: Path) -> Path:
    """The bundled NATS's configuration and users as its pods see them, written under `into`
    (the data and pid paths moved there)."""
    conf = of(docs, "ConfigMap")["rel-forge-nats"]["data"]["nats.conf"]
    auth = of(docs, "Secret")["rel-forge-nats-auth-config"]["stringData"]["auth.conf"]
    (into / "auth").mkdir()
    (into / "auth" / "auth.conf").write_text(auth)
    conf = conf.replace("/data/jetstream", str(into / "js"))
    conf = conf.replace("/var/run/nats/nats.pid", str(into / "nats.pid"))
    (into / "nats.conf").write_text(conf)
    return into / "nats.conf"


def test_the_bundled_nats_configuration_is_valid(defaults: list[Manifest], tmp_path: Path) -> None:
    conf = bundled_nats_files(defaults, tmp_path)
    checked = subprocess.run(
        [str(nats_server_path()), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        env={"POD_NAME": "rel-forge-nats-0"},
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    assert "is valid" in checked.stdout + checked.stderr


def logged_refusal(caplog: pytest.LogCaptureFixture, subject: str) -> bool:
    """Whether the bus logged the server's refusal to let it publish on `subject`."""
    return any(
        "permissions violation for publish" in r.getMessage().lower() and subject in r.getMessage()
        for r in caplog.records
    )


async def test_the_rendered_users_hold_on_a_real_nats_server(
    defaults: list[Manifest], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bundled NATS's users as the chart renders them, on a real nats-server, with each
    service's connection as it makes it (NatsBus, the URL the Deployment gives it)."""
    auth = of(defaults, "Secret")["rel-forge-nats-auth-config"]["stringData"]["auth.conf"]
    passwords = {
        user: base64.b64decode(v).decode()
        for user, v in of(defaults, "Secret")["rel-forge-nats-auth"]["data"].items()
    }
    server = start_nats(tmp_path, authorization=auth)
    buses: dict[str, NatsBus] = {}
    try:
        host = server.url.removeprefix("nats://")
        for user in ("router", "upstream_proxy", "edge"):
            url = f"nats://{user}:{passwords[user]}@{host}"
            buses[user] = await NatsBus.connect(url, f"forge-{user}")

        async def echo(data: bytes, headers: Headers) -> bytes:
            return b"echo:" + data

        # The router asks an upstream-proxy, which answers: both sides as the table allows.
        await buses["upstream_proxy"].serve("forge.upstream.*.rpc", echo, queue="upstream-proxy")
        await buses["upstream_proxy"].flush()
        reply = await eventually(
            lambda: buses["router"].request(
                "forge.upstream.gw1.rpc", b"hi", deadline=time.time() + 5
            ),
            retry_on=(ServiceUnavailableError,),
        )
        assert reply == b"echo:hi"
        # What the table does not allow is refused by the server, and the service says so.
        # A refused request fails as soon as nats-server says so, not at its deadline.
        with caplog.at_level(logging.ERROR, "forge.bus"):
            with pytest.raises(ServiceUnavailableError, match="does not let this service"):
                await buses["upstream_proxy"].request(
                    "forge.registry.identity.users.get", b"{}", deadline=time.time() + 30
                )
            await buses["edge"].publish("forge.events.catalog.tools.changed", b"{}")
            await buses["edge"].flush()
            for subject in ("forge.registry.identity.users.get", "forge.events.catalog.tools"):
                await eventually(partial(logged_refusal, caplog, subject), what=subject)
    finally:
        for bus in buses.values():
            await bus.close()
        server.stop()


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"edge": {"replicas": "two"}}, "/edge/replicas"),
        ({"replicaCount": 3}, "replicaCount"),
        ({"router": {"replica": 3}}, "replica"),
        ({"global": {"opsPort": 70000}}, "/global/opsPort"),
        ({"global": {"logFormat": "xml"}}, "/global/logFormat"),
        ({"global": {"nats": {"external": {"url": "http://nats:4222"}}}}, "url"),
        ({"upstream-proxy": {"env": {"PATH": "/tmp"}}}, "PATH"),
        ({"nats": {"replicas": 2}}, "/nats/replicas"),
        ({"ingress": {"pathType": "Anything"}}, "/ingress/pathType"),
        ({"edge": {"http": {"serviceType": "External"}}}, "serviceType"),
        ({"edge": {"http": {"a2aGrpcPort": 70000}}}, "a2aGrpcPort"),
    ],
)
def test_a_wrong_value_is_refused_by_the_schema(values: dict[str, Any], where: str) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="rel", namespace="forge")
    assert where in str(refused.value)


def test_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    with helm.Chart.load(CHART) as chart:
        values = chart.values
    missing = [key for key in leaves(values) if f"`{key}`" not in readme]
    assert missing == []
    for svc in FORGE:
        sub = yaml.safe_load((CHART / "charts" / svc / "values.yaml").read_text())
        missing = [f"<service>.{key}" for key in leaves(sub) if f"`<service>.{key}`" not in readme]
        assert missing == [], svc


def leaves(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of a values tree, stopping at lists, empty maps, the permission table,
    resources, the subcharts (listed as <service>.*) and maps of free keys."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        whole = key in FORGE or key in STOP
        if isinstance(value, dict) and value and not whole:
            yield from leaves(value, f"{path}.")
        else:
            yield path


STOP = {"forge-lib", "resources", "secretEnv", "dnsSelector", "requests", "limits"}


if __name__ == "__main__":
    PERMISSIONS.write_text(json.dumps(expected_table(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {PERMISSIONS.relative_to(ROOT)}")
