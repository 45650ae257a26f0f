"""The operator's allow list of commands: parsing and matching."""

from __future__ import annotations

import pytest

from forge.core.commands import CommandNotAllowedError, check, check_env_names, parse
from forge.core.errors import FORBIDDEN

PYTHON = "/opt/venv/bin/python"
ALLOWED = f"""
{PYTHON} -m my_server ...
/usr/local/bin/mcp-git --repository /srv/repos/*; /usr/bin/anything
"""


@pytest.mark.parametrize(
    "command",
    [
        [PYTHON, "-m", "my_server"],
        [PYTHON, "-m", "my_server", "--port", "0"],
        ["/usr/local/bin/mcp-git", "--repository", "/srv/repos/forge"],
        ["/usr/bin/anything", "-c", "whatever"],
        ["/usr/bin/anything"],
    ],
)
def test_a_command_an_entry_admits_passes(command: list[str]) -> None:
    check(ALLOWED, command)


@pytest.mark.parametrize(
    "command",
    [
        [PYTHON, "-c", "import os; os.system('id')"],  # the interpreter, other arguments
        [PYTHON, "-m"],  # fewer arguments than the patterns
        ["/usr/local/bin/mcp-git", "--repository", "/etc"],
        ["/usr/local/bin/mcp-git", "--repository", "/srv/repos/x", "--extra"],  # no `...`
        ["/bin/sh", "-c", "id"],  # not listed at all
        ["python", "-m", "my_server"],  # a bare name would be a PATH search
        ["/opt/venv/bin/../bin/python", "-m", "my_server"],  # not normalised
        ["//usr/bin/anything"],
        ["/usr/bin/./anything"],
        [],
    ],
)
def test_a_command_no_entry_admits_is_refused_with_403(command: list[str]) -> None:
    with pytest.raises(CommandNotAllowedError) as refused:
        check(ALLOWED, command)
    assert refused.value.code == FORBIDDEN
    assert refused.value.data == {"field": "command"}


def test_an_empty_allow_list_admits_nothing() -> None:
    with pytest.raises(CommandNotAllowedError):
        check("", ["/usr/bin/anything"])
    with pytest.raises(CommandNotAllowedError):
        check(" ; \n ", ["/usr/bin/anything"])


@pytest.mark.parametrize("entry", ["python -m x", "./server", "/usr/bin/../bin/x", "/a//b"])
def test_an_entry_that_is_not_an_absolute_normalised_path_is_a_setting_error(entry: str) -> None:
    with pytest.raises(ValueError):
        parse(entry)


@pytest.mark.parametrize(
    "name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "PYTHONSTARTUP",
             "PYTHONPATH", "NODE_OPTIONS", "BASH_ENV", "PERL5OPT"],
)  # fmt: skip
def test_variables_that_load_other_code_are_refused(name: str) -> None:
    with pytest.raises(CommandNotAllowedError) as refused:
        check_env_names(["API_KEY", name])
    assert refused.value.data == {"field": "env"}


def test_ordinary_variables_pass() -> None:
    check(ALLOWED, ["/usr/bin/anything"], ["API_KEY", "MODE", "PYTHONUNBUFFERED"])
