"""`eventually` returns the first truthy answer, retries only what it is told to, and fails
naming the condition that never held."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from forge.testing import eventually, eventually_sync


async def test_eventually_returns_the_first_truthy_answer() -> None:
    answers: Iterator[object] = iter([None, 0, [], "ready", "later"])
    assert await eventually(lambda: next(answers), every_s=0) == "ready"


async def test_eventually_awaits_a_coroutine_check() -> None:
    counter = itertools.count()

    async def third() -> int | None:
        await asyncio.sleep(0)
        n = next(counter)
        return n if n >= 2 else None

    assert await eventually(third, every_s=0) == 2


async def test_a_condition_that_never_holds_fails_naming_it_and_its_last_value() -> None:
    with pytest.raises(AssertionError) as failed:
        await eventually(lambda: [], within_s=0.05, every_s=0.01, detail=lambda: "log tail")
    message = str(failed.value)
    assert "never became true within 0.05 s" in message
    assert "lambda: []" in message  # the check's own source names it
    assert "last value: []" in message
    assert "log tail" in message


async def test_what_names_the_condition_when_given() -> None:
    with pytest.raises(AssertionError, match="the gateway's tools are listed"):
        await eventually(lambda: False, within_s=0, what="the gateway's tools are listed")


async def test_only_the_exceptions_in_retry_on_count_as_not_yet() -> None:
    calls = itertools.count()

    def flaky() -> str:
        if next(calls) < 2:
            raise ConnectionError("not listening yet")
        return "up"

    assert await eventually(flaky, every_s=0, retry_on=(ConnectionError,)) == "up"
    with pytest.raises(KeyError):
        await eventually(lambda: {"k": 1}["missing"], retry_on=(ConnectionError,))


async def test_a_retried_error_that_lasts_is_reported_as_the_cause() -> None:
    def down() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match="last error: ConnectionError: refused") as failed:
        await eventually(down, within_s=0.02, every_s=0.01, retry_on=(ConnectionError,))
    assert isinstance(failed.value.__cause__, ConnectionError)


def test_eventually_sync_polls_in_the_same_way() -> None:
    answers: Iterator[int] = iter([0, 0, 42])
    assert eventually_sync(lambda: next(answers), every_s=0) == 42
    with pytest.raises(AssertionError, match="the port file exists"):
        eventually_sync(lambda: False, within_s=0.02, every_s=0.01, what="the port file exists")
