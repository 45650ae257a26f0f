"""The edge's `/ready` asks the a2a-bridge too (`forge.a2a.health`), so `forge up` waits for it:
with no bridge running the mesh is not ready and says which service is missing; once a bridge
serves again, it is."""

from __future__ import annotations

import httpx

from forge.cli.mesh import Mesh, stop_process
from forge.testing import eventually_sync


def _ready(mesh: Mesh) -> httpx.Response:
    return httpx.get(mesh.url + "/ready", timeout=10)


def test_ready_reports_the_a2a_bridge_and_waits_for_it(mesh: Mesh) -> None:
    answer = _ready(mesh)
    assert answer.status_code == 200, answer.text
    assert answer.json()["services"]["a2a_bridge"] == "ok"
    stop_process(mesh.procs.pop("a2a_bridge"))
    try:
        down = _ready(mesh)
        assert down.status_code == 503, down.text
        services = down.json()["services"]
        assert services["a2a_bridge"] != "ok"
        assert {name for name, said in services.items() if said != "ok"} == {"a2a_bridge"}
    finally:
        mesh.start_service("a2a_bridge")

    def ready_again() -> httpx.Response | None:
        answer = _ready(mesh)
        return answer if answer.status_code == 200 else None

    back = eventually_sync(
        ready_again,
        within_s=30,
        every_s=0.2,
        what="the mesh is ready again with a new a2a-bridge",
    )
    assert back.json()["services"]["a2a_bridge"] == "ok"
