"""Large catalogs (issue 16): an upstream of 100,000 tools registers and lists completely; the
whole catalog's tools/list pages stay exact while other gateways change; a registration whose
upstream dies mid-discovery leaves nothing behind.

The upstreams are `forge.testing.catalog_server` threads: generated tools, paged by cursor."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from forge.testing.catalog_server import CatalogServer
from tests.e2e.security_kit import ok, rest
from tests.e2e.test_bad_input import META, MODERN


def _walk(
    mesh: Mesh, token: str, between: Callable[[int], None] = lambda page: None
) -> tuple[list[str], int]:
    """Every tool name of the whole catalog's tools/list, page by page (`between(n)` runs
    after page n), and the number of pages."""
    headers = {
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    names: list[str] = []
    cursor = None
    pages = 0
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as http:
        while True:
            params: dict[str, Any] = {"_meta": META}
            if cursor is not None:
                params["cursor"] = cursor
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params}
            result = ok(http.post("/mcp", json=body))["result"]
            pages += 1
            names += [t["name"] for t in result["tools"]]
            between(pages)
            cursor = result.get("nextCursor")
            if not cursor:
                return names, pages


def _register(http: httpx.Client, name: str, server: CatalogServer) -> dict[str, Any]:
    body = {"name": name, "url": server.url + "/mcp", "transport": "streamablehttp"}
    gateway: dict[str, Any] = ok(http.post("/gateways", json={**body, "visibility": "public"}))
    return gateway


def _listed(mesh: Mesh, token: str, prefix: str, want: int) -> list[str]:
    """The catalog's tools named `prefix…` (with repeats), once the routers hold `want`."""

    def walk() -> list[str] | None:
        found = [n for n in _walk(mesh, token)[0] if n.startswith(prefix)]
        return found if len(found) >= want else None

    found: list[str] = eventually_sync(walk, within_s=60, every_s=0.5, what=f"{want} tools")
    return found


def test_an_upstream_of_100000_tools_registers_and_lists_each_exactly_once(
    mesh: Mesh, admin_token: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    gateway = None
    with (
        CatalogServer(100_000, page_size=500, prefix="k") as server,
        rest(mesh, admin_token) as http,
    ):
        try:
            gateway = _register(http, f"huge-{tag}", server)
            prefix = f"{gateway['slug']}-k"
            found = _listed(mesh, admin_token, prefix, 100_000)
            assert len(found) == 100_000 and len(set(found)) == 100_000
            assert set(found) == {f"{prefix}{n:06d}" for n in range(100_000)}
            assert server.pages_served == 200  # every page asked for once (past 100 pages)
        finally:
            if gateway is not None:
                http.delete(f"/gateways/{gateway['id']}")


def test_catalog_pages_stay_exact_while_other_gateways_change(mesh: Mesh, admin_token: str) -> None:
    tag = uuid.uuid4().hex[:6]
    steady = CatalogServer(600, page_size=250, prefix="s").start()
    moving = CatalogServer(300, page_size=250, prefix="m").start()
    extra = CatalogServer(150, prefix="x").start()
    made: list[str] = []
    try:
        with rest(mesh, admin_token) as http:
            kept = _register(http, f"steady-{tag}", steady)
            made.append(kept["id"])
            changing = _register(http, f"moving-{tag}", moving)
            made.append(changing["id"])
            _listed(mesh, admin_token, f"{changing['slug']}-m", 300)
            _listed(mesh, admin_token, f"{kept['slug']}-s", 600)

            def change(page: int) -> None:
                if page == 2:  # mid-listing: a third of `moving` replaced, a gateway added
                    moving.offset = 100
                    ok(http.post(f"/gateways/{changing['id']}/tools/refresh"))
                    made.append(_register(http, f"extra-{tag}", extra)["id"])
                if page == 4:  # and one removed
                    http.delete(f"/gateways/{made.pop()}")

            names, pages = _walk(mesh, admin_token, change)
        assert pages > 5
        repeated = [n for n, c in Counter(names).items() if c > 1]
        assert not repeated, repeated[:5]
        assert names == sorted(names)  # one name order throughout: nothing served twice
        steady_names = {f"{kept['slug']}-s{n:06d}" for n in range(600)}
        assert steady_names <= set(names)  # no tool of an unchanged gateway skipped
        # `moving` tools 100..299 stayed: none of them skipped either
        stayed = {f"{changing['slug']}-m{n:06d}" for n in range(100, 300)}
        assert stayed <= set(names)
    finally:
        with rest(mesh, admin_token) as http:
            for gateway_id in made:
                http.delete(f"/gateways/{gateway_id}")
        for server in (steady, moving, extra):
            server.stop()


def test_a_registration_whose_upstream_dies_mid_discovery_leaves_nothing(
    mesh: Mesh, admin_token: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"dying-{tag}"
    with CatalogServer(5000, page_size=500, prefix="d", fail_at_page=3) as server:
        with rest(mesh, admin_token) as http:
            response = http.post(
                "/gateways",
                json={"name": name, "url": server.url + "/mcp", "transport": "streamablehttp"},
            )
            assert response.status_code in (502, 503, 504), response.text
            assert server.pages_served == 3  # it died at the fourth page
            listed = ok(http.get("/gateways"))
            assert not [g for g in listed if g["name"] == name]
            tools = ok(http.get("/tools"))
            assert not [t for t in tools if t["name"].startswith(f"dying-{tag}")]
    names, _ = _walk(mesh, admin_token)
    assert not [n for n in names if n.startswith(f"dying-{tag}")]
