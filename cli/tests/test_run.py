"""`forge run <service>`, the image's entrypoint: each service by its name with `_` or `-`, the
rest of the command line passed on; an unknown name is refused before anything starts."""

from __future__ import annotations

import runpy
import sys
from typing import Any

import pytest

from forge.cli import main as cli
from forge.cli.mesh import SERVICES


@pytest.mark.parametrize("name", [*SERVICES, *(s.replace("_", "-") for s in SERVICES)])
def test_each_service_runs_its_module_by_either_name(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, list[str]]] = []

    def run_module(module: str, **kwargs: Any) -> None:
        ran.append((module, list(sys.argv)))

    monkeypatch.setattr(runpy, "run_module", run_module)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert cli.main(["run", name, "migrate"]) == 0
    module = "forge." + name.replace("-", "_")
    assert ran == [(module, [module, "migrate"])]


def test_an_unknown_service_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "gateway"])
    assert exited.value.code == 2
    assert "invalid choice: 'gateway'" in capsys.readouterr().err
