"""Whether the database can be written: a full disk or a read-only database, named once in the log.

A write that fails because the database is read-only, its disk is full or the disk fails is logged as one line,
`{"event": "database_unwritable", "reason": "read-only" | "disk full" | "disk I/O error"}`, when the condition
starts (not a traceback per message); `database_writable` says when a write commits again. The callers only
decide what the person gets (the engine's kind reply, a 503 the service delivers again, a sender that backs off)
and use `unwritable` to leave the logging to this module. /healthz shows `DatabaseHealth.problem`.

A connection SQLite opened while the file was read-only stays read-only after the file is writable again, so
that error also makes SQLAlchemy drop the pool's connections (as on a lost server), and until a write commits
again every connection is used once: the first write after the condition clears gets a new one.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError

__all__ = ["DISK_FULL", "READ_ONLY", "DatabaseHealth", "unwritable", "watch_writes"]

logger = logging.getLogger(__name__)
READ_ONLY = "read-only"
DISK_FULL = "disk full"
DISK_ERROR = "disk I/O error"
# SQLite's primary result codes, and PostgreSQL's SQLSTATEs, for each condition.
_SQLITE_CODES = {8: READ_ONLY, 13: DISK_FULL, 10: DISK_ERROR}
_SQLSTATES = {"25006": READ_ONLY, "53100": DISK_FULL, "58030": DISK_ERROR}
_MESSAGES = {"readonly database": READ_ONLY, "disk is full": DISK_FULL, "disk i/o error": DISK_ERROR}
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_WROTE, _COMMITTED, _USED = "ruta_wrote", "ruta_committed", "ruta_used"  # keys of a pooled connection's `info`


def unwritable(exc: BaseException) -> str | None:
    """The condition `exc` (or the driver's error it wraps) reports: READ_ONLY, DISK_FULL, DISK_ERROR or None."""
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_CODES:
        return _SQLITE_CODES[code & 0xFF]
    if (state := getattr(error, "sqlstate", None)) in _SQLSTATES:
        return _SQLSTATES[state]
    message = str(error).lower()
    return next((reason for text, reason in _MESSAGES.items() if text in message), None)


class DatabaseHealth:
    """The database's writability as the latest write found it; logs when it changes."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self._lock = threading.Lock()

    def failed(self, reason: str) -> None:
        with self._lock:
            changed, self.problem = reason != self.problem, reason
        if changed:
            logger.error("the database cannot be written", extra={"event": "database_unwritable", "reason": reason})

    def wrote(self) -> None:
        with self._lock:
            previous, self.problem = self.problem, None
        if previous is not None:
            logger.warning("the database can be written", extra={"event": "database_writable", "reason": previous})


def watch_writes(engine: Engine) -> DatabaseHealth:
    """Follow the writes of `engine`: failures name their condition, a committed write clears it."""
    health = DatabaseHealth()
    event.listen(engine, "handle_error", partial(_on_error, health))
    event.listen(engine, "after_cursor_execute", _on_execute)
    event.listen(engine, "commit", _on_commit)
    event.listen(engine, "rollback", _on_rollback)
    event.listen(engine.pool, "checkin", partial(_on_checkin, health))
    event.listen(engine.pool, "checkout", partial(_on_checkout, health))
    return health


def _on_error(health: DatabaseHealth, context: ExceptionContext) -> None:
    if context.connection is not None:
        _on_rollback(context.connection)
    reason = unwritable(context.original_exception)
    if reason is None:
        return
    health.failed(reason)
    if reason == READ_ONLY:
        context.is_disconnect = True  # the pool's connections are opened again (see the module's docstring)
        cursor = getattr(context.execution_context, "cursor", None)
        if cursor is not None:  # closed here, as SQLAlchemy does not on a disconnect: a statement left open
            cursor.close()  # would keep SQLite's read-only connection alive after it is closed


def _on_execute(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        connection.info[_WROTE] = True


def _on_commit(connection: Any) -> None:
    """Called before the commit is sent: whether it succeeded is known when the connection goes back to the pool
    (a commit that fails goes through `_on_error` first)."""
    if connection.info.pop(_WROTE, False):
        connection.info[_COMMITTED] = True


def _on_rollback(connection: Any) -> None:
    if not connection.invalidated:  # an invalidated connection has no pooled connection (nor `info`) left
        connection.info.pop(_WROTE, None)
        connection.info.pop(_COMMITTED, None)


def _on_checkout(health: DatabaseHealth, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """While the database is read-only, a connection is used once: one opened read-only (to read meanwhile) would
    still refuse to write once the condition clears."""
    if health.problem == READ_ONLY and record.info.get(_USED):
        raise DisconnectionError("opened while the database was read-only")  # the pool opens another
    record.info[_USED] = True


def _on_checkin(health: DatabaseHealth, _dbapi_connection: Any, record: Any) -> None:
    if record is not None and record.info.pop(_COMMITTED, False):
        health.wrote()
