"""Starting a command with the least privilege the platform gives: the one launcher of every
process Forge starts for someone else (stdio gateways, `forge translate --stdio`).

A launched child gets: no shell and no PATH search (argv[0] is an absolute path, see
forge.core.commands); the account `user` when we run as root (supplementary groups dropped);
PR_SET_NO_NEW_PRIVS (setuid binaries and file capabilities grant it nothing); resource limits; a
private working directory of its own, also its HOME and TMPDIR, removed when it ends; umask 077;
its own session and process group; SIGKILL when its parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
# Account names that mean "keep the launcher's own account" (only a choice where nothing else
# on the host is at stake, e.g. a throwaway CI container).
KEEP_ACCOUNT = frozenset({"", "root", "0"})


def _load_prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None
    return prctl


_PRCTL = _load_prctl()


class Limits(NamedTuple):
    """Resource limits of each child; 0 leaves that limit as the launcher's own."""

    memory_mb: int = 4096  # address space (RLIMIT_AS)
    # Processes and threads of the child's account (RLIMIT_NPROC): it counts every process of
    # that account, so it is set only when children run as an account of their own.
    processes: int = 512
    open_files: int = 1024  # RLIMIT_NOFILE
    cpu_s: int = 3600  # CPU seconds before SIGXCPU ends the child (RLIMIT_CPU)


class LimitSettings(Protocol):
    """The `FORGE_STDIO_MAX_*` settings, as every config struct that reads them names them."""

    @property
    def stdio_max_memory_mb(self) -> int: ...
    @property
    def stdio_max_processes(self) -> int: ...
    @property
    def stdio_max_open_files(self) -> int: ...
    @property
    def stdio_max_cpu_s(self) -> int: ...


def limits_of(settings: LimitSettings) -> Limits:
    """The children's limits from the shared settings (upstream-proxy and `forge translate`)."""
    return Limits(
        memory_mb=settings.stdio_max_memory_mb,
        processes=settings.stdio_max_processes,
        open_files=settings.stdio_max_open_files,
        cpu_s=settings.stdio_max_cpu_s,
    )


class Account(NamedTuple):
    uid: int
    gid: int


def account(user: str) -> Account | None:
    """The account children switch to: None when we are not root (we cannot switch) or `user`
    says to keep ours. `user` is a name, a uid, or `uid:gid` (no passwd entry needed).
    ValueError for an unknown name (a start-up error)."""
    if os.geteuid() != 0 or user in KEEP_ACCOUNT:
        return None
    uid_text, _, gid_text = user.partition(":")
    if uid_text.isdigit():
        uid = int(uid_text)
        gid = int(gid_text) if gid_text.isdigit() else uid
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ValueError(f"no account named {user!r} to run children as") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0:
        return None
    return Account(uid, gid)


def account_name(account: Account | None) -> str:
    """The account a child runs as, as an operator reads it: its name, or its uid without one
    (None: the launcher's own account)."""
    uid = os.geteuid() if account is None else account.uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _rlimits(limits: Limits, switched: bool) -> list[tuple[int, int]]:
    """(resource, value) pairs, each no higher than our own hard limit (a child may only lower)."""
    wanted = [
        (resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024),
        (resource.RLIMIT_NPROC, limits.processes if switched else 0),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CPU, limits.cpu_s),
    ]
    out = [(resource.RLIMIT_CORE, 0)]  # a core dump would hold the child's secrets
    for kind, value in wanted:
        if value > 0:
            hard = resource.getrlimit(kind)[1]
            out.append((kind, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return out


class Launch:
    """One launch of one command: its working directory and the keyword arguments of
    `subprocess.Popen` / `asyncio.create_subprocess_exec` that apply everything above.

    `cleanup()` removes the working directory; call it once the child has exited.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        account: Account | None,
        limits: Limits,
        parent_death: signal.Signals = signal.SIGKILL,
    ) -> None:
        self.argv = list(argv)
        self.account = account
        self.workdir = tempfile.mkdtemp(prefix="forge-child-")
        if account is not None:
            os.chown(self.workdir, account.uid, account.gid)
        # Its own HOME and TMPDIR: never the launcher's (whose files it must not see or leave
        # things in); the command's own variables may still name others.
        self.env = {"HOME": self.workdir, "TMPDIR": self.workdir, **env}
        self._rlimits = _rlimits(limits, account is not None)
        self._parent = os.getpid()
        self._parent_death = parent_death

    def _preexec(self) -> None:
        # Runs in the child between fork and exec (uvloop's subprocess_exec knows no `user`,
        # `group` or `umask`, so the switch of account is done here, for either event loop).
        os.umask(0o077)
        if self.account is not None:
            os.setgroups([])  # none of root's supplementary groups
            os.setresgid(self.account.gid, self.account.gid, self.account.gid)
            os.setresuid(self.account.uid, self.account.uid, self.account.uid)
        if _PRCTL is not None:
            if _PRCTL(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
            # After the switch, which clears a parent-death signal set before it.
            _PRCTL(_PR_SET_PDEATHSIG, int(self._parent_death), 0, 0, 0)
            if os.getppid() != self._parent:  # the parent died before prctl
                os.kill(os.getpid(), self._parent_death)
        for kind, value in self._rlimits:
            resource.setrlimit(kind, (value, value))

    def popen_args(self) -> dict[str, Any]:
        """Keyword arguments for Popen or create_subprocess_exec (with `*self.argv`), under
        asyncio's own loop or uvloop."""
        return {
            "env": self.env,
            "cwd": self.workdir,
            "start_new_session": True,  # its own process group, killed as one
            "close_fds": True,
            "preexec_fn": self._preexec,
        }

    def cleanup(self) -> None:
        # rmtree does not follow symlinks the child may have left (fd-based on Linux).
        shutil.rmtree(self.workdir, ignore_errors=True)


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a launched child's whole process group, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
