"""How the edge answers errors: the REST API's one exception handler, and MCP's status per era
as docs/errors.md states it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import msgspec
import pytest
from edge_harness import client

from forge.core.errors import (
    ConflictError,
    InvalidRequestError,
    TooManyRequestsError,
    UnauthorizedError,
)
from forge.edge.app import build_edge
from forge.edge.auth.guard import ChallengeError
from forge.edge.config import EdgeConfig
from forge.edge.inputs import BodyTimeoutError
from forge.edge.rest import errors
from forge.edge.state import Edge
from forge.edge.transports.mcp_http import answer_status, status_of
from forge.testing.membus import MemoryBus

EDGE_SRC = Path(__file__).resolve().parents[1] / "src" / "forge" / "edge"
ERRORS_DOC = Path(__file__).resolve().parents[3] / "docs" / "errors.md"
# The only routes that catch a ForgeError themselves: an SSO callback spends its cookie whatever
# happened, and the upstream OAuth callback answers a person's browser with a page.
OWN_ANSWERS = {("rest/sso.py", "callback"), ("rest/upstream_oauth.py", "callback")}
REST_MODULES = (
    "rest/admin.py",
    "rest/identity.py",
    "rest/rbac.py",
    "rest/plugins.py",
    "rest/upstream_oauth.py",
    "rest/sso.py",
)


@pytest.fixture
def edge() -> Edge:
    return build_edge(EdgeConfig(jwt_secret="s" * 40), MemoryBus())


def test_a_rest_error_is_detail_code_and_data_with_its_class_status(edge: Edge) -> None:
    answer = errors.response(edge, ConflictError("taken", {"field": "name"}))
    assert answer.status_code == 409
    assert msgspec.json.decode(bytes(answer.body)) == {
        "detail": "taken",
        "code": -32007,
        "data": {"field": "name"},
    }
    assert "www-authenticate" not in answer.headers


def test_every_401_says_how_to_authenticate(edge: Edge) -> None:
    guarded = errors.response(edge, ChallengeError("expired", 'Bearer realm="x"'))
    assert guarded.headers["www-authenticate"] == 'Bearer realm="x"'
    refused = errors.response(edge, UnauthorizedError("invalid email or password"))
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="forge", resource_metadata="')


def test_a_throttled_sign_in_says_when_to_come_back(edge: Edge) -> None:
    answer = errors.response(edge, TooManyRequestsError("slow down", {"retry_after_s": 7}))
    assert (answer.status_code, answer.headers["retry-after"]) == (429, "7")


async def test_a_route_that_raises_is_answered_by_the_apps_handler(edge: Edge) -> None:
    async with client(edge) as http:
        login = await http.post("/auth/login", content=b"{not json")
        plugins = await http.get("/plugins")
    assert login.status_code == 400 and login.json()["code"] == -32600
    assert plugins.status_code == 401 and plugins.json()["code"] == -32004
    assert "resource_metadata" in plugins.headers["www-authenticate"]


def _catchers(module: str) -> set[tuple[str, str]]:
    """(module, innermost function) of every `except` clause that names ForgeError."""
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.ExceptHandler) and child.type is not None:
                if "ForgeError" in ast.unparse(child.type):
                    found.add((module, function))
            visit(child, function)

    visit(ast.parse((EDGE_SRC / module).read_text()), "<module>")
    return found


def test_rest_routes_leave_their_errors_to_the_one_handler() -> None:
    caught = set().union(*(_catchers(module) for module in REST_MODULES))
    assert caught == OWN_ANSWERS


def _misstated(text: str) -> list[tuple[int, str]]:
    """(code, stated status) of each row of the doc's MCP table where the edge answers otherwise.
    Rows naming no single code, an era's "—" and 405 (a verb the path refuses) are skipped."""
    section = text[text.index("## MCP endpoints") :]
    section = section[: section.index("\n\n", section.index("| situation"))]
    wrong, checked = [], 0
    for line in section.splitlines()[3:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not re.fullmatch(r"-\d+", cells[-1]):
            continue
        code = int(cells[-1])
        for modern, stated in ((True, cells[-3]), (False, cells[-2])):
            status = re.match(r"\d{3}", stated)
            if status is None or status.group() == "405":
                continue
            checked += 1
            answered = status_of(code, modern)
            if "did not arrive" in cells[0]:  # the one row answered by its class, not its code
                answered = answer_status(BodyTimeoutError("late"), modern)
            if answered != int(status.group()):
                wrong.append((code, stated))
    assert checked > 30, "the doc's MCP table lost its rows"
    return wrong


def test_the_doc_states_the_mcp_status_the_edge_answers_each_code_with() -> None:
    assert _misstated(ERRORS_DOC.read_text()) == []


def test_a_misstated_status_in_the_doc_is_caught() -> None:
    text = ERRORS_DOC.read_text()
    broken = text.replace("| 413 | 413 | -32008 |", "| 200 | 413 | -32008 |")
    assert broken != text
    assert _misstated(broken) == [(-32008, "200")]


@pytest.mark.parametrize("modern", [True, False])
def test_a_body_that_never_arrived_is_408_on_mcp_as_on_rest(modern: bool) -> None:
    late = BodyTimeoutError("late")
    assert answer_status(late, modern) == late.http_status == 408
    assert answer_status(InvalidRequestError("bad"), modern) == 400  # its code's status
