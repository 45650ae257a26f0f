"""Logging setup: one line per record on stderr, JSON or plain text (`FORGE_LOG_FORMAT`), tagged
with the service name, the trace and span ids of the request being handled and its request id.
Values under names that hold secrets (tokens, Authorization headers) are never written."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time

import msgspec

from forge.core.bus import TRACEPARENT

# The id of the envelope being handled (set where envelopes are answered, forge.core.rpc).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_ENC = msgspec.json.Encoder()
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
REDACTED = "[redacted]"
# An extra field whose name ends in one of these words is written as REDACTED.
_SECRET_NAMES = ("authorization", "token", "secret", "password", "cookie", "api_key", "apikey")
# Credentials that may sit inside a message or a value: an Authorization header's value, a JWT.
_CREDENTIALS = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+|\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
)


def secret_name(name: str) -> bool:
    return name.lower().replace("-", "_").endswith(_SECRET_NAMES)


def scrub(text: str) -> str:
    """`text` with bearer credentials and JWTs replaced by REDACTED."""
    if "eyJ" not in text and "earer" not in text and "asic" not in text:
        return text  # the common case, without running the expression
    return _CREDENTIALS.sub(REDACTED, text)


def trace_ids(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or None."""
    if traceparent is None or len(traceparent) < 55:
        return None
    parts = traceparent.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return parts[1], parts[2]


def _timestamp(record: logging.LogRecord) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z"
    )


def _context() -> dict[str, str]:
    found: dict[str, str] = {}
    ids = trace_ids(TRACEPARENT.get())
    if ids is not None:
        found["trace_id"], found["span_id"] = ids
    request_id = REQUEST_ID.get()
    if request_id is not None:
        found["request_id"] = request_id
    return found


def _extras(record: logging.LogRecord) -> dict[str, object]:
    extras: dict[str, object] = {}
    for key, value in vars(record).items():
        if key in _STANDARD:
            continue
        if secret_name(key):
            extras[key] = REDACTED
        else:
            extras[key] = (
                value
                if isinstance(value, int | float | bool)
                else scrub(value if isinstance(value, str) else repr(value))
            )
    return extras


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, the request's trace
    and span ids and request id when known, then the record's extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        entry.update(_context())
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENC.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """`<time> <level> <service> <logger>: <message> key=value ...`, for people at a terminal."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = {**_context(), **_extras(record)}
        tail = "".join(f" {key}={value}" for key, value in fields.items())
        line = (
            f"{_timestamp(record)} {record.levelname.lower():<7} {self.service} {record.name}: "
            f"{scrub(record.getMessage())}{tail}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(service: str, fmt: str = "text") -> logging.Formatter:
    return JsonFormatter(service) if fmt == "json" else TextFormatter(service)


def setup(service: str, level: str = "info", fmt: str = "text") -> None:
    """Send every record to stderr in `fmt` ("json" or "text") at `level` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(service, fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warning is a line in the same format
    # Chatty libraries stay at warning unless asked for debug.
    if level.lower() != "debug":
        for name in ("nats", "hypercorn.access", "asyncio", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
