"""Reminders of the calls on a person's route: kept when the person says yes, queued in the outbox when due.

A person who says yes after the route gets one row per program of the route that opens by calls, with the
address to write back to encrypted (bot/addresses.py, as in the outbox) and the commune, for the office.

`Reminders.queue_due` runs every `check_every_seconds` inside `ruta telegram` and `ruta serve` (the outbox
sender calls it) with the knowledge base serving at that moment, so a call whose dates staff changed reminds on
the new dates and a cancelled call reminds nobody (knowledge/reminders.py). For each program whose call opened,
or closes within `days_before_close` days, one transaction marks the rows reminded and writes the reminders to
the outbox: an UPDATE (opening) or a DELETE (closing: the last reminder, which deletes the address) with
RETURNING. Of two processes looking at once only one gets each row, and a reminder that fell due while the bot
was down goes out once at the next start. The outbox's sender then delivers it like any reply.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, delete, func, insert, select, update

from bot.domain import Button
from bot.render import Format, render_reminder
from bot.storage import NewReminder, OutboxRow, ReminderRow, Store
from knowledge import KnowledgeBase
from knowledge.reminders import CallEvent, call_event
from knowledge.route import office_for

__all__ = ["ReminderRules", "Reminders", "load_reminder_rules", "new_reminders"]

REMINDER_RULES_PATH = Path(__file__).parent / "reminders.yml"
_REMINDERS: Table = ReminderRow.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WhatsAppTemplate(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str


class ReminderRules(_Strict):
    """bot/reminders.yml: when reminders go out, the button under them, the WhatsApp template that carries them."""

    days_before_close: int = Field(ge=0, le=60)
    check_every_seconds: float = Field(gt=0)
    keep_days: int = Field(ge=1)
    button: Button
    whatsapp_template: WhatsAppTemplate


@cache
def load_reminder_rules(path: Path = REMINDER_RULES_PATH) -> ReminderRules:
    return ReminderRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def new_reminders(
    instruments: list[str], commune: str | None, kb: KnowledgeBase, today: date, rules: ReminderRules
) -> list[NewReminder]:
    """The rows for a person who said yes: a call open already is not announced as opening (the route said so)."""
    rows = []
    for instrument in instruments:
        event = call_event(kb, instrument, today, rules.days_before_close)
        rows.append(NewReminder(instrument, commune, event.call if event and event.kind == "opened" else None))
    return rows


class Reminders:
    """The reminders of one channel, queued in its outbox when due."""

    def __init__(
        self,
        store: Store,
        knowledge: Callable[[], KnowledgeBase],
        channel: str,
        fmt: Format,
        rules: ReminderRules | None = None,
    ) -> None:
        self.store, self.knowledge, self.channel, self.fmt = store, knowledge, channel, fmt
        self.rules = rules or load_reminder_rules()

    def queue_due(self, today: date, now: datetime | None = None) -> int:
        """Queue every reminder due on `today` in the outbox; returns how many were queued."""
        now = now or datetime.now(UTC)
        kb = self.knowledge()
        self._forget_old(now)
        queued = 0
        for instrument in self._instruments():
            event = call_event(kb, instrument, today, self.rules.days_before_close)
            if event is not None:
                queued += self._queue(event, kb, now)
        return queued

    def pending(self) -> int:
        """Rows of this channel still waiting for a reminder."""
        with self.store.engine.connect() as connection:
            query = select(func.count()).where(_REMINDERS.c.channel == self.channel)
            return int(connection.execute(query).scalar_one())

    def _instruments(self) -> list[str]:
        query = select(_REMINDERS.c.instrument).where(_REMINDERS.c.channel == self.channel).distinct()
        with self.store.engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    def _queue(self, event: CallEvent, kb: KnowledgeBase, now: datetime) -> int:
        """Take the rows this event reminds (no other process gets them) and queue their replies, in one go."""
        table = _REMINDERS
        mine = (table.c.channel == self.channel) & (table.c.instrument == event.instrument)
        returned = (table.c.user_key, table.c.address, table.c.commune)
        if event.kind == "closing":
            take: Any = delete(table).where(mine).returning(*returned)
        else:
            not_yet = table.c.opened.is_(None) | (table.c.opened != event.call)
            take = update(table).where(mine, not_yet).values(opened=event.call).returning(*returned)
        with self.store.engine.begin() as connection:
            taken = connection.execute(take).all()
            if taken:
                records = {commune: self._record(event, kb, commune) for commune in {row.commune for row in taken}}
                values = {"channel": self.channel, "created_at": now}
                rows = [
                    values | {"user_key": row.user_key, "address": row.address, "reply": records[row.commune]}
                    for row in taken
                ]
                connection.execute(insert(_OUTBOX), rows)
        return len(taken)

    def _record(self, event: CallEvent, kb: KnowledgeBase, commune: str | None) -> dict[str, Any]:
        """The reminder as an outbox record: its text, the button to see the route, the WhatsApp template."""
        instrument = kb.instruments[event.instrument]
        office = office_for(instrument, commune, kb)
        parts = render_reminder(event, instrument, kb.agencies[instrument.agency], office, self.fmt)
        template = self.rules.whatsapp_template
        return {
            "text": parts["message"],
            "buttons": [self.rules.button.model_dump()],
            "diagnosis": None,
            "template": {
                "name": template.name,
                "language": template.language,
                "parameters": [parts["program"], parts["event"], parts["where"]],
                "button": self.rules.button.payload,
            },
        }

    def _forget_old(self, now: datetime) -> None:
        """Rows that waited `keep_days` without a confirmed call go, address and all."""
        cutoff = now - timedelta(days=self.rules.keep_days)
        with self.store.engine.begin() as connection:
            connection.execute(delete(_REMINDERS).where(_REMINDERS.c.created_at < cutoff))
