"""The launcher: a child's account, no new privileges, limits, working directory, environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from forge.core import launch
from forge.core.launch import Account, Launch, Limits

# What the child reports about itself, one fact per line.
PROBE = (
    "id -u; id -g; id -G; pwd; grep NoNewPrivs /proc/self/status | tr -d '\\t';"
    " ulimit -n; ulimit -v; ulimit -t; echo \"$HOME\"; env | sort | tr '\\n' ' '; echo;"
    " ps -o pgid= -p $$ | tr -d ' '; echo $$"
)
SH = "/bin/sh"


def run(account: Account | None, limits: Limits, env: dict[str, str]) -> tuple[list[str], str]:
    """The probe's lines, and the working directory it had (removed by then)."""
    started = Launch([SH, "-c", PROBE], env, account, limits)
    try:
        done = subprocess.run(
            started.argv, capture_output=True, check=True, timeout=20, **started.popen_args()
        )
    finally:
        started.cleanup()
    return done.stdout.decode().splitlines(), started.workdir


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")


@root_only
def test_as_root_a_child_runs_as_the_unprivileged_account_without_new_privileges() -> None:
    nobody = launch.account("nobody")
    assert nobody is not None
    limits = Limits(memory_mb=512, processes=64, open_files=64, cpu_s=30)
    lines, workdir = run(nobody, limits, {"PATH": os.environ["PATH"], "GIVEN": "yes"})
    uid, gid, groups, cwd, nnp, files, memory, cpu, home, env, pgid, pid = lines
    assert (int(uid), int(gid)) == (nobody.uid, nobody.gid)
    assert groups.split() == [str(nobody.gid)]  # root's supplementary groups are gone
    assert cwd == workdir and home == workdir
    assert nnp == "NoNewPrivs:1"
    assert (files, memory, cpu) == ("64", str(512 * 1024), "30")
    assert "GIVEN=yes" in env.split() and not any(v.startswith("FORGE_") for v in env.split())
    assert pgid == pid  # a process group of its own
    assert not Path(workdir).exists()


@root_only
def test_a_numeric_account_needs_no_passwd_entry() -> None:
    assert launch.account("64999:64998") == Account(64999, 64998)
    lines, _ = run(Account(64999, 64998), Limits(), {"PATH": os.environ["PATH"]})
    assert lines[:2] == ["64999", "64998"]


@root_only
def test_an_account_the_system_does_not_know_is_a_setting_error() -> None:
    with pytest.raises(ValueError):
        launch.account("no-such-forge-account")


@pytest.mark.parametrize("user", ["", "root", "0"])
def test_keeping_the_launchers_own_account_is_explicit(user: str) -> None:
    assert launch.account(user) is None


def test_without_a_switch_the_child_still_gets_no_new_privileges_and_limits() -> None:
    lines, workdir = run(None, Limits(open_files=100, cpu_s=0), {"PATH": os.environ["PATH"]})
    assert int(lines[0]) == os.geteuid()
    assert lines[4] == "NoNewPrivs:1"
    assert lines[5] == "100"
    assert lines[3] == workdir


def test_the_working_directory_is_private_and_goes_with_cleanup() -> None:
    started = Launch([SH], {}, None, Limits())
    mode = Path(started.workdir).stat().st_mode & 0o777
    started.cleanup()
    assert mode == 0o700
    assert not Path(started.workdir).exists()
