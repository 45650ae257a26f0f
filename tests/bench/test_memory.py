"""bench/memory.py's figures: shared pages count once per process in summed RSS, once in all in
the unique figure, and are divided among the sharers in PSS."""

from __future__ import annotations

import mmap
import os
import signal

from bench import memory

SHARED = 32 * 2**20


def _parent_and_child(ready: int) -> None:
    """In a fresh process: a shared region touched, then a child sharing it; both wait."""
    region = mmap.mmap(-1, SHARED, flags=mmap.MAP_SHARED)
    region.write(b"x" * SHARED)  # every page resident before the fork, shared after it
    child = os.fork()
    if child == 0:
        assert region[SHARED - 1] == ord("x")
    os.write(ready, f"{child}\n".encode() if child else b"")
    signal.pause()
    os._exit(0)


def test_a_page_shared_by_two_processes_counts_twice_in_rss_once_in_unique_and_pss() -> None:
    ready_r, ready_w = os.pipe()
    parent = os.fork()
    if parent == 0:
        os.close(ready_r)
        _parent_and_child(ready_w)
    os.close(ready_w)
    try:
        child = int(os.read(ready_r, 64).split()[0])
        # The parent's tree holds the child; the child's tree only itself.
        alone = memory.trees({"child": child})["child"]
        shared_mib = SHARED / 2**20
        assert alone["processes"] == 1 and alone["rss_mib"] >= shared_mib
        assert alone["pss_mib"] < alone["rss_mib"] - shared_mib / 4  # about half the region
        found = memory.sample({"parent": parent})
        tree = found["processes"]["parent"]
        assert tree["processes"] == 2
        assert found["unique_mib"] is not None  # the tests run as root
        assert tree["rss_mib"] - found["unique_mib"] >= shared_mib * 0.9  # counted twice in RSS
        assert tree["rss_mib"] - found["pss_mib"] >= shared_mib * 0.9  # divided in PSS
        assert found["target_mib"] == found["unique_mib"]
        assert found["uss_mib"] < found["pss_mib"]
    finally:
        for pid in memory.pids_of({"parent": parent})["parent"]:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(parent, 0)
        os.close(ready_r)
