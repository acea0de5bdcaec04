"""Storage (SQLAlchemy 2): conversation state, finished diagnoses and undelivered replies, keyed by a pseudonym.

A turn is one transaction (`Store.commit_turn`): the new state, the diagnosis it completes and the replies to
deliver are written together or not at all, so a crash never leaves a conversation "done" without its diagnosis
or its route. Replies stay in the `outbox` table until the channel says they were delivered.

The schema is created and upgraded by the Alembic migrations in `bot/migrations` (run at start-up). Default:
a SQLite file; any SQLAlchemy URL through `RUTA_DATABASE_URL`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from bot.database_health import watch_writes

__all__ = [
    "AlreadyProcessed",
    "Base",
    "ConversationRow",
    "DeliveryReceipt",
    "DiagnosisRecord",
    "HandoffCodeRow",
    "NewDiagnosis",
    "NewReminder",
    "OutboxRow",
    "ProcessedMessage",
    "ReminderRow",
    "StaleConversation",
    "Store",
    "StoredConversation",
    "migrate",
]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_REVISION = "0009"  # the newest file in migrations/versions (a test keeps them equal)


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    """The state of one conversation; `key` is an HMAC of the channel and its user id."""

    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 on every write


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


class OutboxRow(Base):
    """One reply written by a turn and not yet delivered (deleted once it is).

    `address` is where to send it (chat id, phone number), encrypted (bot/addresses.py); None when the
    channel delivers replies as the turn returns (the console). `sent_parts` counts the messages of a long or
    split reply already sent; `not_before` and `claimed_until` schedule retries and keep two senders apart."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_parts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessedMessage(Base):
    """An inbound message already taken (a keyed digest of its id: a WhatsApp id holds the phone number)."""

    __tablename__ = "processed_messages"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    message: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DeliveryReceipt(Base):
    """A chat service said it has a message the outbox sent (WhatsApp's status webhook, by the tag the message
    carried): a send whose answer was lost is then not sent again (bot/channels/sender.py). Pruned by age with
    `processed_messages`."""

    __tablename__ = "delivery_receipts"

    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReminderRow(Base):
    """One instrument whose calls a person asked to be reminded of (bot/reminders.py). `address` is where to write
    (encrypted, bot/addresses.py); `commune` picks the office; `opened` names the call whose opening was reminded.
    Deleted with the closing reminder, on "ya no quiero avisos" and on /borrar."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("user_key", "instrument", name="uq_reminders_user_instrument"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    instrument: Mapped[str] = mapped_column(String(64), index=True)
    commune: Mapped[str | None] = mapped_column(String(32), nullable=True)
    opened: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TurnOrderRow(Base):
    """Where one chat's line of messages stands, on PostgreSQL (see `Store.take_ticket`): `issued` places were
    given to messages as they reached any worker, and the turns of the first `served` are taken. Only the
    pseudonym and two counters; deleted on /borrar and by the retention purge."""

    __tablename__ = "turn_order"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued: Mapped[int] = mapped_column(BigInteger)
    served: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class HandoffCodeRow(Base):
    """A code a person shows a human advisor (bot/handoffs.py): it leads to their conversation's pseudonym and to
    nothing else. Deleted on /borrar, with the conversation by the retention purge, and `EXPIRED_CODES_KEPT`
    after it expired (until then staff who type it are told it expired, and when)."""

    __tablename__ = "handoff_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


EXPIRED_CODES_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class NewReminder:
    """An instrument to remind; `opened` names its call when it is open already (the route just said so)."""

    instrument: str
    commune: str | None
    opened: str | None = None


@dataclass(frozen=True)
class StoredConversation:
    """A conversation's state and the version it was read at (None: no conversation yet)."""

    state: dict[str, Any]
    version: int | None


@dataclass(frozen=True)
class NewDiagnosis:
    """A diagnosis to keep with the turn that completes it."""

    answers: dict[str, Any]
    results: dict[str, Any]
    kb_version: str


@dataclass(frozen=True)
class _StateChange:
    """What a turn changes besides its replies: the state read, the state to write, the diagnosis it completes."""

    read: StoredConversation
    state: dict[str, Any]
    diagnosis: NewDiagnosis | None
    reminders: list[NewReminder] | None = None  # replace the person's reminders with these ([]: none)


class AlreadyProcessed(Exception):
    """The inbound message was taken before (a service delivering it again): nothing was written."""


class StaleConversation(Exception):
    """The conversation was written by someone else since it was read: the turn must be taken again."""


_CONVERSATIONS: Table = ConversationRow.__table__  # type: ignore[assignment]
_DIAGNOSES: Table = DiagnosisRecord.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]
_PROCESSED: Table = ProcessedMessage.__table__  # type: ignore[assignment]
_REMINDERS: Table = ReminderRow.__table__  # type: ignore[assignment]
_TURN_ORDER: Table = TurnOrderRow.__table__  # type: ignore[assignment]


# The turn's lock on PostgreSQL: transaction-scoped, so a commit, a rollback or a connection lost (a worker killed,
# the server restarted) releases it; keyed by the pseudonym (two chats sharing a 64-bit hash only wait on each other)
_TURN_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def _serve(key: str, place: int) -> Any:
    """The statement marking a chat's places up to `place` served."""
    order = _TURN_ORDER.c
    return update(_TURN_ORDER).where(order.key == key, order.served < place).values(served=place)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _options(url: str) -> dict[str, Any]:
    """Engine options by database. A server (PostgreSQL): each pooled connection is tested before use, so a
    restarted server does not fail the first request after it, and sessions run in UTC, so datetimes come back
    in UTC as SQLite's (naive there) were written."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {}
    options: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "postgresql":
        options["connect_args"] = {"options": "-c timezone=UTC"}
    return options


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


def _undelivered(connection: Any, key: str | None) -> list[OutboxRow]:
    query = select(_OUTBOX).order_by(_OUTBOX.c.id)
    if key is not None:
        query = query.where(_OUTBOX.c.user_key == key)
    return [OutboxRow(**row._mapping) for row in connection.execute(query)]


def _replace_reminders(
    connection: Any, key: str, channel: str, address: str | None, reminders: list[NewReminder], now: datetime
) -> None:
    connection.execute(delete(_REMINDERS).where(_REMINDERS.c.user_key == key))
    if reminders and address is not None:
        values = {"user_key": key, "channel": channel, "address": address, "created_at": now}
        rows = [values | {"instrument": r.instrument, "commune": r.commune, "opened": r.opened} for r in reminders]
        connection.execute(insert(_REMINDERS), rows)


class Store:
    """Reads and writes conversations and diagnoses."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, json_serializer=_json_text, json_deserializer=orjson.loads, **_options(url))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.health = watch_writes(self.engine)  # a read-only database or a full disk: one log line, /healthz
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._turn = threading.local()  # `connection`: the transaction of the turn this thread holds (turn_lock)

    @contextmanager
    def turn_lock(self, key: str, place: int | None = None) -> Iterator[None]:
        """Hold the conversation `key` for one turn (its read, its decision, its write), across processes.

        On PostgreSQL this is one transaction holding an advisory lock on the pseudonym: another worker's turn of
        the same chat waits for this one to commit, then reads what it wrote. `load_conversation` and the turn's
        write (`commit_turn`, `queue_replies`) run in that transaction, which commits when the block ends and
        rolls back if it raises (a StaleConversation or AlreadyProcessed must leave the block). `place`, the
        message's place in its chat's line (`take_ticket`), is marked served last in the same transaction, so the
        next message's turn may start the moment this one commits.
        On SQLite nothing is locked here: one process serves, and its channels keep a chat's turns apart.

        What each mechanism guarantees: the places, that a chat's turns are taken in the order its messages
        reached any worker (bot/channels/turns.py waits for the place before); this lock, one turn of a chat at
        a time; the `version` column (StaleConversation), that a writer which did not take the lock (start-up's
        `finish_unfinished`, `save_state`) never overwrites a newer state; `processed_messages`, that a message
        delivered twice, to any worker, is taken once."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.begin() as connection:
            connection.execute(_TURN_LOCK, {"key": key})
            self._turn.connection = connection
            try:
                yield
            finally:
                self._turn.connection = None
            if place is not None:  # last: the line's row is locked from here to the commit, not during the turn
                connection.execute(_serve(key, place))

    def take_ticket(self, key: str) -> tuple[int, int] | None:
        """PostgreSQL: a place in the chat's line for a message that just arrived (1, 2, 3…, in the order they
        reached any worker) and how many places are served; None on SQLite (one process keeps the order)."""
        if self.engine.dialect.name != "postgresql":
            return None
        from sqlalchemy.dialects.postgresql import insert as upsert

        now = datetime.now(UTC)
        first = upsert(_TURN_ORDER).values(key=key, issued=1, served=0, updated_at=now)
        statement = first.on_conflict_do_update(
            index_elements=[_TURN_ORDER.c.key], set_={"issued": _TURN_ORDER.c.issued + 1, "updated_at": now}
        ).returning(_TURN_ORDER.c.issued, _TURN_ORDER.c.served)
        with self.engine.begin() as connection:
            row = connection.execute(statement).one()
        return int(row.issued), int(row.served)

    def served(self, key: str) -> int | None:
        """How many places of the chat's line are served (None: the line is gone, erased)."""
        with self.engine.connect() as connection:
            served = connection.execute(select(_TURN_ORDER.c.served).where(_TURN_ORDER.c.key == key)).scalar()
        return None if served is None else int(served)

    def pass_turn(self, key: str, place: int) -> None:
        """Mark `place` served without a turn (its message was taken before, or its turn failed)."""
        with self.engine.begin() as connection:
            connection.execute(_serve(key, place))

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """The held turn's connection, else a new one."""
        held = getattr(self._turn, "connection", None)
        if held is not None:
            yield held
            return
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The held turn's transaction (committed by `turn_lock`), else a transaction of its own."""
        held = getattr(self._turn, "connection", None)
        if held is not None:
            yield held
            return
        with self.engine.begin() as connection:
            yield connection

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The stored state of a conversation (Core query: this runs on every turn)."""
        with self.engine.connect() as connection:
            state = connection.execute(select(_CONVERSATIONS.c.state).where(_CONVERSATIONS.c.key == key)).scalar()
        return None if state is None else dict(state)

    def load_conversation(self, key: str) -> StoredConversation:
        """The state of a conversation with its version, for `commit_turn`."""
        query = select(_CONVERSATIONS.c.state, _CONVERSATIONS.c.version).where(_CONVERSATIONS.c.key == key)
        with self._reading() as connection:
            row = connection.execute(query).first()
        return StoredConversation({}, None) if row is None else StoredConversation(dict(row.state), row.version)

    def commit_turn(
        self,
        key: str,
        channel: str,
        read: StoredConversation,
        state: dict[str, Any],
        replies: list[dict[str, Any]],
        diagnosis: NewDiagnosis | None = None,
        *,
        address: str | None = None,
        message: str | None = None,
        reminders: list[NewReminder] | None = None,
    ) -> list[OutboxRow]:
        """Write one turn in one transaction: the inbound `message` (a digest of its id) as processed, the
        diagnosis it completes (its id goes into the state as `diagnosis_id`), the new state, the reminders
        asked for or stopped (`reminders`, replacing the person's; they need `address`) and its replies, to be
        sent to `address` (encrypted; None: the caller delivers them). Without an address, returns the
        conversation's undelivered replies, oldest first (earlier ones a crash kept from being delivered, then
        these); with one, nothing (a sender delivers them).

        Raises StaleConversation if the conversation changed since `read`, and AlreadyProcessed if the message
        was, writing nothing."""
        change = _StateChange(read, state, diagnosis, reminders)
        return self._write(key, channel, replies, address, message, change)

    def queue_replies(
        self,
        key: str,
        channel: str,
        replies: list[dict[str, Any]],
        *,
        address: str | None = None,
        message: str | None = None,
    ) -> list[OutboxRow]:
        """Like `commit_turn` for replies that change no state (a kind word after a failed turn, "borré tus
        datos")."""
        return self._write(key, channel, replies, address, message, None)

    def _write(
        self,
        key: str,
        channel: str,
        replies: list[dict[str, Any]],
        address: str | None,
        message: str | None,
        change: _StateChange | None,
    ) -> list[OutboxRow]:
        now = datetime.now(UTC)
        try:
            with self._writing() as connection:
                if message is not None:
                    connection.execute(insert(_PROCESSED).values(channel=channel, message=message, processed_at=now))
                if change is not None:
                    self._change_state(connection, key, change, now)
                    if change.reminders is not None:
                        _replace_reminders(connection, key, channel, address, change.reminders, now)
                if replies:
                    rows = [{"user_key": key, "channel": channel, "reply": r, "created_at": now} for r in replies]
                    connection.execute(insert(_OUTBOX), [row | {"address": address} for row in rows])
                return [] if address is not None else _undelivered(connection, key)
        except IntegrityError:
            if message is not None and self.processed(channel, message):
                raise AlreadyProcessed(message) from None
            raise

    def _change_state(self, connection: Any, key: str, change: _StateChange, now: datetime) -> None:
        """The diagnosis the turn completes (its id goes into the state), then the state itself."""
        state = change.state
        if change.diagnosis is not None:
            state = state | {"diagnosis_id": self._insert_diagnosis(connection, key, change.diagnosis, now)}
        self._write_state(connection, key, change.read.version, state, now)

    def processed(self, channel: str, message: str) -> bool:
        """Whether the inbound message (a digest of its id) was processed already."""
        query = select(_PROCESSED.c.message).where(_PROCESSED.c.channel == channel, _PROCESSED.c.message == message)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    @staticmethod
    def _insert_diagnosis(connection: Any, key: str, diagnosis: NewDiagnosis, now: datetime) -> int:
        values = {"user_key": key, "created_at": now, "consent": True, "answers": diagnosis.answers}
        values |= {"results": diagnosis.results, "kb_version": diagnosis.kb_version}
        return int(connection.execute(insert(_DIAGNOSES).values(values)).inserted_primary_key[0])

    @staticmethod
    def _write_state(connection: Any, key: str, version: int | None, state: dict[str, Any], now: datetime) -> None:
        values = {"state": state, "updated_at": now}
        if version is None:
            exists = connection.execute(select(_CONVERSATIONS.c.key).where(_CONVERSATIONS.c.key == key)).first()
            if exists is not None:
                raise StaleConversation(key)
            connection.execute(insert(_CONVERSATIONS).values(key=key, version=1, **values))
            return
        current = (_CONVERSATIONS.c.key == key) & (_CONVERSATIONS.c.version == version)
        written = connection.execute(update(_CONVERSATIONS).where(current).values(version=version + 1, **values))
        if written.rowcount != 1:
            raise StaleConversation(key)

    def undelivered(self, key: str | None = None) -> list[OutboxRow]:
        """Replies not yet delivered, oldest first: one conversation's (`key`), or all."""
        with self.engine.connect() as connection:
            return _undelivered(connection, key)

    def delivered(self, ids: Sequence[int]) -> None:
        """Forget replies once delivered."""
        if ids:
            with self.engine.begin() as connection:
                connection.execute(delete(_OUTBOX).where(_OUTBOX.c.id.in_(list(ids))))

    def unfinished(self) -> list[str]:
        """Keys of conversations that say "done" but name no diagnosis (left by a crash or an older version)."""
        state = _CONVERSATIONS.c.state
        query = select(_CONVERSATIONS.c.key).where(
            state["phase"].as_string() == "done", state["diagnosis_id"].as_integer().is_(None)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def save_state(self, key: str, state: dict[str, Any]) -> None:
        """Update or insert the state of a conversation in one transaction."""
        values = {"state": state, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as connection:
            newer = {"version": _CONVERSATIONS.c.version + 1, **values}
            updated = connection.execute(update(_CONVERSATIONS).where(_CONVERSATIONS.c.key == key).values(newer))
            if updated.rowcount == 0:
                connection.execute(insert(_CONVERSATIONS).values(key=key, version=1, **values))

    def add_diagnosis(
        self,
        key: str,
        answers: dict[str, Any],
        results: dict[str, Any],
        kb_version: str,
        created_at: datetime | None = None,
    ) -> None:
        """Keep a finished diagnosis (made now, unless `created_at` says when)."""
        with self.engine.begin() as connection:
            self._insert_diagnosis(
                connection, key, NewDiagnosis(answers, results, kb_version), created_at or datetime.now(UTC)
            )

    def erase(self, key: str) -> None:
        """Delete everything kept about one user (conversation, diagnoses, undelivered replies, hand-off codes,
        reminders with their address)."""
        with self._sessions.begin() as session:
            session.execute(delete(ConversationRow).where(ConversationRow.key == key))
            session.execute(delete(DiagnosisRecord).where(DiagnosisRecord.user_key == key))
            session.execute(delete(OutboxRow).where(OutboxRow.user_key == key))
            session.execute(delete(HandoffCodeRow).where(HandoffCodeRow.user_key == key))
            session.execute(delete(ReminderRow).where(ReminderRow.user_key == key))
            session.execute(delete(TurnOrderRow).where(TurnOrderRow.key == key))

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
        table = _DIAGNOSES
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
        """Delete diagnoses made and conversations last touched before `before` (the retention rule), with the
        hand-off codes of the conversations deleted and those expired more than `EXPIRED_CODES_KEPT` ago.

        Returns how many conversations and diagnoses were deleted."""
        with self._sessions.begin() as session:
            conversations = session.execute(delete(ConversationRow).where(ConversationRow.updated_at < before))
            diagnoses = session.execute(delete(DiagnosisRecord).where(DiagnosisRecord.created_at < before))
            session.execute(delete(OutboxRow).where(OutboxRow.created_at < before))
            session.execute(delete(ReminderRow).where(ReminderRow.created_at < before))
            session.execute(delete(TurnOrderRow).where(TurnOrderRow.updated_at < before))
            orphan = HandoffCodeRow.user_key.not_in(select(ConversationRow.key))
            stale = HandoffCodeRow.expires_at < datetime.now(UTC) - EXPIRED_CODES_KEPT
            session.execute(delete(HandoffCodeRow).where(orphan | stale))
        return conversations.rowcount, diagnoses.rowcount  # type: ignore[attr-defined]

    def close(self) -> None:
        self.engine.dispose()
