"""The `forge` command: `up` runs the mesh, `run` one service, `token` mints a JWT,
`nats-config` prints the services' NATS users, and the stdio bridges `wrapper` and `translate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path

from forge.cli.demo import DEMO_AGENT, demo_commands, start_demo, start_demo_agent
from forge.cli.mesh import SERVICES, STATE_FILE, Mesh, MeshError, load_secret
from forge.cli.supervisor import Supervisor
from forge.cli.tokens import mint
from forge.core.config import ConfigError

DEFAULT_PORT = 4444
# The ops ports `forge up` gives its services, in SERVICES order, when free (9101 registry ...
# 9106 edge): what docs/observability/prometheus.yml scrapes.
DEFAULT_OPS_BASE = 9101
# How often `forge up` looks for a dead process (a restart waits its backoff on top).
SUPERVISE_EVERY_S = 0.1
MAX_REPLICAS = 16


def parse_replicas(text: str) -> dict[str, int]:
    """`router=2,edge=2` (or `all=2`, later entries overriding) -> {service: count}; service
    names with `-` or `_`. ValueError with what is wrong."""
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, number = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not number.strip().isdigit():
            raise ValueError(f"{item!r} is not SERVICE=COUNT")
        count = int(number)
        if not 1 <= count <= MAX_REPLICAS:
            raise ValueError(f"{item!r}: the count must be between 1 and {MAX_REPLICAS}")
        if name == "all":
            counts.update(dict.fromkeys(SERVICES, count))
        elif name in SERVICES:
            counts[name] = count
        else:
            raise ValueError(f"{item!r}: no service {name!r} (one of all, {', '.join(SERVICES)})")
    return counts


def _say(text: str) -> None:
    """A supervisor's report, on stderr, its first line stamped with the time (UTC, as the
    services' log lines are)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {text}", file=sys.stderr, flush=True)


def _state_dir() -> Path:
    return Path(os.environ.get("FORGE_STATE_DIR", ".forge")).resolve()


def otlp_env(url: str | None, protocol: str) -> dict[str, str]:
    """The OTEL_* settings that send every service's traces to `url` (none without one)."""
    if not url:
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}


def cmd_up(args: argparse.Namespace) -> int:
    state = _state_dir()
    port = int(os.environ.get("FORGE_EDGE_PORT", DEFAULT_PORT))
    try:
        replicas = parse_replicas(args.replicas or "")
    except ValueError as exc:
        print(f"forge up: --replicas {exc}", file=sys.stderr)
        return 2
    mesh = Mesh(
        replicas=replicas,
        state_dir=state,
        port=port,
        allow_loopback_upstreams=args.demo,
        ops_base=DEFAULT_OPS_BASE,
        stdio_allowed_commands=demo_commands() if args.demo else "",
        env=otlp_env(args.otlp, args.otlp_protocol),
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    demo = agent = None
    try:
        print(f"forge: starting the mesh (state in {state})", flush=True)
        mesh.start()
        token = mint(mesh.secret, mesh.admin_email, ttl_s=7 * 24 * 3600, admin=True)
        token_file = state / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n")
        if args.demo:
            demo = start_demo(mesh, token)
            print(f"forge: demo server registered as gateway 'demo' ({demo.url})", flush=True)
            agent = start_demo_agent(mesh, token)
            print(
                f"forge: echo agent registered as A2A agent {DEMO_AGENT!r} ({agent.url}),"
                f" tool a2a-{DEMO_AGENT}",
                flush=True,
            )
        print(f"forge: ready at {mesh.url}  (MCP endpoint {mesh.url}/mcp)", flush=True)
        for url in mesh.urls[1:]:
            print(f"forge: another edge replica at {url}  (MCP endpoint {url}/mcp)", flush=True)
        if mesh.a2a_grpc_port > 0:  # FORGE_EDGE_A2A_GRPC_PORT, on the first replica (0029)
            where = f"127.0.0.1:{mesh.a2a_grpc_port}"
            print(f"forge: A2A over gRPC at {where}  (the agent in `tenant`)", flush=True)
        print("forge: ops ports (/metrics, /livez, /readyz; docs/observability.md):", flush=True)
        for name in mesh.procs:
            print(f"forge:   {name:<17} {mesh.ops_url(name)}", flush=True)
        print(f"forge: processes (pids, ports, restarts) in {state / STATE_FILE}", flush=True)
        print(f"forge: admin token (also in {token_file}):\n{token}", flush=True)
        print(
            f"forge: admin login {mesh.admin_email}, password in {state / 'admin-password'}",
            flush=True,
        )
        if args.demo:
            print("forge: loopback upstreams are allowed (--demo); a bare `forge up` refuses them")
        if args.otlp:
            print(f"forge: traces go to {args.otlp} ({args.otlp_protocol})", flush=True)
        print("forge: press Ctrl-C to stop", flush=True)
        # A process that dies from here on is started again (with backoff), never the whole mesh
        # stopped for it; at start (mesh.start) an exit is fatal: a misconfiguration, said so.
        supervisor = Supervisor(mesh, _say)
        while not stopping.wait(SUPERVISE_EVERY_S):
            supervisor.step()
        return 0
    except MeshError as exc:
        print(f"forge: {exc}", file=sys.stderr)
        return 1
    finally:
        print("forge: stopping", flush=True)
        if demo is not None:
            demo.stop()
        if agent is not None:
            agent.stop()
        mesh.stop()
        print("forge: stopped", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    module = "forge." + args.service.replace("-", "_")  # plugin-runner or plugin_runner
    sys.argv = [module, *args.rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    secret = os.environ.get("FORGE_JWT_SECRET") or load_secret(_state_dir())
    print(mint(secret, args.sub, ttl_s=int(args.exp * 60), email=args.email, admin=args.admin))
    return 0


def cmd_wrapper(args: argparse.Namespace) -> int:
    from forge.cli.bridge import bridge

    url = args.url or os.environ.get("FORGE_URL")
    if not url:
        print("forge wrapper: give --url or set FORGE_URL", file=sys.stderr)
        return 2
    token = args.token or os.environ.get("FORGE_TOKEN")
    asyncio.run(bridge(url, token, sse=False))
    return 0


def cmd_nats_config(args: argparse.Namespace) -> int:
    from forge.core import permissions

    if args.json:
        table = {user: permissions.permissions(user) for user in permissions.SERVICES}
        print(json.dumps(table, indent=2, sort_keys=True))
    else:
        print(permissions.nats_config(), end="")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    if args.connect:
        from forge.cli.bridge import bridge

        asyncio.run(bridge(args.connect, args.token or os.environ.get("FORGE_TOKEN"), args.sse))
        return 0
    if not args.stdio or args.port is None:
        print("forge translate: give --stdio COMMAND --port N, or --connect URL", file=sys.stderr)
        return 2
    from forge.cli import launching
    from forge.cli.translate import serve

    try:
        settings = launching.load()
        argv = launching.resolve(args.stdio, settings)
        settings.account  # noqa: B018 - an unknown FORGE_STDIO_USER fails here, before serving
    except (ConfigError, ValueError) as exc:
        print(f"forge translate: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        run = serve(argv, settings, args.port, sse=args.sse, streamable=args.streamable_http)
        asyncio.run(run)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forge", description="Forge: an MCP and A2A gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole mesh on embedded NATS and PostgreSQL")
    up.add_argument(
        "--demo",
        action="store_true",
        help="also start and register a demo MCP server and a demo A2A agent",
    )
    up.add_argument(
        "--otlp",
        metavar="URL",
        help="export every service's traces over OTLP to URL (e.g. http://127.0.0.1:4318; "
        "sets OTEL_EXPORTER_OTLP_ENDPOINT; other OTEL_* variables pass through as they are)",
    )
    up.add_argument(
        "--otlp-protocol",
        choices=["http/protobuf", "grpc"],
        default="http/protobuf",
        help="the OTLP protocol of --otlp (grpc: usually port 4317)",
    )
    up.add_argument(
        "--replicas",
        metavar="SERVICE=N,...",
        help="run N processes of a service (e.g. router=2,edge=2, or all=2): each replica its own"
        " ops port and log; edge replicas listen on the next ports (4445, ...) and all serve the"
        " same sessions, behind whatever balances clients between them",
    )
    up.set_defaults(func=cmd_up)
    run = sub.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=[*SERVICES, *(s.replace("_", "-") for s in SERVICES)])
    run.add_argument("rest", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)
    token = sub.add_parser("token", help="mint a bearer token signed with the JWT secret")
    token.add_argument("--sub", default="admin@forge.local", help="the token's subject")
    token.add_argument("--email", default=None)
    token.add_argument("--exp", type=float, default=60, help="minutes until it expires")
    token.add_argument("--admin", action="store_true", help="grant the platform_admin role")
    token.set_defaults(func=cmd_token)
    wrapper = sub.add_parser(
        "wrapper", help="a stdio MCP server that forwards to a remote Forge (for desktop clients)"
    )
    wrapper.add_argument("--url", help="the Forge MCP endpoint (default: $FORGE_URL)")
    wrapper.add_argument("--token", help="bearer token (default: $FORGE_TOKEN)")
    wrapper.set_defaults(func=cmd_wrapper)
    nats_config = sub.add_parser(
        "nats-config",
        help="print the NATS users and permissions of the services (a nats-server authorization"
        " block; each password read from $FORGE_NATS_<USER>_PASSWORD)",
    )
    nats_config.add_argument(
        "--json", action="store_true", help="print the permissions table as JSON instead"
    )
    nats_config.set_defaults(func=cmd_nats_config)
    translate = sub.add_parser("translate", help="bridge MCP transports: stdio <-> HTTP")
    translate.add_argument("--stdio", help="a stdio MCP server command to expose over HTTP")
    translate.add_argument("--port", type=int, help="loopback port to serve on (0: any)")
    translate.add_argument("--sse", action="store_true", help="serve (or connect with) HTTP+SSE")
    translate.add_argument(
        "--streamable-http", action="store_true", help="serve Streamable HTTP on /mcp"
    )
    translate.add_argument("--connect", help="a remote MCP URL to expose on local stdio")
    translate.add_argument("--token", help="bearer token for --connect (default: $FORGE_TOKEN)")
    translate.set_defaults(func=cmd_translate)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
