"""Log lines: JSON or text, with the request's trace, span and request ids; secrets never
written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from forge.core import logs
from forge.core.bus import TRACEPARENT

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TRACEPARENT_VALUE = f"00-{TRACE}-{SPAN}-01"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(f"forge.test.logs.{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream, handler
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_json_line_carries_service_logger_trace_span_and_request_ids(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.formatter("router", "json"))
    trace = TRACEPARENT.set(TRACEPARENT_VALUE)
    request = logs.REQUEST_ID.set("req-42")
    try:
        logger.info("catalog loaded", extra={"tools": 3})
    finally:
        TRACEPARENT.reset(trace)
        logs.REQUEST_ID.reset(request)
    entry = json.loads(lines(stream)[0])
    assert entry["service"] == "router"
    assert entry["logger"] == logger.name
    assert entry["level"] == "info"
    assert entry["msg"] == "catalog loaded"
    assert entry["trace_id"] == TRACE
    assert entry["span_id"] == SPAN
    assert entry["request_id"] == "req-42"
    assert entry["tools"] == 3
    assert entry["ts"].endswith("Z")


def test_without_a_trace_context_there_are_no_trace_fields(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.formatter("edge", "json"))
    logger.info("hello")
    entry = json.loads(lines(stream)[0])
    assert "trace_id" not in entry and "request_id" not in entry


def test_a_malformed_traceparent_gives_no_ids() -> None:
    assert logs.trace_ids("00-short-ids-01") is None
    assert logs.trace_ids(None) is None
    assert logs.trace_ids(TRACEPARENT_VALUE) == (TRACE, SPAN)


def test_a_text_line_has_the_message_then_the_ids(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.formatter("edge", "text"))
    trace = TRACEPARENT.set(TRACEPARENT_VALUE)
    try:
        logger.warning("slow upstream", extra={"gateway": "demo"})
    finally:
        TRACEPARENT.reset(trace)
    (line,) = lines(stream)
    assert " warning edge " in line
    assert "slow upstream" in line
    assert f"trace_id={TRACE}" in line and "gateway=demo" in line


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_tokens_and_authorization_values_are_never_written(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler], fmt: str
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(logs.formatter("edge", fmt))
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    logger.info(
        "header was Authorization: Bearer s3cr3t-value and %s",
        jwt,
        extra={"access_token": "t0ps3cret", "authorization": "Basic dXNlcjpwYXNz", "tokens": 2},
    )
    written = stream.getvalue()
    for secret in ("s3cr3t-value", "t0ps3cret", "dXNlcjpwYXNz", jwt):
        assert secret not in written
    assert logs.REDACTED in written
    # A count named like a secret's plural is not one.
    assert ("tokens=2" in written) if fmt == "text" else json.loads(written)["tokens"] == 2


def test_setup_installs_the_chosen_format_on_the_root_logger() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        logs.setup("registry", "info", "json")
        assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
        logs.setup("registry", "info", "text")
        assert isinstance(root.handlers[0].formatter, logs.TextFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
        logging.captureWarnings(False)
