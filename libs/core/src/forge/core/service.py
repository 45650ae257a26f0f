"""Running a service process: event loop, signals, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from forge.core.config import ConfigError
from forge.core.errors import ForgeError

log = logging.getLogger("forge.service")
DRAINING = "shutting down: finishing the requests in flight"


def draining(stop: asyncio.Event) -> Callable[[], str | None]:
    """A readiness check (forge.core.ops) failing once `stop` is set: from SIGTERM on, `/readyz`
    answers 503 while the service drains (docs/deployment.md)."""
    return lambda: DRAINING if stop.is_set() else None


async def started(starting: asyncio.Task[None], stop: asyncio.Event) -> bool:
    """Wait for a start that may wait on other services as long as it takes: True once it has
    finished (raising if it failed), False when `stop` came first (the start is cancelled)."""
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return False
    starting.result()  # a failed start raises here
    return True


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` on uvloop where available; SIGTERM and SIGINT set `stop`."""
    runner: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # uvloop is an optional speed-up
        runner = asyncio.run

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        runner(wrapper())
    except ConfigError as exc:
        print(f"forge: {exc}", file=sys.stderr)
        sys.exit(2)
    except ForgeError as exc:  # e.g. NATS unreachable at start: say so, no traceback
        print(f"forge: {exc.message}", file=sys.stderr)
        sys.exit(1)
