"""Storage (SQLAlchemy 2): conversation state and finished diagnoses, keyed by a pseudonym, never a raw id.

The schema is created and upgraded by the Alembic migrations in `bot/migrations` (run at start-up). Default:
a SQLite file; any SQLAlchemy URL through `RUTA_DATABASE_URL`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = ["Base", "ConversationRow", "DiagnosisRecord", "Store", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_REVISION = "0004"  # the newest file in migrations/versions (a test keeps them equal)


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    """The state of one conversation; `key` is an HMAC of the channel and its user id."""

    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DiagnosisRecord(Base):
    """A finished diagnosis: the answers and the results only (no free text), with the consent given."""

    __tablename__ = "diagnoses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    consent: Mapped[bool] = mapped_column(Boolean)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)
    kb_version: Mapped[str] = mapped_column(String(32))


_CONVERSATIONS: Table = ConversationRow.__table__  # type: ignore[assignment]


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _current_revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (Alembic is imported only when there is work to do)."""
    if _current_revision(engine) == SCHEMA_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """Reads and writes conversations and diagnoses."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, json_serializer=_json_text, json_deserializer=orjson.loads)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The stored state of a conversation (Core query: this runs on every turn)."""
        with self.engine.connect() as connection:
            state = connection.execute(select(_CONVERSATIONS.c.state).where(_CONVERSATIONS.c.key == key)).scalar()
        return None if state is None else dict(state)

    def save_state(self, key: str, state: dict[str, Any]) -> None:
        """Update or insert the state of a conversation in one transaction."""
        values = {"state": state, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as connection:
            updated = connection.execute(update(_CONVERSATIONS).where(_CONVERSATIONS.c.key == key).values(values))
            if updated.rowcount == 0:
                connection.execute(insert(_CONVERSATIONS).values(key=key, **values))

    def add_diagnosis(
        self,
        key: str,
        answers: dict[str, Any],
        results: dict[str, Any],
        kb_version: str,
        created_at: datetime | None = None,
    ) -> None:
        """Keep a finished diagnosis (made now, unless `created_at` says when)."""
        with self._sessions.begin() as session:
            session.add(
                DiagnosisRecord(
                    user_key=key,
                    created_at=created_at or datetime.now(UTC),
                    consent=True,
                    answers=answers,
                    results=results,
                    kb_version=kb_version,
                )
            )

    def erase(self, key: str) -> None:
        """Delete everything kept about one user (conversation and diagnoses)."""
        with self._sessions.begin() as session:
            session.execute(delete(ConversationRow).where(ConversationRow.key == key))
            session.execute(delete(DiagnosisRecord).where(DiagnosisRecord.user_key == key))

    def diagnoses(self, key: str | None = None) -> list[DiagnosisRecord]:
        """Diagnosis records, oldest first: one user's (`key`), or everybody's."""
        with self._sessions() as session:
            query = select(DiagnosisRecord).order_by(DiagnosisRecord.id)
            if key is not None:
                query = query.where(DiagnosisRecord.user_key == key)
            return list(session.scalars(query))

    def diagnosis_rows(self, since: datetime | None = None) -> Sequence[Any]:
        """What analytics reads of every diagnosis made at or after `since` (no pseudonym), oldest first.

        A Core query: at 100,000 diagnoses it is several times faster than loading ORM objects."""
        table: Table = DiagnosisRecord.__table__  # type: ignore[assignment]
        columns = (table.c.created_at, table.c.consent, table.c.kb_version, table.c.answers, table.c.results)
        query = select(*columns).order_by(table.c.id)
        if since is not None:
            query = query.where(table.c.created_at >= since)
        with self.engine.connect() as connection:
            return connection.execute(query).all()

    def conversation_phases(self, since: datetime | None = None) -> Counter[str]:
        """How many conversations (touched at or after `since`) are in each phase: new, consent, form, done."""
        query = select(_CONVERSATIONS.c.state)
        if since is not None:
            query = query.where(_CONVERSATIONS.c.updated_at >= since)
        with self.engine.connect() as connection:
            return Counter(str(state.get("phase", "new")) for state in connection.execute(query).scalars())

    def purge(self, before: datetime) -> tuple[int, int]:
        """Delete diagnoses made and conversations last touched before `before` (the retention rule).

        Returns how many conversations and diagnoses were deleted."""
        with self._sessions.begin() as session:
            conversations = session.execute(delete(ConversationRow).where(ConversationRow.updated_at < before))
            diagnoses = session.execute(delete(DiagnosisRecord).where(DiagnosisRecord.created_at < before))
        return conversations.rowcount, diagnoses.rowcount  # type: ignore[attr-defined]

    def close(self) -> None:
        self.engine.dispose()
