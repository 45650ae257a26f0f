"""The side-by-side phase: the same tools/call load on the same fastecho upstream, straight, through
Forge and through ContextForge (`mcp-contextforge-gateway` from PyPI), and a table of p50, p99,
calls/s and RSS with the ratios.

ContextForge is installed once into its own virtual environment under `.bench/` (Python 3.12 and
its current release when a `python3.12` is found, else Python 3.11 and the last release for it,
1.0.x); the time the install took is kept beside it. It runs as one uvicorn worker on 127.0.0.1
with its own SQLite database, authentication on (a JWT signed with a secret made for the run),
stateful sessions (its faster mode: one upstream session kept per client session), loopback
upstreams allowed, and fastecho registered through its REST API as gateway `fastecho`, offered
by a virtual server whose `/servers/<id>/mcp` the load calls. ContextForge speaks only the
legacy era, so the comparison is legacy: a session opened first, then the same prepared call
replayed (bench/calls.py).

When anything of this fails (no Python 3.11/3.12, the install, the start), the phase records why
and the bench goes on: `{"skipped": "<why>"}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import calls, loadgen, soak, worker
from bench.stack import Stack, wait_callable
from forge.embedded.process import free_port

CACHE = Path(__file__).resolve().parent.parent / ".bench"
VENV = CACHE / "contextforge-venv"
MARKER = VENV / "forge-bench-install.json"
PACKAGE = "mcp-contextforge-gateway"
ADMIN = "admin@example.com"
START_TIMEOUT_S = 120.0


def _runs(path: str) -> bool:
    """Whether `path` is a Python that starts (a pyenv shim of a version not selected fails)."""
    try:
        return subprocess.run([path, "-c", ""], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _interpreters() -> list[tuple[str, str]]:
    """(python, requirement) to try, best first: 3.12 takes the current release, 3.11 the last
    release that supports it."""
    found: list[tuple[str, str]] = []
    pyenv = Path.home() / ".pyenv" / "versions"
    for version, requirement in (("3.12", PACKAGE), ("3.11", f"{PACKAGE}<1.1")):
        candidates = [
            str(p / "bin" / f"python{version}") for p in sorted(pyenv.glob(f"{version}*"))
        ]
        candidates.append(shutil.which(f"python{version}") or "")
        for path in candidates:
            if path and Path(path).is_file() and _runs(path):
                found.append((path, requirement))
                break
    return found


def install() -> dict[str, Any]:
    """Install ContextForge once (kept under .bench/); what was installed and how long it took."""
    if MARKER.exists() and (VENV / "bin" / "uvicorn").exists():
        done: dict[str, Any] = json.loads(MARKER.read_text())
        return {**done, "cached": True}
    tried = []
    for python, requirement in _interpreters():
        shutil.rmtree(VENV, ignore_errors=True)
        started = time.monotonic()
        steps = [
            [python, "-m", "venv", str(VENV)],
            [
                str(VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                requirement,
            ],
        ]
        for step in steps:
            run = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            if run.returncode != 0:
                tried.append(f"{' '.join(step[:3])}: {(run.stderr or run.stdout)[-400:]}")
                break
        else:
            show = subprocess.run(
                [str(VENV / "bin" / "pip"), "show", PACKAGE], capture_output=True, text=True
            )
            version = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in show.stdout.splitlines()
                    if line.startswith("Version:")
                ),
                "?",
            )
            done = {
                "python": python,
                "version": version,
                "install_s": round(time.monotonic() - started, 1),
            }
            MARKER.write_text(json.dumps(done))
            return {**done, "cached": False}
    raise RuntimeError(
        "could not install ContextForge: "
        + ("; ".join(tried) if tried else "no python3.12 or python3.11 found")
    )


class ContextForge:
    """One uvicorn worker of ContextForge on a free loopback port, its state in `state`."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.secret = secrets.token_urlsafe(48)
        self.password = "Cf-" + secrets.token_urlsafe(18) + "9!"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(state),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{state / 'mcp.db'}",
            "JWT_SECRET_KEY": self.secret,
            "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
            "BASIC_AUTH_PASSWORD": "Cf-" + secrets.token_urlsafe(18) + "9!",
            "PLATFORM_ADMIN_EMAIL": ADMIN,
            "PLATFORM_ADMIN_PASSWORD": self.password,
            "DEFAULT_USER_PASSWORD": "Cf-" + secrets.token_urlsafe(18) + "9!",
            "AUTH_REQUIRED": "true",
            "USE_STATEFUL_SESSIONS": "true",
            "SSRF_ALLOW_LOCALHOST": "true",
            "MCPGATEWAY_UI_ENABLED": "false",
            "MCPGATEWAY_ADMIN_API_ENABLED": "false",
            "CACHE_TYPE": "memory",
            # Its rate limiter (100 MCP calls a minute, then a 15-minute lockout) would measure
            # itself, not the gateway: off, as for a benchmark of any gateway.
            "RATE_LIMITING_ENABLED": "false",
            "RATE_LIMIT_LOCKOUT_ENABLED": "false",
            "TOOL_RATE_LIMIT": "1000000",
            "LOG_LEVEL": "ERROR",
            "ENVIRONMENT": "development",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.state / "contextforge.log", "ab")
        args = [str(VENV / "bin" / "uvicorn"), "mcpgateway.main:app", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--workers", "1", "--log-level", "error"]
        self.proc = subprocess.Popen(
            args,
            env=self.env,
            cwd=self.state,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ContextForge exited ({self.proc.returncode}): {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"ContextForge was not healthy within {START_TIMEOUT_S:.0f} s")

    def tail(self) -> str:
        try:
            return (self.state / "contextforge.log").read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)

    def token(self) -> str:
        made = subprocess.run(
            [
                str(VENV / "bin" / "python"),
                "-m",
                "mcpgateway.utils.create_jwt_token",
                "--username",
                ADMIN,
                "--exp",
                "120",
                "--secret",
                self.secret,
                "--admin",
            ],
            env=self.env,
            cwd=self.state,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = [line for line in made.stdout.splitlines() if line.count(".") == 2]
        if made.returncode != 0 or not lines:
            raise RuntimeError(f"minting a ContextForge token failed: {made.stderr[-500:]}")
        return lines[-1].strip()

    def api(self, token: str, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc

    def register(self, token: str, upstream_url: str) -> str:
        """Register fastecho and a virtual server offering its echo; the server's MCP URL."""
        self.api(
            token,
            "POST",
            "/gateways",
            {"name": "fastecho", "url": upstream_url, "transport": "STREAMABLEHTTP"},
        )
        tools = self.api(token, "GET", "/tools")
        tools = tools.get("items", tools) if isinstance(tools, dict) else tools
        echo = next(t for t in tools if t.get("originalName", t.get("original_name")) == "echo")
        server = self.api(
            token,
            "POST",
            "/servers",
            {"server": {"name": "bench", "associated_tools": [echo["id"]]}},
        )
        self.tool = echo["name"]
        return f"{self.url}/servers/{server['id']}/mcp"


def measure(running: Stack, args: Any, forge_results: dict[str, Any]) -> dict[str, Any]:
    """ContextForge's legacy-era numbers beside Forge's and direct's from the main phase."""
    if args.quick:
        return {"skipped": "not run in --quick (installing and starting ContextForge is slow)"}
    try:
        installed = install()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return {"skipped": str(exc)[-800:]}
    print(
        f"ContextForge {installed['version']} ({'cached' if installed['cached'] else 'installed'}"
        f" in {installed['install_s']} s) ...",
        flush=True,
    )
    cf = ContextForge(running.mesh.state_dir / "contextforge")
    try:
        cf.start()
        token = cf.token()
        mcp_url = cf.register(token, running.upstream_url)
        target = calls.target("contextforge", mcp_url, cf.tool, "legacy", token=token, session=True)
        wait_callable(target, timeout_s=60)
        assert cf.proc is not None
        roots = {"contextforge": cf.proc.pid}
        numbers = _measure(target, mcp_url, cf.tool, token, args)
        rss = {
            "contextforge": soak.processes(roots)["contextforge"]["rss_mb"],
            "forge": round(
                sum(
                    v["rss_mb"]
                    for k, v in soak.processes(running.pids()).items()
                    if k != "fastecho"
                ),
                1,
            ),
            "direct": soak.processes({"f": running.upstream.pid})["f"]["rss_mb"],
        }
    except (RuntimeError, OSError, subprocess.TimeoutExpired, StopIteration, KeyError) as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"[-800:], "log": cf.tail()[-800:]}
    finally:
        cf.stop()
    return table_data(installed, numbers, forge_results, rss)


def _measure(target: calls.Target, url: str, tool: str, token: str, args: Any) -> dict[str, Any]:
    """The main phase's two measurements: sequential latency on one session (bench/worker.py),
    then calls/s with `--concurrency` connections, each with a session of its own (one session
    shared by concurrent connections stalls ContextForge's stateful mode; a real client has its
    own anyway)."""
    budget = 120.0 + args.duration + args.calls * 0.2
    job = worker.Job(
        host=target.host,
        port=target.port,
        request=target.request,
        expect=target.expect,
        mode="sequential",
        calls=args.calls,
        warmup=args.warmup,
    )
    phase = worker.run(job, budget)
    latency = {
        "ok": phase.ok,
        "errors": phase.errors,
        "error_sample": phase.error_sample,
        "latency_ms": {k: round(v, 4) for k, v in phase.latency_ms.items()},
    }
    sessions = [
        calls.target("contextforge", url, tool, "legacy", token=token, session=True)
        for _ in range(args.concurrency)
    ]
    stats, elapsed = asyncio.run(_sessions_load(sessions, args.duration))
    throughput = {
        "ok": stats.ok,
        "errors": dict(stats.errors),
        "error_sample": stats.sample.decode(errors="replace"),
        "elapsed_s": round(elapsed, 3),
        "rps": round(stats.ok / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": {k: round(v, 4) for k, v in worker.percentiles(stats.latencies_ns).items()},
        "clients": len(sessions),
    }
    return {"latency": latency, "throughput": throughput}


async def _sessions_load(
    targets: list[calls.Target], duration_s: float
) -> tuple[loadgen.Stats, float]:
    """One keep-alive connection per target (each its own prepared request), looping for
    `duration_s` after a warm-up of a tenth of it (at least 1 s) that is not counted."""
    warm = loadgen.Stats()
    conns = await asyncio.gather(
        *(loadgen.Conn(t.host, t.port, t.request, t.expect, warm).open() for t in targets)
    )
    stop = time.perf_counter_ns() + int(max(1.0, duration_s / 10) * 1e9)
    for conn in conns:
        conn.start(stop_at_ns=stop)
    await asyncio.gather(*(c.done for c in conns))
    for conn in conns:
        conn.close()
    stats = loadgen.Stats()
    conns = await asyncio.gather(
        *(loadgen.Conn(t.host, t.port, t.request, t.expect, stats).open() for t in targets)
    )
    started = time.perf_counter_ns()
    for conn in conns:
        conn.start(stop_at_ns=started + int(duration_s * 1e9))
    await asyncio.gather(*(c.done for c in conns))
    elapsed = (time.perf_counter_ns() - started) / 1e9
    for conn in conns:
        conn.close()
    return stats, elapsed


def table_data(
    installed: dict[str, Any],
    contextforge: dict[str, Any],
    forge_results: dict[str, Any],
    rss: dict[str, float],
) -> dict[str, Any]:
    sides = {
        "direct": forge_results["direct"],
        "forge": forge_results["forge"],
        "contextforge": contextforge,
    }
    rows = {}
    for name, side in sides.items():
        rows[name] = {
            "p50_ms": side["latency"]["latency_ms"].get("p50", 0.0),
            "p99_ms": side["latency"]["latency_ms"].get("p99", 0.0),
            "rps": side["throughput"]["rps"],
            "loaded_p50_ms": side["throughput"]["latency_ms"].get("p50", 0.0),
            "loaded_p99_ms": side["throughput"]["latency_ms"].get("p99", 0.0),
            "rss_mb": rss.get(name, 0.0),
            "errors": sum(side["latency"]["errors"].values())
            + sum(side["throughput"]["errors"].values()),
        }
    f, c = rows["forge"], rows["contextforge"]

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b else None

    return {
        "installed": installed,
        "era": "legacy",
        "rows": rows,
        "contextforge": contextforge,
        "ratios": {
            "contextforge_over_forge_p50": ratio(c["p50_ms"], f["p50_ms"]),
            "contextforge_over_forge_p99": ratio(c["p99_ms"], f["p99_ms"]),
            "forge_over_contextforge_rps": ratio(f["rps"], c["rps"]),
            "contextforge_over_forge_rss": ratio(c["rss_mb"], f["rss_mb"]),
        },
    }


def lines(doc: dict[str, Any]) -> list[str]:
    if "skipped" in doc:
        return [f"ContextForge side by side: not measured: {doc['skipped']}"]
    inst = doc["installed"]
    out = [
        f"ContextForge side by side ({inst['version']} on {Path(inst['python']).name}, "
        f"install {inst['install_s']} s{' (cached)' if inst['cached'] else ''}; legacy era, "
        "same fastecho, same load):",
        f"  {'path':<13} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9} {'loaded p50':>11}"
        f" {'loaded p99':>11} {'RSS MB':>8} {'errors':>7}",
    ]
    for name, row in doc["rows"].items():
        out.append(
            f"  {name:<13} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['rps']:>9.0f}"
            f" {row['loaded_p50_ms']:>11.2f} {row['loaded_p99_ms']:>11.2f}"
            f" {row['rss_mb']:>8.1f} {row['errors']:>7}"
        )
    r = doc["ratios"]
    out.append(
        f"  ContextForge/Forge: p50 x{r['contextforge_over_forge_p50']}, p99 "
        f"x{r['contextforge_over_forge_p99']}, RSS x{r['contextforge_over_forge_rss']}; "
        f"Forge/ContextForge calls/s x{r['forge_over_contextforge_rps']}"
    )
    out.append(
        "  (p50/p99: sequential calls on one connection; calls/s and loaded p50/p99: the"
        " concurrent phase, ContextForge with a session per connection; RSS: Forge = its six"
        " services with NATS and PostgreSQL, ContextForge = its worker and helpers, direct ="
        " fastecho)"
    )
    return out
