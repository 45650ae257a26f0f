"""`forge nats-config` prints the services' NATS users as forge.core.permissions has them."""

from __future__ import annotations

import json

import pytest

from forge.cli.main import main
from forge.core import permissions


def test_it_prints_the_authorization_block_without_any_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["nats-config"]) == 0
    printed = capsys.readouterr().out
    assert printed == permissions.nats_config()
    for user in permissions.SERVICES:
        assert f"password: ${permissions.env_password(user)}," in printed


def test_it_prints_the_table_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nats-config", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table == {user: permissions.permissions(user) for user in permissions.SERVICES}
    assert "forge.registry.identity.>" not in table["upstream_proxy"]["publish"]["allow"]
