"""Which reminder an instrument's confirmed calls call for on a day: its opening, or its closing soon.

Only confirmed calls remind (a usual window is an estimate: nobody is told "it opened" on a guess), read from
the knowledge base of the day, so a call whose dates staff changed reminds on the new dates and a cancelled
call (left out of `kb.calls`) reminds nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from knowledge.base import KnowledgeBase
from knowledge.route import schedule_on

__all__ = ["CallEvent", "call_event"]


@dataclass(frozen=True)
class CallEvent:
    """What to remind of an instrument's current call: `opened` (it is open now) or `closing` (it closes within
    the days given). `call` names the call (its year), so each is reminded once."""

    instrument: str
    kind: Literal["opened", "closing"]
    call: str
    closes: date
    days_left: int


def call_event(kb: KnowledgeBase, instrument_id: str, today: date, days_before_close: int) -> CallEvent | None:
    """The reminder due today for the instrument's confirmed call, if any."""
    instrument = kb.instruments.get(instrument_id)
    if instrument is None:
        return None
    when = schedule_on(instrument, kb, today)
    if when.status != "open" or when.estimate or when.closes is None or when.days_left is None:
        return None
    call = next(call for call in kb.calls[instrument_id] if call.closes >= today)
    kind: Literal["opened", "closing"] = "closing" if when.days_left <= days_before_close else "opened"
    return CallEvent(instrument_id, kind, str(call.year), when.closes, when.days_left)
