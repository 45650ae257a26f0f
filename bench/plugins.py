"""The plugin phase: tools/call through Forge with a 10 KB argument echoed back, with the PII,
secrets and exfiltration plugins on `tool_pre_invoke` and `tool_post_invoke` vs no plugin.

The mesh's plugin-runner watches a YAML file; the phase rewrites it (hot reload) and waits for
the runner's manifest before measuring. Runs alternate (none, plugins, none, plugins) so that a
drift of the machine hits both sides; each side's figure is the median of its runs.
Target: at most 1 ms added at p50.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench import calls, worker
from bench.stack import FORGE_TOOL, Stack
from forge.cli.mesh import MeshError
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import DeadlineExceededError, ServiceUnavailableError
from forge.plugins import scanners

PAYLOAD_BYTES = 10 * 1024
TARGET_P50_MS = 1.0
ROUNDS = 2
HOOKS = "[tool_pre_invoke, tool_post_invoke]"
NONE = "plugins: []\n"
GUARDRAILS = f"""plugins:
  - {{name: pii, kind: pii_filter, hooks: {HOOKS}}}
  - {{name: secrets, kind: secrets_detection, hooks: {HOOKS}}}
  - {{name: exfil, kind: exfil_detection, hooks: {HOOKS}}}
"""
_PROSE = (
    "The quarterly report is attached; revenue grew in every region except the north. ",
    "Bitte prüfen Sie die Rechnung bis Freitag und melden Sie sich bei Fragen. ",
    "Le déploiement est terminé, la nuit a été calme et sans incident. ",
    "We shipped version two to production after the canary ran for two hours. ",
    "Reminder: the offsite starts at half past nine in the large room, coffee provided. ",
)


def payload(size: int = PAYLOAD_BYTES) -> str:
    """About `size` bytes of prose, free of anything the three scanners report."""
    parts: list[str] = []
    total = 0
    while total < size:
        line = _PROSE[len(parts) % len(_PROSE)]
        parts.append(line)
        total += len(line.encode())
    text = "".join(parts)
    while len(text.encode()) > size:
        text = text[:-1]
    return text


def target(stack: Stack, era: calls.Era, text: str) -> calls.Target:
    """The tools/call of echo with `text`, through Forge (as bench.calls prepares its own)."""
    params: dict[str, Any] = {"name": FORGE_TOOL, "arguments": {"text": text}}
    if era == "modern":
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": calls.MODERN_VERSION}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    parts = urlsplit(stack.forge_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = calls._headers(FORGE_TOOL, era, stack.token, None)
    raw = calls.encode_request(host, port, parts.path, headers, body)
    return calls.Target("forge", era, host, port, raw, text[:64].encode())


async def _served(nats_url: str) -> list[str]:
    bus = await NatsBus.connect(nats_url, "forge-bench")
    try:
        data = await bus.request(subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + 2)
    except (ServiceUnavailableError, DeadlineExceededError):
        return []
    finally:
        await bus.close()
    hooks: list[str] = json.loads(data).get("hooks", [])
    return hooks


def configure(stack: Stack, path: Path, text: str, timeout_s: float = 30.0) -> None:
    """Write the plugin file and wait until the runner serves what it says."""
    path.write_text(text)
    want = text != NONE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if bool(asyncio.run(_served(stack.mesh.nats_url))) == want:
            time.sleep(0.5)  # the announcement reaches the router alongside
            return
        time.sleep(0.2)
    raise MeshError(f"the plugin-runner did not load {path} within {timeout_s:.0f} s")


def measure(stack: Stack, path: Path, args: Any, era: calls.Era = "modern") -> dict[str, Any]:
    """Alternating rounds of each side; the median p50 and p99 per side, and what was added."""
    forge = target(stack, era, payload())
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "plugins": []}
    for _ in range(ROUNDS):
        for side, text in (("none", NONE), ("plugins", GUARDRAILS)):
            configure(stack, path, text)
            print(f"measuring tools/call at 10 KB, plugins: {side} ...", flush=True)
            job = worker.Job(
                mode="sequential",
                calls=args.calls,
                warmup=args.warmup,
                host=forge.host,
                port=forge.port,
                request=forge.request,
                expect=forge.expect,
            )
            runs[side].append(msgspec.to_builtins(worker.run(job, 60.0 + args.calls * 0.1)))
    configure(stack, path, NONE)
    sides = {side: _summary(phases) for side, phases in runs.items()}
    added = sides["plugins"]["p50_ms"] - sides["none"]["p50_ms"]

    return {
        "payload_bytes": PAYLOAD_BYTES,
        "era": era,
        "plugins": ["pii_filter", "secrets_detection", "exfil_detection"],
        "hooks": ["tool_pre_invoke", "tool_post_invoke"],
        "scanners": scanners.IMPLEMENTATION,
        "none": sides["none"],
        "with_plugins": sides["plugins"],
        "added_p50_ms": round(added, 3),
        "added_p99_ms": round(sides["plugins"]["p99_ms"] - sides["none"]["p99_ms"], 3),
        "target_p50_ms": TARGET_P50_MS,
        "met": added <= TARGET_P50_MS,
        "runs": runs,
    }


def _summary(phases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "p50_ms": round(statistics.median(p["latency_ms"]["p50"] for p in phases), 3),
        "p99_ms": round(statistics.median(p["latency_ms"]["p99"] for p in phases), 3),
        "ok": sum(p["ok"] for p in phases),
        "errors": sum(sum(p["errors"].values()) for p in phases),
        "error_sample": next((p["error_sample"] for p in phases if p["error_sample"]), ""),
    }


def lines(result: dict[str, Any]) -> list[str]:
    none, on = result["none"], result["with_plugins"]
    mark = "met" if result["met"] else "MISSED"
    return [
        f"plugins ({', '.join(result['plugins'])}; scanners: {result['scanners']}),"
        f" tools/call of a {result['payload_bytes'] // 1024} KB echo, {result['era']}:",
        f"  none:    p50 {none['p50_ms']:.3f} ms  p99 {none['p99_ms']:.3f} ms"
        f"  ({none['ok']} ok, {none['errors']} errors)",
        f"  plugins: p50 {on['p50_ms']:.3f} ms  p99 {on['p99_ms']:.3f} ms"
        f"  ({on['ok']} ok, {on['errors']} errors)",
        f"  added:   p50 {result['added_p50_ms']:+.3f} ms (target <= {result['target_p50_ms']:g})"
        f"  {mark}   p99 {result['added_p99_ms']:+.3f} ms",
    ]
