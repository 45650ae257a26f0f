"""`eventually`: wait, bounded, until a condition on another process or task holds.

Tests wait on an event or a reply where there is one. Where there is none (another process's
HTTP API, a log file, a KV bucket seen from another replica) they poll with this, the one
polling loop of the test tree, so every such wait is bounded and says what never became true.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

_SHOWN = 300  # characters of the last value or condition in the failure message


def _describe(check: Callable[[], object], what: str | None) -> str:
    if what:
        return what
    try:
        # The lambda's own line reads better than "<lambda>" in a failure report.
        source = inspect.getsource(check).strip()
    except (OSError, TypeError):
        source = getattr(check, "__qualname__", repr(check))
    return source[:_SHOWN]


def _never(
    what: str,
    within_s: float,
    last: object,
    error: BaseException | None,
    detail: Callable[[], str] | None,
) -> AssertionError:
    lines = [f"never became true within {within_s:g} s: {what}"]
    if error is not None:
        lines.append(f"last error: {type(error).__name__}: {error}")
    else:
        lines.append(f"last value: {repr(last)[:_SHOWN]}")
    if detail is not None:
        lines.append(detail())
    return AssertionError("\n".join(lines))


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    within_s: float = ...,
    every_s: float = ...,
    what: str | None = ...,
    retry_on: tuple[type[Exception], ...] = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    *,
    within_s: float = ...,
    every_s: float = ...,
    what: str | None = ...,
    retry_on: tuple[type[Exception], ...] = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    *,
    within_s: float = 10.0,
    every_s: float = 0.05,
    what: str | None = None,
    retry_on: tuple[type[Exception], ...] = (),
    detail: Callable[[], str] | None = None,
) -> object:
    """The first truthy answer of `check()` (awaited when it is a coroutine), polled every
    `every_s` for at most `within_s` seconds; else AssertionError naming `what` (the check's
    source by default) and the last answer. Exceptions in `retry_on` count as "not yet"; any
    other propagates at once. `detail()` adds diagnostics (a service's log tail) on failure."""
    deadline = time.monotonic() + within_s
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            answer = check()
            value = await answer if inspect.isawaitable(answer) else answer
        except retry_on as exc:
            error = exc
        else:
            if value:
                return value
            last, error = value, None
        if time.monotonic() >= deadline:
            raise _never(_describe(check, what), within_s, last, error, detail) from error
        await asyncio.sleep(every_s)


def eventually_sync(
    check: Callable[[], T | None],
    *,
    within_s: float = 10.0,
    every_s: float = 0.05,
    what: str | None = None,
    retry_on: tuple[type[Exception], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """`eventually` for synchronous tests and fixtures (it blocks the thread while it waits)."""
    deadline = time.monotonic() + within_s
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            value = check()
        except retry_on as exc:
            error = exc
        else:
            if value:
                return value
            last, error = value, None
        if time.monotonic() >= deadline:
            raise _never(_describe(check, what), within_s, last, error, detail) from error
        time.sleep(every_s)
