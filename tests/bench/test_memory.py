"""bench/memory.py's figures: shared pages count once per process in summed RSS, once in all in
the unique figure, and are divided among the sharers in PSS."""

from __future__ import annotations

import mmap
import os
import signal

from bench import memory

SHARED = 32 * 2**20


def test_a_page_shared_by_two_processes_counts_twice_in_rss_once_in_unique_and_pss() -> None:
    region = mmap.mmap(-1, SHARED, flags=mmap.MAP_SHARED)
    region.write(b"x" * SHARED)  # every page resident before the fork, shared after it
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:  # touch the region too, then wait to be killed
        os.close(ready_r)
        assert region[SHARED - 1] == ord("x")
        os.write(ready_w, b"1")
        signal.pause()
        os._exit(0)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"1"
        roots = {"parent": os.getpid(), "child": child}
        # Each process on its own tree (the parent's holds the child: not the child's).
        alone = memory.trees({"child": child})["child"]
        assert alone["rss_mib"] >= SHARED / 2**20
        assert alone["pss_mib"] < alone["rss_mib"] - 8  # half the shared region, about
        found = memory.sample({"parent": roots["parent"]})  # its tree holds the child
        tree = found["processes"]["parent"]
        assert tree["processes"] == 2
        shared_mib = SHARED / 2**20
        assert found["unique_mib"] is not None  # the tests run as root
        assert tree["rss_mib"] - found["unique_mib"] >= shared_mib * 0.9  # counted twice in RSS
        assert found["target_mib"] == found["unique_mib"]
        assert tree["rss_mib"] - found["pss_mib"] >= shared_mib * 0.9  # divided in PSS
        assert found["uss_mib"] < found["pss_mib"]
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready_r)
        region.close()
