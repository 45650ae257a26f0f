"""The security suite's closing figures: attempts per category, wrongly accepted, 5xx answers.

Every test in a `tests/e2e/test_security*.py` file is an attack of that file's category. A test
that fails is an attack that was not refused the way it must be ("wrongly accepted"); every HTTP
answer of 500 or more that the test's clients saw is counted on its own, so a 5xx is reported
even where a test tolerates it. The table is printed at the end of any run that included the suite.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest

_PREFIX = "test_security"
_tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
_running: list[str] = []  # the category of the test being run, if it is a security test


def _category(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    if not path.startswith("tests/e2e/") or not stem.startswith(_PREFIX):
        return None
    return stem.removeprefix(_PREFIX).lstrip("_") or "auth and visibility"


def _count(response: httpx.Response) -> None:
    if _running and response.status_code >= 500:
        _tally[_running[-1]]["5xx"] += 1


def _wrap_sync(send: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
    def counted(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
        response = send(self, *args, **kwargs)
        _count(response)
        return response

    return counted


def _wrap_async(send: Callable[..., Any]) -> Callable[..., Any]:
    async def counted(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = await send(self, *args, **kwargs)
        _count(response)
        return response

    return counted


def pytest_configure(config: pytest.Config) -> None:
    # Instrumentation only: every request still goes to the real mesh.
    httpx.Client.send = _wrap_sync(httpx.Client.send)  # type: ignore[method-assign]
    httpx.AsyncClient.send = _wrap_async(httpx.AsyncClient.send)  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    category = _category(item.nodeid)
    if category is None:
        return (yield)
    _running.append(category)
    try:
        return (yield)
    finally:
        _running.pop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    category = _category(report.nodeid)
    if category is None or report.when != "call":
        return
    _tally[category]["tried"] += 1
    if report.failed:
        _tally[category]["wrongly accepted"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _tally:
        return
    write = terminalreporter.write_line
    write("")
    write(f"security suite: {'category':<22} {'tried':>6} {'wrongly accepted':>17} {'5xx':>5}")
    totals: Counter[str] = Counter()
    for category in sorted(_tally):
        counts = _tally[category]
        totals.update(counts)
        write(
            f"security suite: {category:<22} {counts['tried']:>6}"
            f" {counts['wrongly accepted']:>17} {counts['5xx']:>5}"
        )
    write(
        f"security suite: {'all':<22} {totals['tried']:>6}"
        f" {totals['wrongly accepted']:>17} {totals['5xx']:>5}"
    )
