"""The engine as the channels use it: async, one conversation at a time per user, today in Chile's calendar.

The engine is synchronous. With the embedded NLU and SQLite a turn is about 1.5 ms of CPU and runs right in the
event loop: handing it to a thread costs more than it saves (measured: 150 vs 220 turns/s in
bench/telegram_bench.py). With a Rasa server or a database server a turn mostly waits on the network, so turns
run in a small thread pool and the loop keeps sending. A turn runs under the user's lock, so a chat's messages
are taken in the order they arrived while other chats go on at once; its replies go to the outbox, and the
channel's sender (bot/channels/sender.py, made here) delivers them in that order.

On PostgreSQL, where several workers may serve, a chat's order is the database's: each message takes a place in
its chat's line as it arrives (`Store.take_ticket`), its turn waits for the places before it, and the turn holds
the database's lock on the chat (`Store.turn_lock`). This process's lock on the user is held only while the place
is taken (see `_take_in_database_order`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.channels.ordering import KeyedLock
from bot.channels.sender import OutboxSender, Transport
from bot.engine import Engine
from bot.outbox import OutboxQueue
from bot.reminders import Reminders
from bot.settings import Settings

__all__ = ["ChannelEngine"]

logger = logging.getLogger(__name__)
WORKERS = 4
TURN_WAIT_SECONDS = 3.0  # a chat's line that does not move for this long lost a message with its worker
T = TypeVar("T")
DAY = timedelta(hours=24)


def _runs_locally(engine: Engine) -> bool:
    """Whether a turn never waits on the network: embedded NLU and SQLite (about 1.5 ms of CPU)."""
    return engine.nlu.name == "embedded" and engine.store.engine.dialect.name == "sqlite"


class ChannelEngine:
    """Async access to one engine for one channel (its own reply format), shared thread pool and ordering."""

    def __init__(
        self,
        engine: Engine,
        channel: str,
        timezone: str = "America/Santiago",
        max_age: timedelta = DAY,
        lease_seconds: float = 20.0,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.max_age = max_age  # a reply not delivered by then is dropped
        self.lease_seconds = lease_seconds  # how long a sender holds the replies it claimed (after a crash, too)
        self.zone = ZoneInfo(timezone)
        self.locks = KeyedLock()
        self._database_orders = engine.store.engine.dialect.name == "postgresql"  # see `_take_in_database_order`
        self._pool = None if _runs_locally(engine) else ThreadPoolExecutor(WORKERS, thread_name_prefix=channel)
        # places in line are taken and looked at in threads of their own: never queued behind turns being taken
        self._line = ThreadPoolExecutor(2, thread_name_prefix=f"{channel}-line") if self._database_orders else None
        # The route's PDF is made inside its turn; WeasyPrint takes about a second to load: not on the first PDF
        threading.Thread(target=importlib.import_module, args=("weasyprint",), daemon=True).start()

    def today(self) -> date:
        return datetime.now(self.zone).date()

    @asynccontextmanager
    async def conversation(self, user_id: str) -> AsyncIterator[None]:
        """Hold the user's turn: everything inside runs before the user's next message is handled. On PostgreSQL
        nothing is held here: the database orders the turns (see `take`)."""
        if self._database_orders:
            yield
            return
        async with self.locks.hold(user_id):
            yield

    @classmethod
    def configured(cls, engine: Engine, channel: str, settings: Settings) -> ChannelEngine:
        """The channel's engine with the settings' time zone, reply age limit and sender lease."""
        max_age = timedelta(hours=settings.outbox_max_age_hours)
        return cls(engine, channel, settings.timezone, max_age, settings.outbox_lease_seconds)

    def sender(self, transport: Transport) -> OutboxSender:
        """The outbox sender of this channel over `transport`, which also queues the channel's reminders."""
        engine = self.engine
        queue = OutboxQueue(engine.store, self.lease_seconds)
        reminders = Reminders(engine.store, engine.knowledge, self.channel, engine.fmt, engine.reminder_rules)
        return OutboxSender(
            queue,
            engine.addresses,
            self.channel,
            transport,
            self.max_age,
            reminders=lambda: reminders.queue_due(self.today()),
            remind_every=engine.reminder_rules.check_every_seconds,
        )

    async def take(self, user_id: str, text: str | None, message_id: str) -> bool:
        """Take the turn of one message (text None: a voice note, photo…); its replies wait in the outbox for the
        sender. False if the message was taken before. Raises SQLAlchemyError if nothing could be stored."""
        kind = "text" if text is not None else "unsupported"
        if self._database_orders:
            return await self._take_in_database_order(user_id, text, message_id, kind)
        turn = partial(self.engine.take, self.channel, user_id, text, message_id, self.today())
        return await self._run(turn, kind)

    async def _take_in_database_order(self, user_id: str, text: str | None, message_id: str, kind: str) -> bool:
        """PostgreSQL: the message takes its place in the chat's line the moment it arrives (a short write, under
        this process's lock on the user, so this worker's own messages keep their order too), then its turn waits,
        off any thread, until the places before it are served, whichever worker holds them. A place whose message
        died with its worker is passed over (see `_wait_for_turn`)."""
        store, key = self.engine.store, self.engine.user_key(self.channel, user_id)
        async with self.locks.hold(user_id):
            ticket = await self._call(partial(store.take_ticket, key))
        assert ticket is not None  # always one on PostgreSQL
        issued, served = ticket
        turn = partial(self.engine.take, self.channel, user_id, text, message_id, self.today(), issued)
        taken = False
        try:
            if served < issued - 1:
                await self._wait_for_turn(key, issued, served)
            taken = await self._run(turn, kind)
        finally:
            if not taken:  # taken before, or nothing stored: the place is not held up for the next message
                with contextlib.suppress(SQLAlchemyError):
                    await self._call(partial(store.pass_turn, key, issued))
        return taken

    async def _wait_for_turn(self, key: str, place: int, served: int) -> None:
        """Until every place before `place` is served (or the line is erased); looks again and again less often,
        up to every 0.1 s. A line that did not move for TURN_WAIT_SECONDS per place still ahead lost messages with
        their worker: the message then passes over every place before its own. The first message waiting behind
        them does it first, so the messages behind keep their order, and each lost message holds its chat up
        for TURN_WAIT_SECONDS (if it is only slow, the turn lock still keeps the two turns apart)."""
        moved, pause = time.monotonic(), 0.005
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            now = await self._call(partial(self.engine.store.served, key))
            if now is None or now >= place - 1:
                return
            if now != served:
                moved, served = time.monotonic(), now
            elif time.monotonic() - moved > TURN_WAIT_SECONDS * (place - 1 - now):
                logger.warning("turn passed over", extra={"event": "turn_overdue", "channel": self.channel})
                await self._call(partial(self.engine.store.pass_turn, key, place - 1))
                return

    async def _call(self, function: Callable[[], T]) -> T:
        """A short database call about a chat's line, in the line's threads (PostgreSQL)."""
        return await asyncio.get_running_loop().run_in_executor(self._line, function)

    async def _run(self, turn: Callable[[], bool], kind: str) -> bool:
        started = time.perf_counter()
        if self._pool is None:
            result = turn()
        else:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, turn)
        logger.info(
            "turn",
            extra={
                "event": "turn",
                "channel": self.channel,
                "kind": kind,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return result

    def close(self) -> None:
        for pool in (self._pool, self._line):
            if pool is not None:
                pool.shutdown(wait=True)
