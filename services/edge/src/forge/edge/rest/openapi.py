"""`GET /openapi.json`: the edge's HTTP API as an OpenAPI 3.1 document, generated from the app's
route table, so it cannot drift from it.

Every Starlette route the app serves becomes one operation per method (HEAD aside); WebSocket
routes, which OpenAPI cannot describe, are listed under `x-forge-websockets`. What each
operation takes and answers comes from one place per kind of route:

- the routes that are one registry operation (rest.admin.OPS, rest.agents.OPS, rest.identity's
  ACCOUNT and VERSIONED, rest.plugins.OPS) are read from those tables; their request body (and,
  for GET, their query parameters) is the JSON Schema of the registry operation's params type,
  from `PARAMS` (tests/e2e/test_openapi.py checks it against the registries' own tables), made
  by msgspec from the same Structs the registry decodes; the catalog's records are answered as
  `VIEWS` describe them (the registry's Structs less their sealed credentials, rest.admin's
  flattened views), other records loosely (an object, or an array of objects);
- Forge's A2A endpoint (every route under `/a2a/{agent}` and `/servers/{server_id}/a2a`) is
  described by one rule: A2A's own bodies and errors, loosely;
- every other route is described in `OTHER`, by method and path.

A route in none is still listed (with a loose description and `x-forge-undescribed`), and
`undescribed()` names it: the test fails on any. Every error answer of the REST API has one
shape (rest.errors): `{"detail", "code"[, "data"]}`. OpenAPI allows one path per shape: a route
whose path differs from an earlier one's only in its parameters' names is described under that
one, its own path in `x-forge-route`.

The document is served to any authenticated caller (it is a description, not data), or to
anyone with FORGE_EDGE_OPENAPI_PUBLIC=true.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from forge.edge.auth import guard
from forge.edge.rest import admin, agents, identity, plugins, rbac
from forge.edge.state import Edge
from forge.proto import catalog_params as cp
from forge.proto import identity_params as ip
from forge.proto import plugins as pp
from forge.proto.agents import Agent
from forge.proto.catalog import Gateway, Server

JSON = "application/json"
OBJECT: dict[str, Any] = {"type": "object"}
ARRAY: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
ANY: dict[str, Any] = {}
OPENAPI_PATH = "/openapi.json"
_VERSIONED = "/v1"
_PARAM = re.compile(r"{(\w+)}")

# (registry, entity, op) → the params type the registry decodes (None: it reads none). The
# registries' own tables are forge.registry.{catalog.handlers,identity.operations}.OPERATIONS.
PARAMS: dict[tuple[str, str, str], type[Any] | None] = {
    ("catalog", "gateways", "create"): cp.CreateGatewayParams,
    ("catalog", "gateways", "list"): None,
    ("catalog", "gateways", "get"): cp.IdParams,
    ("catalog", "gateways", "update"): cp.UpdateGatewayParams,
    ("catalog", "gateways", "delete"): cp.IdParams,
    ("catalog", "gateways", "refresh"): cp.IdParams,
    ("catalog", "secrets", "reseal"): None,
    ("catalog", "tools", "list"): None,
    ("catalog", "tools", "get"): cp.IdParams,
    ("catalog", "resources", "list"): None,
    ("catalog", "resources", "get"): cp.IdParams,
    ("catalog", "resource_templates", "list"): None,
    ("catalog", "prompts", "list"): None,
    ("catalog", "prompts", "get"): cp.IdParams,
    ("catalog", "servers", "create"): cp.CreateServerParams,
    ("catalog", "servers", "list"): None,
    ("catalog", "servers", "get"): cp.IdParams,
    ("catalog", "servers", "update"): cp.UpdateServerParams,
    ("catalog", "servers", "delete"): cp.IdParams,
    ("catalog", "agents", "create"): cp.CreateAgentParams,
    ("catalog", "agents", "list"): None,
    ("catalog", "agents", "get"): cp.IdParams,
    ("catalog", "agents", "update"): cp.UpdateAgentParams,
    ("catalog", "agents", "toggle"): cp.ToggleAgentParams,
    ("catalog", "agents", "refresh"): cp.IdParams,
    ("catalog", "agents", "delete"): cp.IdParams,
    ("catalog", "plugin_bindings", "create"): pp.CreatePluginBindingParams,
    ("catalog", "plugin_bindings", "list"): pp.ListPluginBindingsParams,
    ("catalog", "plugin_bindings", "get"): cp.IdParams,
    ("catalog", "plugin_bindings", "update"): pp.UpdatePluginBindingParams,
    ("catalog", "plugin_bindings", "delete"): cp.IdParams,
    ("identity", "users", "create"): ip.CreateUserParams,
    ("identity", "users", "get"): ip.EmailParams,
    ("identity", "users", "list"): None,
    ("identity", "users", "update"): ip.UpdateUserParams,
    ("identity", "users", "delete"): ip.EmailParams,
    ("identity", "users", "register"): ip.RegisterParams,
    ("identity", "users", "login"): ip.LoginParams,
    ("identity", "users", "change_password"): ip.ChangePasswordParams,
    ("identity", "teams", "create"): ip.CreateTeamParams,
    ("identity", "teams", "get"): cp.IdParams,
    ("identity", "teams", "list"): None,
    ("identity", "teams", "update"): ip.UpdateTeamParams,
    ("identity", "teams", "delete"): cp.IdParams,
    ("identity", "members", "list"): ip.TeamIdParams,
    ("identity", "members", "set"): ip.SetMemberParams,
    ("identity", "members", "remove"): ip.RemoveMemberParams,
    ("identity", "invitations", "create"): ip.SetMemberParams,
    ("identity", "invitations", "list"): ip.TeamIdParams,
    ("identity", "invitations", "accept"): ip.AcceptParams,
    ("identity", "invitations", "delete"): cp.IdParams,
    ("identity", "roles", "list"): None,
    ("identity", "roles", "get"): ip.NameParams,
    ("identity", "roles", "create"): ip.CreateRoleParams,
    ("identity", "roles", "update"): ip.UpdateRoleParams,
    ("identity", "roles", "delete"): ip.NameParams,
    ("identity", "bindings", "list"): ip.ListBindingsParams,
    ("identity", "bindings", "grant"): ip.BindingParams,
    ("identity", "bindings", "revoke"): ip.BindingParams,
    ("identity", "tokens", "create"): ip.CreateTokenParams,
    ("identity", "tokens", "list"): ip.ListTokensParams,
    ("identity", "tokens", "get"): cp.IdParams,
    ("identity", "tokens", "revoke"): cp.IdParams,
    ("identity", "revocations", "create"): ip.CreateRevocationParams,
    ("identity", "audit", "list"): ip.ListAuditParams,
}


class Doc(NamedTuple):
    """One operation: what it takes and what it answers."""

    summary: str
    tag: str
    body: Any = None  # a msgspec type or a JSON Schema of the JSON body; None: no body is read
    response: Any = OBJECT  # the success answer's JSON Schema (or a msgspec type)
    status: int = 200
    auth: bool = True  # a bearer token (or session cookie) is required
    media: str = JSON  # of the success answer
    query: Any = None  # a msgspec Struct whose fields are the query parameters
    optional_body: bool = False  # an empty body stands for {}
    errors: tuple[int, ...] = ()  # error statuses besides those implied (auth, path, body)
    params_from_path: bool = True  # path parameters may be unknown: 404
    loose_errors: bool = False  # errors are not the REST shape (MCP's JSON-RPC, A2A's)
    page: bool = False  # a page for a browser, or JSON when only that is accepted


class TeamQuery(msgspec.Struct):
    """`GET /rbac/my/permissions`'s query: the team to answer for (any team when not given)."""

    team_id: str | None = None


class OAuthCallbackQuery(msgspec.Struct):
    """What an authorization server adds to the redirect (RFC 6749, 4.1.2)."""

    state: str | None = None
    code: str | None = None
    error: str | None = None


class JsonRpc(msgspec.Struct):
    """A JSON-RPC 2.0 message, as MCP carries it (a batch is an array of these)."""

    jsonrpc: str
    method: str | None = None
    id: str | int | None = None
    params: dict[str, Any] | list[Any] | None = None


_RPC_BODY: dict[str, Any] = {
    "oneOf": [{"$ref": "#/components/schemas/JsonRpc"}, {"type": "array", "items": OBJECT}]
}
_MCP = "mcp"
_UNDESCRIBED = "undescribed"
_A2A = "a2a-server"
_HTML = "text/html"
_SSE = "text/event-stream"
_REDIRECT: dict[str, Any] = {}


def _mcp(summary: str, method: str) -> Doc:
    if method == "POST":
        return Doc(summary, _MCP, _RPC_BODY, ANY, errors=(202, 400, 404, 406), loose_errors=True)
    if method == "GET":
        return Doc(summary, _MCP, media=_SSE, response=ANY, errors=(405,), loose_errors=True)
    return Doc(summary, _MCP, response=ANY, errors=(404, 405), loose_errors=True)


# Forge as an A2A server (rest.a2a_server, rest.a2a_rest, rest.a2a_servers): every route under
# these is A2A's (JSON-RPC, HTTP+JSON, the agent card), with A2A's own error shapes.
_A2A_PREFIXES = ("/a2a/{agent}", "/servers/{server_id}/a2a")


def _a2a_doc(method: str, path: str) -> Doc | None:
    """An A2A endpoint route's Doc: a POST takes a JSON object, `:stream` and `:subscribe`
    answer a stream of events."""
    if not any(path == p or path.startswith(p + "/") for p in _A2A_PREFIXES):
        return None
    stream = path.endswith((":stream", ":subscribe"))
    name = path.rsplit("/", 1)[-1] or "JSON-RPC"
    return _a2a(f"A2A {name} ({method})", method == "POST", stream)


def _a2a(summary: str, body: bool = False, stream: bool = False) -> Doc:
    return Doc(
        summary,
        _A2A,
        OBJECT if body else None,
        ANY,
        media=_SSE if stream else JSON,
        optional_body=body,
        loose_errors=True,
        errors=(400, 502, 504),
    )


# Routes that are not one registry operation: (method, path without the /v1 prefix) → Doc.
OTHER: dict[tuple[str, str], Doc] = {
    ("GET", "/health"): Doc("Liveness", "ops", auth=False),
    ("GET", "/ready"): Doc("Readiness of the mesh", "ops", auth=False, errors=(503,)),
    ("GET", OPENAPI_PATH): Doc("This document", "ops"),
    **{
        (m, p): _mcp(f"MCP Streamable HTTP ({m})", m)
        for p in ("/mcp", "/mcp/", "/servers/{server_id}/mcp")
        for m in ("GET", "POST", "DELETE")
    },
    ("GET", "/sse"): Doc("Legacy MCP SSE stream", _MCP, media=_SSE, response=ANY),
    ("GET", "/servers/{server_id}/sse"): Doc(
        "Legacy MCP SSE stream of a virtual server", _MCP, media=_SSE, response=ANY
    ),
    ("POST", "/message"): Doc(
        "Legacy MCP message", _MCP, _RPC_BODY, ANY, 202, errors=(400, 404), loose_errors=True
    ),
    ("POST", "/servers/{server_id}/message"): Doc(
        "Legacy MCP message to a virtual server",
        _MCP,
        _RPC_BODY,
        ANY,
        202,
        errors=(400, 404),
        loose_errors=True,
    ),
    ("GET", "/.well-known/oauth-protected-resource"): Doc(
        "OAuth protected resource metadata (RFC 9728)", "auth", auth=False
    ),
    ("GET", "/.well-known/oauth-protected-resource/mcp"): Doc(
        "OAuth protected resource metadata of /mcp", "auth", auth=False
    ),
    ("GET", "/.well-known/oauth-protected-resource/servers/{server_id}/mcp"): Doc(
        "OAuth protected resource metadata of a virtual server", "auth", auth=False
    ),
    ("GET", "/rbac/permissions"): Doc("Every permission and its roles", "rbac"),
    ("GET", "/rbac/my/permissions"): Doc(
        "The caller's effective permissions",
        "rbac",
        response={"type": "array", "items": {"type": "string"}},
        query=TeamQuery,
        errors=(422,),
    ),
    ("POST", "/rbac/permissions/check"): Doc(
        "Whether a user holds a permission", "rbac", rbac.CheckBody, errors=(404, 422)
    ),
    ("GET", "/auth/sso/providers"): Doc("SSO providers", "auth", response=ARRAY, auth=False),
    ("GET", "/auth/sso/{provider}/login"): Doc(
        "Start an SSO sign-in", "auth", response=_REDIRECT, status=302, auth=False
    ),
    ("GET", "/auth/sso/{provider}/callback"): Doc(
        "SSO callback", "auth", response=_REDIRECT, status=302, auth=False, errors=(400, 401)
    ),
    ("POST", "/auth/login"): Doc(
        "Sign in with a password", "auth", ip.LoginParams, auth=False, errors=(401, 429)
    ),
    ("POST", "/auth/email/login"): Doc(
        "Sign in with a password", "auth", ip.LoginParams, auth=False, errors=(401, 429)
    ),
    ("POST", "/auth/email/register"): Doc(
        "Self-service sign-up", "auth", ip.RegisterParams, status=201, auth=False, errors=(403, 409)
    ),
    ("POST", "/auth/logout"): Doc("End the caller's session", "auth", errors=(400,)),
    ("POST", "/auth/email/logout"): Doc("End the caller's session", "auth", errors=(400,)),
    ("GET", "/plugins"): Doc("The plugins loaded, as the caller may see them", "plugins"),
    ("GET", "/gateways/{gateway_id}/oauth/authorize"): Doc(
        "Start an upstream's OAuth authorization", "gateways", response=_REDIRECT, status=302
    ),
    ("GET", "/oauth/callback"): Doc(
        "Upstream OAuth callback (the authorization server sends the browser here)",
        "gateways",
        response=ANY,
        auth=False,
        query=OAuthCallbackQuery,
        errors=(400, 401, 403, 404, 422, 502, 504),
        page=True,
    ),
    ("GET", "/metrics"): Doc("Metrics summary (ContextForge's JSON)", "metrics"),
    ("POST", "/metrics/reset"): Doc(
        "Reset metrics", "metrics", OBJECT, optional_body=True, errors=(422,)
    ),
}


def _registry_docs() -> dict[tuple[str, str], Doc]:
    """The Docs of the routes that are one registry operation, from their routes' own tables."""
    out: dict[tuple[str, str], Doc] = {}
    for spec in (*admin.OPS, *agents.OPS):
        key = ("catalog", spec.entity, spec.op)
        for method in spec.methods:
            out[(method, spec.path)] = _forwarded(
                spec.entity, method, key, spec.status, spec.body, spec.optional_body
            )
    for ispec in (*identity.ACCOUNT, *identity.VERSIONED):
        key = ("identity", ispec.entity, ispec.op)
        body = ispec.method in ("POST", "PUT", "PATCH")
        out[(ispec.method, ispec.path)] = _forwarded(
            ispec.entity, ispec.method, key, ispec.status, body, own=ispec.own
        )
    for pspec in plugins.OPS:
        key = ("catalog", plugins.ENTITY, pspec.op)
        body = pspec.method in ("POST", "PUT")
        out[(pspec.method, pspec.path)] = _forwarded(
            "plugins", pspec.method, key, pspec.status, body
        )
    return out


def _forwarded(
    tag: str,
    method: str,
    key: tuple[str, str, str],
    status: int,
    body: bool,
    optional_body: bool = False,
    own: bool = False,
) -> Doc:
    _, entity, op = key
    params = PARAMS.get(key, OBJECT)
    shape = VIEWS.get(entity) if op in _SHAPED else None
    if shape is None:
        response = ARRAY if op == "list" else OBJECT
    else:
        ref = {"$ref": f"#/components/schemas/{shape}"}
        response = {"type": "array", "items": ref} if op == "list" else ref
    # The registry checks every param it decodes (path parameters too): 422 when one is wrong.
    errors: tuple[int, ...] = (422, 409) if op in ("create", "update", "set", "grant") else (422,)
    return Doc(
        f"{entity}.{op}",
        tag,
        (params or OBJECT) if body else None,
        response,
        status,
        # `own` routes act on the caller: the params' `email` is never read from the request.
        query=params if not body and method == "GET" and not own else None,
        optional_body=optional_body,
        errors=(*errors, *((404,) if own else ())),
    )


def _view(struct: Any, hidden: tuple[str, ...] = (), **added: Any) -> dict[str, Any]:
    """The JSON Schema of a registry record as a route shows it: `hidden` members left out (a
    view drops them), `added` ones described."""
    _, components = msgspec.json.schema_components([struct])
    schema = dict(components[struct.__name__])
    properties = {k: v for k, v in schema["properties"].items() if k not in hidden}
    schema["properties"] = {**properties, **added}
    schema["required"] = [f for f in schema.get("required", []) if f not in hidden]
    schema.pop("title", None)
    rebased: dict[str, Any] = _rebase(schema)
    return rebased


def _flat(required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """A catalog entry flattened the ContextForge way (rest.admin's *_view): `required` members
    always there, `optional` ones there but possibly null, and the ownership ones."""
    nullable = {k: {"anyOf": [v, {"type": "null"}]} for k, v in optional.items()}
    return {
        "type": "object",
        "required": [*required, "gatewayId", "enabled", "annotations"],
        "properties": {
            **required,
            **nullable,
            "gatewayId": _STR,
            "enabled": {"type": "boolean"},
            "annotations": OBJECT,
            "createdAt": {"anyOf": [_STR, {"type": "null"}]},
            "updatedAt": {"anyOf": [_STR, {"type": "null"}]},
            "owner": {"anyOf": [_STR, {"type": "null"}]},
            "teamId": {"anyOf": [_STR, {"type": "null"}]},
            "visibility": {"anyOf": [_STR, {"type": "null"}]},
        },
    }


_STR: dict[str, Any] = {"type": "string"}
# The ops whose answer is the entity's record (a list of them for `list`).
_SHAPED = frozenset({"create", "list", "get", "update", "toggle"})
# entity → the component describing its record as the REST routes show it (rest.admin,
# rest.agents: no sealed credentials; `GET /{kind}/{id}` adds a `metrics` member).
VIEWS: dict[str, str] = {
    "gateways": "GatewayView",
    "servers": "ServerView",
    "agents": "AgentView",
    "tools": "ToolView",
    "resources": "ResourceView",
    "resource_templates": "TemplateView",
    "prompts": "PromptView",
}


def _view_components() -> dict[str, Any]:
    return {
        "GatewayView": _view(Gateway, ("auth",)),
        "ServerView": _view(Server),
        "AgentView": _view(Agent, ("auth",), endpoint_url=_STR),
        "ToolView": _flat(
            {"id": _STR, "name": _STR, "originalName": _STR, "inputSchema": OBJECT},
            {"title": _STR, "description": _STR, "outputSchema": OBJECT},
        ),
        "ResourceView": _flat(
            {"id": _STR, "uri": _STR, "name": _STR},
            {"title": _STR, "description": _STR, "mimeType": _STR, "size": {"type": "integer"}},
        ),
        "TemplateView": _flat(
            {"id": _STR, "uriTemplate": _STR, "name": _STR},
            {"title": _STR, "description": _STR, "mimeType": _STR},
        ),
        "PromptView": _flat(
            {"id": _STR, "name": _STR, "originalName": _STR, "arguments": ARRAY},
            {"title": _STR, "description": _STR},
        ),
    }


class Generator:
    """Builds the document from an app's routes (once: the routes do not change)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes
        self.docs = {**_registry_docs(), **OTHER}
        self.types: list[Any] = [JsonRpc]
        self.missing: list[tuple[str, str]] = []
        self.extra: dict[str, Any] = {}  # body schemas that are a params type less its path

    def doc_of(self, method: str, path: str) -> Doc | None:
        bare = path.removeprefix(_VERSIONED) if path.startswith(_VERSIONED + "/") else path
        return self.docs.get((method, bare)) or _a2a_doc(method, bare)

    def build(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        keys: dict[str, str] = {}  # a path's shape (parameter names left out) → its key
        sockets: list[dict[str, Any]] = []
        for route in self.routes:
            if isinstance(route, WebSocketRoute):
                sockets.append({"path": route.path, "summary": "MCP over WebSocket"})
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    doc = self.doc_of(method, route.path)
                    if doc is None:
                        self.missing.append((method, route.path))
                        doc = Doc("(not described)", _UNDESCRIBED, ANY, ANY, loose_errors=True)
                    # OpenAPI allows one path per shape: `/a2a/{agent}` (POST) joins `/a2a/{id}`
                    # under the first one's parameter names, its own route named beside it.
                    key = keys.setdefault(_PARAM.sub("{}", route.path), route.path)
                    operation = self.operation(method, route, doc, _PARAM.findall(key))
                    if key != route.path:
                        operation["x-forge-route"] = route.path
                    if doc.tag == _UNDESCRIBED:
                        operation["x-forge-undescribed"] = True
                    paths.setdefault(key, {})[method.lower()] = operation
        schemas = self.components()
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Forge edge",
                "version": "1",
                "description": "The REST API, MCP and A2A endpoints of the Forge edge.",
            },
            "security": [{"bearer": []}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                "responses": {"Error": _error_response("An error")},
            },
            "x-forge-websockets": sockets,
        }

    def components(self) -> dict[str, Any]:
        _, components = msgspec.json.schema_components(
            self.types, ref_template="#/components/schemas/{name}"
        )
        components["Error"] = ERROR_SCHEMA
        return {**components, **_view_components()}

    def schema(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.types.append(value)
        return {"$ref": f"#/components/schemas/{value.__name__}"}

    def operation(self, method: str, route: Route, doc: Doc, names: list[str]) -> dict[str, Any]:
        path_names = list(route.param_convertors)
        op: dict[str, Any] = {
            "operationId": f"{method.lower()} {route.path}",
            "summary": doc.summary,
            "tags": [doc.tag],
        }
        if not doc.auth:
            op["security"] = []
        parameters = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
        if doc.query is not None:
            parameters += self.query(doc.query, set(path_names))
        if parameters:
            op["parameters"] = parameters
        if doc.body is not None:
            op["requestBody"] = {
                "required": not doc.optional_body,
                "content": {JSON: {"schema": self.body(doc.body, set(path_names))}},
            }
        op["responses"] = self.responses(doc, bool(path_names))
        return op

    def body(self, body: Any, path_names: set[str]) -> dict[str, Any]:
        """A request body's schema; a field that is a path parameter too is never required (the
        path's value wins over the body's)."""
        if isinstance(body, dict) or not path_names & set(_fields(body)):
            return self.schema(body)
        self.types.append(body)
        _, components = msgspec.json.schema_components([body])
        own = dict(components[body.__name__])
        own["required"] = [f for f in own.get("required", []) if f not in path_names]
        title = f"{body.__name__}Body"
        self.extra[title] = _rebase(own)
        return {"$ref": f"#/components/schemas/{title}"}

    def query(self, struct: Any, path_names: set[str]) -> list[dict[str, Any]]:
        if isinstance(struct, dict):
            return []
        _, components = msgspec.json.schema_components([struct])
        own = components[struct.__name__]
        required = set(own.get("required", []))
        out = []
        for name, prop in own.get("properties", {}).items():
            if name in path_names:
                continue
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _scalar(prop),
                }
            )
        return out

    def responses(self, doc: Doc, has_path: bool) -> dict[str, Any]:
        success: dict[str, Any] = {"description": doc.summary}
        if doc.status == 302:
            success["headers"] = {"Location": {"schema": {"type": "string"}}}
        elif doc.page:
            success["content"] = _PAGE
        elif doc.status != 204:
            success["content"] = {doc.media: {"schema": self.schema(doc.response)}}
        out: dict[str, Any] = {str(doc.status): success}
        # The request line and headers are checked before any route (forge.edge.inputs): a
        # control character or invalid UTF-8 in the path, the query or a header is a 400.
        errors = set(doc.errors) | {400}
        if doc.auth:
            errors |= {401, 403}
        if has_path and doc.params_from_path:
            errors.add(404)
        if doc.body is not None:
            errors |= {400, 408, 413, 422}
        if doc.query is not None:
            errors.add(422)
        for status in sorted(errors - {doc.status}):
            if status < 400:
                out[str(status)] = {"description": "Accepted", "content": {JSON: {"schema": ANY}}}
            elif doc.page:
                out[str(status)] = {"description": "An error", "content": _PAGE_ERROR}
            elif doc.loose_errors:
                out[str(status)] = {"description": "An error", "content": {JSON: {"schema": ANY}}}
            else:
                out[str(status)] = {"$ref": "#/components/responses/Error"}
        return out


def _fields(struct: Any) -> tuple[str, ...]:
    return tuple(getattr(struct, "__struct_fields__", ()))


def _rebase(schema: Any) -> Any:
    """`schema` with msgspec's default `#/$defs/` references pointed at the components."""
    if isinstance(schema, dict):
        return {
            k: (
                v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _rebase(v)
            )
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _scalar(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: its scalar type (a list or object is sent as a string)."""
    kinds = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
    for kind in ("integer", "boolean", "number"):
        if kind in kinds:
            return {"type": kind}
    return {"type": "string"}


_PAGE: dict[str, Any] = {
    _HTML: {"schema": {"type": "string"}},
    JSON: {
        "schema": {
            "type": "object",
            "required": ["authorized", "detail"],
            "properties": {
                "authorized": {"type": "boolean"},
                "detail": {"type": "string"},
                "code": {"type": "integer"},
            },
        }
    },
}
# A page route's error: its page (or JSON), or the REST error of a request refused before it.
_PAGE_ERROR: dict[str, Any] = {
    _HTML: {"schema": {"type": "string"}},
    JSON: {
        "schema": {
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"type": "string"}, "code": {"type": "integer"}},
        }
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "integer"},
        "data": {},
    },
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of `routes`."""
    generator = Generator(routes)
    doc = generator.build()
    doc["components"]["schemas"].update(generator.extra)
    return doc


def undescribed(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """The (method, path) of every route that neither a route table nor OTHER describes."""
    generator = Generator(routes)
    generator.build()
    return generator.missing


def route(edge: Edge, routes: list[BaseRoute]) -> Route:
    """`GET /openapi.json` for the app whose route table is `routes` (this route included)."""
    cached: list[bytes] = []

    async def openapi(request: Request) -> Response:
        if not edge.config.openapi_public:
            await guard.rest_principal(edge, request, None)
        if not cached:
            cached.append(msgspec.json.encode(document(routes)))
        return Response(cached[0], 200, media_type=JSON)

    return Route(OPENAPI_PATH, openapi, methods=["GET"])
