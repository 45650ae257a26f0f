"""`python -m forge.plugin_runner` as a process: settings from the environment, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.proto.plugins import MANIFEST_DECODER, Manifest


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "forge.plugin_runner"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def announced(bus: NatsBus) -> asyncio.Queue[Manifest]:
    heard: asyncio.Queue[Manifest] = asyncio.Queue()

    async def on(subject: str, data: bytes) -> None:
        await heard.put(MANIFEST_DECODER.decode(data))

    await bus.subscribe(subjects.PLUGINS_MANIFEST, on)
    await bus.flush()
    return heard


async def test_the_process_serves_its_config_and_stops_cleanly_on_sigterm(
    bus: NatsBus, nats_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text("plugins: [{name: deny, kind: deny_list, config: {words: [x]}}]")
    heard = await announced(bus)
    proc = start({"FORGE_NATS_URL": nats_url, "FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG": str(path)})
    try:
        async with asyncio.timeout(20):
            first = await heard.get()  # announced once it serves
        assert "tool_pre_invoke" in first.hooks
        reply = await bus.request(subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + 5)
        assert MANIFEST_DECODER.decode(reply).hooks == first.hooks
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
        stderr = proc.stderr.read() if proc.stderr else b""
        if proc.stderr:
            proc.stderr.close()
    assert code == 0, stderr.decode(errors="replace")


async def test_a_bad_setting_or_plugins_file_stops_the_process_with_a_clear_message(
    nats_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text("plugins: [{name: a, kind: no_such_kind}]")
    for env, says in (
        ({"FORGE_PLUGIN_RUNNER_RELOAD_INTERVAL_S": "soon"}, b"RELOAD_INTERVAL_S"),
        ({"FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG": str(path)}, b"no_such_kind"),
    ):
        proc = start({"FORGE_NATS_URL": nats_url, **env})
        _, stderr = await asyncio.to_thread(proc.communicate, None, 30)
        assert proc.returncode == 2
        assert says in stderr
