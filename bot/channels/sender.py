"""The sender of one channel: delivers the outbox's replies, many chats at once, one chat's in order.

A turn commits its replies to the outbox with the state they come from (bot/storage.py); this task sends them,
so a reply outlives a restart: what is not delivered when the process stops is sent by the next one (or by
another worker: rows are leased, see bot/outbox.py). Each reply is deleted once delivered; a long reply split
into several messages records how many went out, so a retry does not send them twice.

A send whose answer was lost (a timeout after the request went out) may have reached the person. Each message
carries a tag (`_tag`); a service that reports deliveries by it (WhatsApp's status webhooks, kept as receipts by
the webhook) lets a retry skip what already got there, so the person does not get it twice.

Retries are scheduled in the database rather than in a loop in memory (which is why no retry library such as
tenacity or stamina is used here: their loops die with the process). A flood limit (429) waits as long as the
service asks; 5xx and network errors back off exponentially; a message the service refuses for good (400,
403) is dropped with a log line. A reply older than `max_age` (default 24 h, WhatsApp's customer service
window) is dropped too. Deliveries, retries and drops are counted, logged, and shown by /healthz.

The sender also runs the channel's reminders (bot/reminders.py) every `remind_every` seconds, from its start:
they queue the reminders due in the outbox, which it then delivers like any reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.addresses import AddressCipher, UnreadableAddress
from bot.channels.retry import backoff
from bot.database_health import unwritable
from bot.outbox import OutboxQueue, Pending
from bot.replies import Reply

__all__ = ["OutboxSender", "Transport"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
CHATS_AT_ONCE = 64  # chats being delivered at once (the transport bounds the requests in flight)
POLL_SECONDS = 1.0
CLAIM_INTERVAL = 0.03  # wakes within this are served by one claim (a claim scans the outbox)


class Transport(Protocol):
    """How one chat service takes a reply."""

    def parts(self, reply: Reply) -> Sequence[Any]:
        """The messages a reply becomes (split text, buttons…), in order."""
        ...

    async def send(self, address: str, part: Any, tag: str = "") -> None:
        """Send one message; raise on failure. `tag` names it for the service's delivery receipts, if it has
        them (WhatsApp's status webhooks): see `OutboxSender._deliver`."""
        ...

    def retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again after `exc`; None if the service refused the message for good."""
        ...


def _tag(row: Pending, number: int) -> str:
    """The name of a reply's `number`-th message for delivery receipts: the row's id and creation time (an id
    SQLite gives again after a delete is not the same tag) and the part."""
    return f"ruta:{row.id}.{round(row.created_at.timestamp() * 1000)}.{number}"


class OutboxSender:
    """Delivers one channel's outbox rows until stopped."""

    def __init__(
        self,
        queue: OutboxQueue,
        cipher: AddressCipher,
        channel: str,
        transport: Transport,
        max_age: timedelta = timedelta(hours=24),
        reminders: Callable[[], int] | None = None,
        remind_every: float = 60.0,
    ) -> None:
        self.queue, self.cipher, self.channel, self.transport, self.max_age = queue, cipher, channel, transport, max_age
        self.reminders, self.remind_every = reminders, remind_every
        self.counts: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=f"{self.channel}-sender")

    def wake(self) -> None:
        """New replies were committed: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        next_reminders, failures = 0.0, 0
        while True:
            if self.reminders is not None and time.monotonic() >= next_reminders:
                next_reminders = time.monotonic() + self.remind_every
                await asyncio.to_thread(self._remind, self.reminders)  # database work: not on the event loop
            try:
                self._claim()
                failures = 0
            except Exception as exc:  # the database is away, read-only or full: look again later and later
                failures += 1
                if unwritable(exc) is None:  # else logged once, by its condition (bot/database_health.py)
                    logger.error("outbox claim failed", extra={"event": "outbox_error", "error": type(exc).__name__})
            await self._pause(failures)

    async def _pause(self, failures: int) -> None:
        """Until the next claim: the poll or a wake; after failed claims, a growing wait that wakes do not cut."""
        self._wake.clear()
        if failures:
            await asyncio.sleep(backoff(failures, POLL_SECONDS / 2))
            return
        try:
            async with asyncio.timeout(POLL_SECONDS):
                await self._wake.wait()
        except TimeoutError:
            pass
        await asyncio.sleep(CLAIM_INTERVAL)

    def _remind(self, reminders: Callable[[], int]) -> None:
        try:
            queued = reminders()
        except Exception as exc:  # the database is away for a moment: the next look finds them still due
            if unwritable(exc) is None:
                logger.error("reminders failed", extra={"event": "reminders_error", "error": type(exc).__name__})
            return
        if queued:
            self.counts["reminders"] += queued
            logger.info(
                "reminders queued", extra={"event": "reminders_queued", "channel": self.channel, "received": queued}
            )

    def _claim(self) -> None:
        room = CHATS_AT_ONCE - len(self._busy)
        if room <= 0:
            return
        for rows in self.queue.claim(self.channel, room, set(self._busy)):
            key = rows[0].user_key
            task = asyncio.create_task(self._deliver_chat(rows))
            self._busy[key] = task
            task.add_done_callback(partial(self._done, key))

    def _done(self, key: str, _task: asyncio.Task[None] | None = None) -> None:
        self._busy.pop(key, None)
        self._wake.set()

    async def _deliver_chat(self, rows: list[Pending]) -> None:
        """Send one chat's rows in order; stop at the first that must wait (the rest wait behind it). At the end,
        also when the sender is stopped half way, the rows settled are deleted together and the others freed."""
        settled: list[int] = []
        leased = time.monotonic()
        try:
            for index, row in enumerate(rows):
                if time.monotonic() - leased > self.queue.lease.total_seconds() / 2:
                    self.queue.renew([later.id for later in rows[index:]])
                    leased = time.monotonic()
                if not await self._deliver(row):
                    return
                settled.append(row.id)
        finally:
            self._settle(settled, [row.id for row in rows[len(settled) :]])

    def _settle(self, settled: list[int], freed: list[int]) -> None:
        """Delete the rows settled, free the others; if the database cannot be written, their lease runs out."""
        if self._recorded(self.queue.delivered, settled):
            self._recorded(self.queue.release, freed)

    async def _deliver(self, row: Pending) -> bool:
        """True when the row is settled (delivered or dropped); False when it waits for a retry."""
        if datetime.now(UTC) - row.created_at > self.max_age:
            return self._drop("too_old")
        try:
            address = self.cipher.decrypt(row.address)
        except UnreadableAddress:
            return self._drop("unreadable_address")
        parts = self.transport.parts(Reply.from_record(row.reply))
        tags = [_tag(row, number) for number in range(len(parts))]
        received = self._received(tags[row.sent_parts :]) if row.attempts or row.reclaimed else set()
        for number in range(row.sent_parts, len(parts)):
            if tags[number] in received:  # an earlier try got there, though its answer was lost
                continue
            try:
                await self.transport.send(address, parts[number], tag=tags[number])
            except Exception as exc:
                return self._failed(row, exc)
            if number + 1 < len(parts) and not self._recorded(self.queue.sent_part, row.id, number + 1):
                return False
        self.counts["delivered"] += 1
        return True

    def _received(self, tags: list[str]) -> set[str]:
        """Which of a retried reply's messages the service has receipts for (none if the database cannot say)."""
        return self._guarded(partial(self.queue.received, tags), set(), "receipts unreadable")

    def _recorded(self, write: Callable[..., None], *args: Any) -> bool:
        """Record a delivery's progress; False if the database cannot take it now (the chat then waits for its
        lease to run out, as after a crash)."""

        def recorded() -> bool:
            write(*args)
            return True

        return self._guarded(recorded, False, "outbox not recorded")

    @staticmethod
    def _guarded(call: Callable[[], T], fallback: T, what: str) -> T:
        """`call()`, or `fallback` if the database cannot be read or written now: logged as `what`, or once by
        its condition (a read-only database, a full disk: bot/database_health.py)."""
        try:
            return call()
        except Exception as exc:
            if unwritable(exc) is None:
                logger.error(what, extra={"event": "outbox_error", "error": type(exc).__name__})
            return fallback

    def _failed(self, row: Pending, exc: Exception) -> bool:
        wait = self.transport.retry_delay(exc, row.attempts)
        if wait is None:
            return self._drop(f"refused ({type(exc).__name__})")
        self._recorded(self.queue.retry_later, row.id, wait if wait > 0 else backoff(row.attempts), row.attempts + 1)
        self.counts["retried"] += 1
        retry = {"event": "outbox_retry", "channel": self.channel, "attempt": row.attempts + 1}
        logger.warning("send retried", extra=retry | {"error": type(exc).__name__})
        return False

    def _drop(self, reason: str) -> bool:
        """The row is given up on (deleted with the settled ones)."""
        self.counts["dropped"] += 1
        logger.warning("reply dropped", extra={"event": "outbox_drop", "channel": self.channel, "reason": reason})
        return True

    async def flush(self, seconds: float) -> bool:
        """Deliver what can be delivered within `seconds`; True if nothing deliverable is left."""
        try:
            async with asyncio.timeout(seconds):
                while self.queue.due_now(self.channel) or self._busy:
                    self.wake()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop claiming and sending; rows not delivered are freed and stay in the outbox for the next start."""
        tasks: list[asyncio.Task[None]] = [*self._busy.values(), *([self._loop] if self._loop else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        logger.info("outbox sender stopped", extra={"event": "outbox_stopped", "channel": self.channel, **self.counts})
