"""Structured logs: one JSON object per line, with the event's fields and never a user identifier.

Code logs with `extra={"event": ..., ...}`; only the fields listed in FIELDS are written, so a chat id or a
phone number passed by mistake never reaches the log. Libraries that log URLs with tokens (httpx) are quieted.
Servers log to stderr; the console chat logs to a file under RUTA_HOME so nothing but the conversation reaches
its screen.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
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
    "delivered",
    "retried",
    "dropped",
    "state",
    "backend",
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


def configure_logging(level: str = "INFO", path: Path | None = None) -> None:
    """JSON lines for the whole process: appended to the file `path` (its folder is created), else on stderr.

    A file that cannot be opened leaves the logs on stderr (raises nothing: logging never stops a command)."""
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            pass
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
