"""A KV watch outlives a NATS restart (issue 15): the restarted server has lost the watch's
consumer, and the bus watches again as soon as it is reconnected, so an entry written after the
restart reaches the handler within seconds (nats-py alone notices after two missed heartbeats,
10 to 20 s). A real nats-server of its own, restarted on its port with its store kept."""

from __future__ import annotations

from pathlib import Path

from forge.core.bus import NatsBus
from forge.embedded.nats import start_nats
from forge.testing import eventually


async def test_a_kv_watch_sees_what_is_written_after_a_nats_restart(tmp_path: Path) -> None:
    nats = start_nats(tmp_path / "nats")
    port = int(nats.url.rsplit(":", 1)[1])
    watcher = writer = None
    try:
        watcher = await NatsBus.connect(nats.url, "test-rewatch-watcher")
        writer = await NatsBus.connect(nats.url, "test-rewatch-writer")
        await writer.kv_put("test-rewatch", "before", b"1")
        seen: dict[str, bytes | None] = {}
        watch = await watcher.kv_watch("test-rewatch", seen.__setitem__)
        await eventually(lambda: seen.get("before") == b"1")

        nats.stop()
        nats = start_nats(tmp_path / "nats", port=port)
        await eventually(lambda: watcher.connected() and writer.connected(), within_s=10)

        async def written() -> bool:
            await writer.kv_put("test-rewatch", "after", b"2")  # JetStream may still be starting
            return True

        await eventually(written, within_s=10, every_s=0.2, retry_on=(Exception,))
        await eventually(lambda: seen.get("after") == b"2", within_s=4, every_s=0.05)
        assert seen["before"] == b"1"  # kept on disk, seen again by the new watch
        await watch.unsubscribe()
    finally:
        for bus in (watcher, writer):
            if bus is not None:
                await bus.close()
        nats.stop()
