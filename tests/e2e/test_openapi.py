"""`GET /openapi.json`: the edge's route table as OpenAPI 3.1, every route in it and nothing else,
with the request bodies the registries decode; served to authenticated callers only."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.result import Ok
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from forge.cli.mesh import Mesh
from forge.edge.app import build_app, build_edge
from forge.edge.config import EdgeConfig
from forge.edge.rest import openapi
from forge.registry.catalog.handlers import OPERATIONS as CATALOG
from forge.registry.identity.operations import OPERATIONS as IDENTITY
from forge.testing.membus import MemoryBus

METHODS = ("get", "post", "put", "patch", "delete")


def operation_of(result: Any) -> Any:
    """An operation of the loaded schema; an Err (a part schemathesis cannot load) fails."""
    assert isinstance(result, Ok), result
    return result.ok()


@pytest.fixture(scope="module")
def document(mesh: Mesh, admin_token: str) -> dict[str, Any]:
    answer = httpx.get(
        mesh.url + "/openapi.json", headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    found: dict[str, Any] = answer.json()
    return found


def app_routes() -> list[Any]:
    return list(build_app(build_edge(EdgeConfig(jwt_secret="s" * 40), MemoryBus())).routes)


def test_the_document_needs_a_token_unless_opened(mesh: Mesh) -> None:
    answer = httpx.get(mesh.url + "/openapi.json", timeout=30)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].lower().startswith("bearer")
    assert answer.json()["detail"]
    bad = httpx.get(
        mesh.url + "/openapi.json", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert bad.status_code == 401


def test_every_route_is_in_the_document_and_nothing_else(document: dict[str, Any]) -> None:
    served: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    for route in app_routes():
        if isinstance(route, WebSocketRoute):
            sockets.add(route.path)
        else:
            assert isinstance(route, Route)
            served |= {(m.lower(), route.path) for m in route.methods or () if m != "HEAD"}
    documented = {
        (method, operation.get("x-forge-route", path))
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert documented == served
    assert (
        {s["path"] for s in document["x-forge-websockets"]}
        == sockets
        == {
            "/ws",
            "/servers/{server_id}/ws",
        }
    )
    assert len(served) > 150  # the REST API, MCP, A2A, each under /v1 too where it is
    # OpenAPI: no two paths of one shape (`/a2a/{agent}` is described under `/a2a/{id}`).
    shapes = [re.sub(r"{\w+}", "{}", path) for path in document["paths"]]
    assert len(shapes) == len(set(shapes))
    assert document["paths"]["/a2a/{id}"]["post"]["x-forge-route"] == "/a2a/{agent}"


def test_every_route_is_described(document: dict[str, Any]) -> None:
    assert openapi.undescribed(app_routes()) == []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "x-forge-undescribed" not in operation, (method, path)
            assert operation["summary"] != "(not described)", (method, path)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    operations = [operation_of(r) for r in schema.get_all_operations()]  # every $ref resolves
    assert len(operations) == sum(len(item) for item in document["paths"].values())
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }


def test_path_parameters_security_and_statuses(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method, operation in item.items():
            declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert declared == names, (method, path)
            statuses = set(operation["responses"])
            if names:
                assert "404" in statuses, (method, path)
            if operation.get("security") != []:
                assert {"401", "403"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= statuses, (method, path)
    paths = document["paths"]
    assert paths["/health"]["get"]["security"] == []
    assert "security" not in paths["/gateways"]["get"]  # the document's default: bearer
    assert "201" in paths["/gateways"]["post"]["responses"]
    assert "409" in paths["/gateways"]["post"]["responses"]
    assert "422" in paths["/teams"]["post"]["responses"]
    error = paths["/gateways/{id}"]["get"]["responses"]["404"]
    assert error == {"$ref": "#/components/responses/Error"}
    assert document["components"]["schemas"]["Error"]["required"] == ["detail"]


def test_request_bodies_are_the_types_the_registry_decodes(document: dict[str, Any]) -> None:
    registries: dict[str, dict[tuple[str, str], Any]] = {"catalog": CATALOG, "identity": IDENTITY}
    for (registry, entity, op), params in openapi.PARAMS.items():
        assert registries[registry][(entity, op)].params is params, (registry, entity, op)
    schemas = document["components"]["schemas"]
    create = document["paths"]["/gateways"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateGatewayParams"
    }
    assert set(schemas["CreateGatewayParams"]["required"]) == {"name"}
    assert "url" in schemas["CreateGatewayParams"]["properties"]
    # The id of an update comes from the path: the body need not repeat it.
    update = document["paths"]["/servers/{id}"]["put"]["requestBody"]["content"]
    ref = update["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "id" not in schemas[ref].get("required", [])
    assert "associated_tools" in schemas[ref]["properties"]
    # List filters are query parameters, typed.
    audit = document["paths"]["/audit"]["get"]["parameters"]
    assert {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}} in (
        audit
    )


def test_the_document_can_be_opened_to_anyone() -> None:
    """FORGE_EDGE_OPENAPI_PUBLIC=true serves it without a token (an edge app in process)."""
    for public, status in ((True, 200), (False, 401)):
        edge = build_edge(EdgeConfig(jwt_secret="s" * 40, openapi_public=public), MemoryBus())
        with TestClient(build_app(edge)) as client:
            answer = client.get("/openapi.json")
        assert answer.status_code == status, answer.text
        if public:
            assert answer.json()["paths"]["/gateways"]
