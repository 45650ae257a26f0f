"""Child-process plumbing shared by the embedded servers and `forge up`: die-with-parent, ports,
log tails, stopping."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
TAIL_CHARS = 3000


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):  # not Linux: children rely on stop() alone
        return None
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that makes the child get `sig` when this process exits, or None if unsupported.

    The kernel sends the signal when the *thread* that forked exits, so it is only armed when
    forking from the main thread. CPython runs preexec_fn after setuid, so it survives the switch
    to an unprivileged user.
    """
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl = _PRCTL
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os.kill(os.getpid(), sig)

    return preexec


# Below Linux's ephemeral range (32768-60999 by default), where the kernel picks the source
# ports of outgoing connections: a port chosen there and bound seconds later by a child was, now
# and then, taken meanwhile by one of the mesh's own connections (EADDRINUSE at start).
_PORTS = (20000, 32767)


# Ports handed out by this process: a mesh picks a dozen before its children bind any, so a
# port free a moment ago may already be promised to another of them (EADDRINUSE at start).
_GIVEN: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range, and not
    handed out before by this process (until half the range has been)."""
    if len(_GIVEN) > (_PORTS[1] - _PORTS[0]) // 2:
        _GIVEN.clear()
    for _ in range(200):
        port = random.randint(*_PORTS)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as s:  # the range is full: any free port, as before
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen


def tail(path: Path, chars: int = TAIL_CHARS) -> str:
    """The end of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log written)"


def clean_env() -> dict[str, str]:
    """This process's environment without PG* variables, in the C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def stop_process(
    proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float, *, group: bool = False
) -> None:
    """Send `sig` (to the child's whole process group with `group`), wait, then SIGKILL the
    group if it is still there."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)  # the child leads its own session: group id == pid
        else:
            proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        # The child leads its own session, so its process group id is its pid.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
