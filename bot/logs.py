"""Structured logs: one JSON object per line, with the event's fields and never a user identifier.

Code logs with `extra={"event": ..., ...}`; only the fields listed in FIELDS are written, so a chat id or a
phone number passed by mistake never reaches the log. Libraries that log URLs with tokens (httpx) are quieted.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType

import orjson

__all__ = ["FIELDS", "JsonFormatter", "configure_logging"]

FIELDS = (
    "event",
    "channel",
    "kind",
    "replies",
    "ms",
    "call",
    "attempt",
    "error",
    "reason",
    "method",
    "path",
    "status",
    "bytes",
    "received",
)
QUIET = ("httpx", "httpcore", "telegram", "apscheduler", "uvicorn.access", "alembic")


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", <whitelisted fields>, "exception"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["where"] = _where(record.exc_info[2])
        return orjson.dumps(entry, default=str).decode()


def _where(trace: TracebackType | None) -> str:
    """File and line where an exception was raised (its message may quote user text, so it is not logged)."""
    frames = traceback.extract_tb(trace)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
