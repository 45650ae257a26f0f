"""The import-rules check: the tree passes it, and it fails on each rule broken on purpose in a
planted tree (a cross-service import, in a source or in a service's tests, an upward arrow, a
cycle, a type-only cycle, a stray driver import, a string naming a service's module, a layer
importing one above it)."""

from __future__ import annotations

from pathlib import Path

from forge.testing import import_rules
from forge.testing.import_rules import allowed, problems


def _plant(root: Path, files: dict[str, str]) -> Path:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


# Two services and core: the smallest tree every planted rule can be broken in.
BASE = {
    "libs/core/src/forge/core/bus.py": "import nats\nfrom nats.aio.client import Client\n",
    "libs/core/src/forge/core/errors.py": "",
    "services/edge/src/forge/edge/__init__.py": "",
    "services/edge/src/forge/edge/guard.py": "from forge.core import errors\n",
    "services/router/src/forge/router/__init__.py": "",
    "services/router/src/forge/router/hooks.py": "from forge.core.bus import Client\n",
    "services/registry/src/forge/registry/store.py": "import asyncpg\n",
    "services/registry/src/forge/registry/pg.py": "import asyncpg\n",
    "services/registry/tests/test_store.py": "import asyncpg\nfrom forge.registry import store\n",
}


def _problems(
    tmp_path: Path,
    planted: dict[str, str],
    dynamic: dict[str, str] | None = None,
    layers: dict[str, tuple[str, ...]] | None = None,
    service_imports: dict[tuple[str, str], str] | None = None,
) -> list[str]:
    root = _plant(tmp_path, {**BASE, **planted})
    return problems(root, dynamic or {}, layers or {}, service_imports or {})


def test_the_tree_follows_the_import_rules() -> None:
    assert problems() == []


def test_the_planted_base_tree_passes(tmp_path: Path) -> None:
    assert _problems(tmp_path, {}) == []


def test_a_service_importing_another_service_is_reported_with_its_place(tmp_path: Path) -> None:
    planted = {
        "services/router/src/forge/router/handlers.py": (
            "from __future__ import annotations\n\nfrom forge.edge.guard import require\n"
        )
    }
    [problem] = _problems(tmp_path, planted)
    assert problem.startswith("services/router/src/forge/router/handlers.py:3: ")
    assert "imports forge.edge.guard" in problem


def test_a_service_import_is_allowed_only_where_service_imports_says_and_only_that_one(
    tmp_path: Path,
) -> None:
    planted = {
        "services/router/src/forge/router/local.py": (
            "from forge.edge import guard\nfrom forge.edge import other\n"
        ),
        "services/edge/src/forge/edge/other.py": "",
        "services/router/tests/test_local.py": "from forge.edge import guard\n",
    }
    allowed_one = {("forge.router.local", "forge.edge.guard"): "why"}
    found = _problems(tmp_path, planted, service_imports=allowed_one)
    assert [p.split(": ")[0] for p in found] == [
        "services/router/src/forge/router/local.py:2",  # not the module allowed
        "services/router/tests/test_local.py:1",  # nor the service's tests
    ]
    stale = {("forge.router.hooks", "forge.edge.guard"): "why", **allowed_one}
    found = _problems(tmp_path, planted, service_imports=stale)
    assert "SERVICE_IMPORTS names forge.router.hooks -> forge.edge.guard" in found[-1]


def test_an_import_inside_a_function_or_under_type_checking_counts(tmp_path: Path) -> None:
    planted = {
        "services/router/src/forge/router/lazy.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from forge.edge import guard\n"
            "def f():\n"
            "    import forge.edge.guard\n"
        )
    }
    lines = [p.split(":")[1] for p in _problems(tmp_path, planted)]
    assert lines == ["3", "5"]


def test_a_services_tests_may_not_import_another_service_but_cross_service_tests_may(
    tmp_path: Path,
) -> None:
    test = "from forge.edge.guard import require\nfrom forge.router import hooks\n"
    planted = {
        "services/router/tests/test_hooks.py": test,
        "tests/integration/test_hooks.py": test,
    }
    [problem] = _problems(tmp_path, planted)
    assert problem.startswith("services/router/tests/test_hooks.py:1: service router's tests")


def test_arrows_point_down_only(tmp_path: Path) -> None:
    planted = {
        "libs/core/src/forge/core/settings.py": "from forge.router import hooks\n",
        "libs/proto/src/forge/proto/envelope.py": "from forge.core import errors\n",
        "libs/testing/src/forge/testing/membus.py": "from forge.router import hooks\n",
        "services/edge/src/forge/edge/app.py": "from forge.testing import membus\n",
        "cli/src/forge/cli/mesh.py": "from forge.router import hooks\n",
    }
    found = _problems(tmp_path, planted)
    assert [p.split(":")[0] for p in found] == [
        "libs/core/src/forge/core/settings.py",  # core sits under the services
        "libs/proto/src/forge/proto/envelope.py",  # proto imports nothing of Forge
        "services/edge/src/forge/edge/app.py",  # the harness is for tests only
    ]  # testing may import anything; the cli may import a service to run it


def test_an_import_cycle_is_reported_once_even_when_one_arrow_is_type_only(
    tmp_path: Path,
) -> None:
    planted = {
        "services/edge/src/forge/edge/context.py": "from forge.edge.guard import Origins\n",
        "services/edge/src/forge/edge/guard.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from forge.edge.context import Edge\n"
        ),
    }
    assert _problems(tmp_path, planted) == [
        "import cycle: forge.edge.context -> forge.edge.guard -> forge.edge.context"
    ]


def test_a_cycle_through_relative_imports_and_a_package_is_found(tmp_path: Path) -> None:
    planted = {
        "services/edge/src/forge/edge/rest/__init__.py": "from . import routes\n",
        "services/edge/src/forge/edge/rest/routes.py": "from .errors import handler\n",
        "services/edge/src/forge/edge/rest/errors.py": "from forge.edge.rest import routes\n",
    }
    assert _problems(tmp_path, planted) == [
        "import cycle: forge.edge.rest.errors -> forge.edge.rest.routes -> forge.edge.rest.errors"
    ]


def test_a_stray_nats_import_is_reported_wherever_it_stands(tmp_path: Path) -> None:
    planted = {
        "services/router/src/forge/router/fast.py": "import nats\n",
        "libs/core/src/forge/core/rpc.py": "from nats.errors import TimeoutError\n",
        "services/router/tests/test_fast.py": "import nats.aio.client\n",
        "tests/integration/test_fast.py": "import nats\n",
    }
    found = sorted(_problems(tmp_path, planted))
    assert [p.split(": ", 1)[0] for p in found] == [
        "libs/core/src/forge/core/rpc.py:1",
        "services/router/src/forge/router/fast.py:1",
        "services/router/tests/test_fast.py:1",
        "tests/integration/test_fast.py:1",
    ]
    assert all("imports nats, which only forge.core.bus may" in p for p in found)


def test_asyncpg_only_in_a_services_store_modules_and_their_tests(tmp_path: Path) -> None:
    planted = {
        "services/registry/src/forge/registry/identity/store.py": "import asyncpg\n",
        "services/registry/src/forge/registry/app.py": "import asyncpg\n",
        "libs/core/src/forge/core/store.py": "import asyncpg\n",  # not a service's
        "services/edge/tests/test_guard.py": "import asyncpg\n",  # the edge has no store
    }
    found = sorted(_problems(tmp_path, planted))
    assert [p.split(": ", 1)[0] for p in found] == [
        "libs/core/src/forge/core/store.py:1",
        "services/edge/tests/test_guard.py:1",
        "services/registry/src/forge/registry/app.py:1",
    ]


def test_a_module_named_by_import_path_against_the_arrows_needs_an_allowance(
    tmp_path: Path,
) -> None:
    doc = 'CONFIGS = {"edge": "forge.edge.config:EdgeConfig"}\n'
    planted = {
        "libs/core/src/forge/core/settings_doc.py": doc,
        "libs/core/src/forge/core/config.py": (
            "import importlib\nimportlib.import_module('forge.edge')\n"
        ),
        "libs/core/src/forge/core/subjects.py": 'RPC = "forge.router.rpc"\nREPLY = "x:forge.a:1"\n',
    }
    found = sorted(_problems(tmp_path, planted))
    assert [p.split(": ", 1)[0] for p in found] == [
        "libs/core/src/forge/core/config.py:2",
        "libs/core/src/forge/core/settings_doc.py:1",
    ]  # a subject is no import path
    allowance = {"libs/core/src/forge/core/settings_doc.py": "a build tool"}
    assert _problems(tmp_path, {}, dynamic=allowance) == [found[0]]


def test_a_tool_allowed_to_name_services_is_not_imported_and_a_stale_allowance_is_reported(
    tmp_path: Path,
) -> None:
    planted = {
        "libs/core/src/forge/core/settings_doc.py": 'X = "forge.edge.config:EdgeConfig"\n',
        "services/edge/src/forge/edge/config.py": "from forge.core import settings_doc\n",
    }
    allowance = {
        "libs/core/src/forge/core/settings_doc.py": "a build tool",
        "libs/core/src/forge/core/gone.py": "moved away",
    }
    found = _problems(tmp_path, planted, dynamic=allowance)
    assert [p.split(": ", 1)[0] for p in found] == [
        "services/edge/src/forge/edge/config.py:1",
        "DYNAMIC names libs/core/src/forge/core/gone.py, which is no module now",
    ]


# A service in layers, as the upstream-proxy: handlers -> eras -> sessions -> transports.
LAYERED = {
    "services/proxy/src/forge/proxy/__init__.py": "",
    "services/proxy/src/forge/proxy/app.py": "from forge.proxy import handlers\n",
    "services/proxy/src/forge/proxy/config.py": "",
    "services/proxy/src/forge/proxy/handlers.py": "from forge.proxy.eras import adapter\n",
    "services/proxy/src/forge/proxy/eras/__init__.py": "",
    "services/proxy/src/forge/proxy/eras/adapter.py": (
        "from forge.proxy.eras import held\nfrom forge.proxy.sessions.pool import Pool\n"
    ),
    "services/proxy/src/forge/proxy/eras/held.py": "from forge.proxy.transports import http\n",
    "services/proxy/src/forge/proxy/sessions/__init__.py": "",
    "services/proxy/src/forge/proxy/sessions/pool.py": "from forge.proxy.transports import http\n",
    "services/proxy/src/forge/proxy/transports/__init__.py": "",
    "services/proxy/src/forge/proxy/transports/http.py": "from forge.proxy import config\n",
}
PROXY_LAYERS: dict[str, tuple[str, ...]] = {
    "forge.proxy": ("handlers", "eras", "sessions", "transports")
}


def test_layers_that_import_downward_or_within_themselves_pass(tmp_path: Path) -> None:
    assert _problems(tmp_path, LAYERED, layers=PROXY_LAYERS) == []


def test_a_layer_importing_one_above_it_is_reported_even_lazily(tmp_path: Path) -> None:
    planted = {
        **LAYERED,
        # a transport reaching up for the session layer's type, a session for the adapter
        "services/proxy/src/forge/proxy/transports/http.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from forge.proxy.sessions.pool import Pool\n"
        ),
        "services/proxy/src/forge/proxy/sessions/pool.py": (
            "def f():\n    from forge.proxy.eras.adapter import call\n"
        ),
        "services/proxy/src/forge/proxy/eras/held.py": "from forge.proxy import handlers\n",
    }
    found = _problems(tmp_path, planted, layers=PROXY_LAYERS)
    assert sorted(p.split(": ")[0] for p in found if "a layer above" in p) == [
        "services/proxy/src/forge/proxy/eras/held.py:1",
        "services/proxy/src/forge/proxy/sessions/pool.py:2",
        "services/proxy/src/forge/proxy/transports/http.py:3",
    ]


def test_a_layer_that_is_no_module_is_reported(tmp_path: Path) -> None:
    layers: dict[str, tuple[str, ...]] = {"forge.proxy": ("handlers", "eras", "gone")}
    found = _problems(tmp_path, LAYERED, layers=layers)
    assert found == ["LAYERS names forge.proxy.gone, which is no module now"]


def test_the_upstream_proxy_is_layered_handler_eras_sessions_transports() -> None:
    order = import_rules.LAYERS["forge.upstream_proxy"]
    assert order[:4] == ("handlers", "eras", "sessions", "transports")


def test_the_edge_is_layered_rest_transports_auth() -> None:
    # the REST routes and the MCP transports both ask auth who is calling, never the reverse
    assert import_rules.LAYERS["forge.edge"] == ("rest", "transports", "auth")


def test_every_component_is_placed_and_every_allowance_says_why() -> None:
    services = {"edge", "router"}
    assert allowed("cli", "edge", services) and not allowed("core", "edge", services)
    assert not allowed("edge", "router", services, test=True)
    assert allowed("edge", "testing", services, test=True)
    assert not allowed("edge", "testing", services)
    assert all(reason.strip() for reason in import_rules.DYNAMIC.values())
