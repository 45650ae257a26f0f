"""What `forge translate --stdio` will start, and with which environment."""

from __future__ import annotations

import shutil
import sys

import pytest

from forge.cli import launching
from forge.cli.demo import demo_commands
from forge.core import commands


def settings(**values: str) -> launching.LaunchConfig:
    return launching.load({f"FORGE_{k.upper()}": v for k, v in values.items()})


def test_a_command_line_is_split_without_a_shell_and_its_executable_looked_up_once() -> None:
    argv = launching.resolve("sh -c 'echo $HOME; id'", settings())
    assert argv == [shutil.which("sh"), "-c", "echo $HOME; id"]


def test_with_no_allow_list_the_operators_own_command_is_allowed() -> None:
    assert launching.resolve(f"{sys.executable} -V", settings())[1:] == ["-V"]


def test_a_set_allow_list_holds_for_translate_too() -> None:
    allowed = settings(stdio_allowed_commands=f"{sys.executable} -m forge.servers.demo ...")
    assert launching.resolve(f"{sys.executable} -m forge.servers.demo", allowed)
    with pytest.raises(launching.CommandError):
        launching.resolve("/bin/sh -c id", allowed)


@pytest.mark.parametrize("command", ["", "   ", "no-such-forge-executable-x", "'unclosed"])
def test_a_command_that_cannot_be_started_is_refused(command: str) -> None:
    with pytest.raises(launching.CommandError):
        launching.resolve(command, settings())


def test_the_child_never_gets_forges_own_settings() -> None:
    env = launching.child_env({"PATH": "/bin", "FORGE_JWT_SECRET": "x", "API_KEY": "k"})
    assert env == {"PATH": "/bin", "API_KEY": "k"}


def test_forge_up_demo_allows_the_demo_server_over_stdio_and_nothing_else() -> None:
    rules = commands.parse(demo_commands())
    commands.check_command(
        rules, [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
    )
    with pytest.raises(commands.CommandNotAllowedError):
        commands.check_command(rules, [sys.executable, "-c", "print(1)"])


@pytest.mark.parametrize(
    "more",
    [
        ["--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8765"],  # red team F7
        ["--env-tool"],
        ["--transport", "sse"],
    ],
)
def test_forge_up_demo_refuses_the_demo_server_with_arguments_of_its_own(more: list[str]) -> None:
    rules = commands.parse(demo_commands())
    demo = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
    with pytest.raises(commands.CommandNotAllowedError):
        commands.check_command(rules, [*demo, *more])


def test_forge_up_starts_sample_servers_without_its_own_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forge.cli.demo import sample_env

    monkeypatch.setenv("FORGE_JWT_SECRET", "not-for-the-demo")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nor-this")
    assert set(sample_env()) <= {"PATH", "LANG"}
