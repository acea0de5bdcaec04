"""The outbox as the senders use it: claim chats' due replies, record what was sent, reschedule, drop.

A claim is a lease (`claimed_until`): a row claimed by one sender is not claimed by another until the lease
runs out, so several processes can send from one database and a sender that dies frees its rows by itself.
One chat's rows are claimed together and sent in order; a row that must wait holds back the rows after it.

Rows delivered while the database is away (a server restarting) cannot be deleted at once: the queue remembers
them and deletes them before its next claim. They stay leased to this sender meanwhile, so no sender takes them
again, unless the database stays away for longer than the lease (then they are sent again: at least once).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.storage import DeliveryReceipt, OutboxRow, ProcessedMessage, Store

__all__ = ["OutboxQueue", "Pending"]

_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]
_PROCESSED: Table = ProcessedMessage.__table__  # type: ignore[assignment]
_RECEIPTS: Table = DeliveryReceipt.__table__  # type: ignore[assignment]
SCAN = 2_000  # rows looked at per claim


@dataclass(frozen=True)
class Pending:
    """One reply to send: where (encrypted), what, and how far it got."""

    id: int
    user_key: str
    address: str
    reply: dict[str, Any]
    sent_parts: int
    attempts: int
    created_at: datetime
    reclaimed: bool = False  # its last sender's lease ran out: that sender may have sent it before it stopped


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives datetimes back without their zone: they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class OutboxQueue:
    """Claims and settles outbox rows of one database."""

    def __init__(self, store: Store, lease_seconds: float = 20.0) -> None:
        self.store = store
        self.engine = store.engine
        self.lease = timedelta(seconds=lease_seconds)
        self._undeleted: set[int] = set()  # rows delivered whose deletion failed (see `delivered`)

    def claim(self, channel: str, max_chats: int, busy: set[str]) -> list[list[Pending]]:
        """Up to `max_chats` chats whose oldest reply is due and free (not in `busy`), each with all its rows.

        The scan reads ids and schedule only; the replies are read for the rows leased. Rows delivered whose
        deletion failed are deleted first (a database still away raises here, before anything is claimed)."""
        self._delete_undeleted()
        now = datetime.now(UTC)
        columns = (_OUTBOX.c.id, _OUTBOX.c.user_key, _OUTBOX.c.not_before, _OUTBOX.c.claimed_until)
        query = (
            select(*columns)
            .where(_OUTBOX.c.channel == channel, _OUTBOX.c.address.is_not(None))
            .order_by(_OUTBOX.c.id)
            .limit(SCAN)
        )
        with self.engine.begin() as connection:
            chats: dict[str, list[Any]] = {}
            for row in connection.execute(query):
                chats.setdefault(row.user_key, []).append(row)
            leased: list[int] = []
            taken = 0
            for key, rows in chats.items():
                if taken >= max_chats:
                    break
                if key in busy or not _free(rows[0], now):
                    continue
                ids = [row.id for row in rows]
                if self._lease(connection, ids, now):
                    leased += ids
                    taken += 1
            if not leased:
                return []
            expired = {row.id for rows in chats.values() for row in rows if row.claimed_until is not None}
            claimed: dict[str, list[Pending]] = {}
            for row in connection.execute(select(_OUTBOX).where(_OUTBOX.c.id.in_(leased)).order_by(_OUTBOX.c.id)):
                claimed.setdefault(row.user_key, []).append(_pending(row, row.id in expired))
        return list(claimed.values())

    def _lease(self, connection: Any, ids: list[int], now: datetime) -> bool:
        """Lease all of one chat's rows, or none: a chat another sender leased part of since the scan is left.

        On PostgreSQL the rows are first locked with `FOR UPDATE SKIP LOCKED`: a chat whose rows another sender
        is leasing at this moment is skipped at once instead of waited for, and the rows locked and found free
        cannot be leased by anyone else before this transaction ends. Elsewhere (SQLite) the conditional UPDATE
        decides, and the rows it leased of a chat it could not take whole are given back."""
        mine, free = _OUTBOX.c.id.in_(ids), _OUTBOX.c.claimed_until.is_(None) | (_OUTBOX.c.claimed_until <= now)
        if connection.dialect.name == "postgresql":
            locked = connection.execute(select(_OUTBOX.c.id).where(mine, free).with_for_update(skip_locked=True))
            if len(locked.all()) != len(ids):
                return False
        until = now + self.lease
        if connection.execute(update(_OUTBOX).where(mine, free).values(claimed_until=until)).rowcount == len(ids):
            return True
        connection.execute(update(_OUTBOX).where(mine, _OUTBOX.c.claimed_until == until).values(claimed_until=None))
        return False

    def sent_part(self, row_id: int, parts: int) -> None:
        self._update([row_id], sent_parts=parts)

    def delivered(self, ids: list[int]) -> None:
        """Delete rows delivered, or given up on (the caller logs and counts those). If that fails (the database
        is away), the rows are remembered and deleted by the next claim, while their lease keeps other senders
        off them; the error is raised all the same."""
        try:
            self.store.delivered(ids)
        except Exception:
            self._undeleted.update(ids)
            raise

    def _delete_undeleted(self) -> None:
        if self._undeleted:
            ids = sorted(self._undeleted)
            self.store.delivered(ids)
            self._undeleted.difference_update(ids)

    def retry_later(self, row_id: int, seconds: float, attempts: int) -> None:
        due = datetime.now(UTC) + timedelta(seconds=seconds)
        self._update([row_id], not_before=due, attempts=attempts, claimed_until=None)

    def renew(self, ids: list[int]) -> None:
        """Extend the lease of rows still being sent (a slow service must not let another sender take them)."""
        self._update(ids, claimed_until=datetime.now(UTC) + self.lease)

    def release(self, ids: list[int]) -> None:
        self._update(ids, claimed_until=None)

    def _update(self, ids: list[int], **values: Any) -> None:
        if ids:
            with self.engine.begin() as connection:
                connection.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(**values))

    def depth(self) -> tuple[int, float | None]:
        """Rows waiting, and the age in seconds of the oldest (None when empty)."""
        with self.engine.connect() as connection:
            count, oldest = connection.execute(select(func.count(), func.min(_OUTBOX.c.created_at))).one()
        since = _aware(oldest)
        return int(count), None if since is None else round((datetime.now(UTC) - since).total_seconds(), 1)

    def due_now(self, channel: str) -> int:
        """Rows of this channel a sender can deliver now (they have an address and wait for no retry)."""
        now = datetime.now(UTC)
        due = _OUTBOX.c.not_before.is_(None) | (_OUTBOX.c.not_before <= now)
        query = select(func.count()).where(_OUTBOX.c.channel == channel, _OUTBOX.c.address.is_not(None), due)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def prune_processed(self, before: datetime) -> int:
        """Forget the ids of messages processed, and the receipts of messages sent, before `before` (services stop
        re-delivering long before, and a reply is dropped after a day)."""
        with self.engine.begin() as connection:
            connection.execute(delete(_RECEIPTS).where(_RECEIPTS.c.received_at < before))
            return int(connection.execute(delete(_PROCESSED).where(_PROCESSED.c.processed_at < before)).rowcount)

    def record_receipts(self, tags: list[str]) -> None:
        """The service has these messages (a tag seen again is kept once)."""
        new = sorted(set(tags) - self.received(tags))
        if not new:
            return
        with suppress(IntegrityError), self.engine.begin() as connection:  # another worker just kept it
            connection.execute(insert(_RECEIPTS), [{"tag": tag, "received_at": datetime.now(UTC)} for tag in new])

    def received(self, tags: list[str] | set[str]) -> set[str]:
        """Which of these messages the service said it has."""
        with self.engine.connect() as connection:
            return set(connection.execute(select(_RECEIPTS.c.tag).where(_RECEIPTS.c.tag.in_(tags))).scalars())


def _free(row: Any, now: datetime) -> bool:
    not_before, claimed = _aware(row.not_before), _aware(row.claimed_until)
    return (not_before is None or not_before <= now) and (claimed is None or claimed <= now)


def _pending(row: Any, reclaimed: bool) -> Pending:
    created = _aware(row.created_at) or datetime.now(UTC)
    return Pending(row.id, row.user_key, row.address, row.reply, row.sent_parts, row.attempts, created, reclaimed)
