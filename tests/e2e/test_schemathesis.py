"""schemathesis against the edge's own `GET /openapi.json`, on the running mesh: every REST
operation gets generated requests (derandomized, a few per operation, valid ones and invalid
ones), and each answer must not
be a server error and must match the document (status code, content type, body schema).

Left out: the MCP transports (tests/e2e/test_jsonrpc_fuzz.py fuzzes them; `GET /sse` is a stream
that never ends), the `/v1` copies of the routes and `/auth/email/login` (the same handlers as
others), logout (it would revoke the token the run uses) and `POST /metrics/reset` (it would
reset what other tests measure). The run uses an admin token of its own; what it creates has
random names no other test uses.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint

# Per operation, valid data then invalid data: ~100 operations in all. (An operation with
# nothing to vary gets one request.)
EXAMPLES = {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 1}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]
# /auth/email/login is /auth/login's handler (a password hash each: slow on purpose).
SKIPPED = ("/auth/logout", "/auth/email/logout", "/metrics/reset", "/auth/email/login")


def fuzzed(operation: Any) -> bool:
    path = operation.path
    return not (
        "mcp" in operation.tags
        or path.startswith("/v1/")
        or path in SKIPPED
        or path.startswith("/.well-known/oauth-protected-resource/servers")  # any id: 200
    )


def operation_of(result: Any) -> Any:
    """An operation of the loaded schema; an Err (a part schemathesis cannot load) fails."""
    assert isinstance(result, Ok), result
    return result.ok()


def varies(operation: Any, document: dict[str, Any]) -> bool:
    described = document["paths"][operation.path][operation.method.lower()]
    return "requestBody" in described


@pytest.fixture(scope="module")
def document(mesh: Mesh) -> dict[str, Any]:
    token = mint(mesh.secret, "admin@forge.local", admin=True)
    answer = httpx.get(
        mesh.url + "/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
def test_every_rest_operation_answers_per_the_document(
    mesh: Mesh, document: dict[str, Any], demo: dict[str, Any], mode: GenerationMode
) -> None:
    """Valid data, then invalid data (each its own test: half the time each). With the demo
    gateway registered: the lists' records are checked against their views."""
    schema = schemathesis.openapi.from_dict(document)
    operations = [operation_of(r) for r in schema.get_all_operations()]
    chosen = [op for op in operations if fuzzed(op)]
    assert len(chosen) > 80, len(chosen)
    token = mint(mesh.secret, "admin@forge.local", admin=True)  # its own: nobody revokes it
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    tried: dict[str, int] = {}

    def fuzz(operation: Any) -> None:
        @settings(
            max_examples=EXAMPLES[mode],
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(operation.as_strategy(generation_mode=mode))
            response = case.call(base_url=mesh.url, headers=headers, timeout=30)
            tried[operation.label] = tried.get(operation.label, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as exc:  # recorded: every operation runs, all shown at the end
                failures.append(f"{operation.label}: {str(exc)[:1500]}")

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing in it can be invalid

    for operation in chosen:
        fuzz(operation)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
    # Every operation got its requests; with invalid data, at least each that takes a body (a
    # string path parameter, say, cannot be invalid).
    expected = {
        op.label for op in chosen if mode == GenerationMode.POSITIVE or varies(op, document)
    }
    assert expected <= set(tried), expected - set(tried)
