"""When an instrument can be used, computed against a given day.

Confirmed calls win over usual windows. A usual window gives estimated dates only. No past date is ever
returned as an opening or a deadline: a call that already opened has `opens=None`; a closed call points to the
next expected window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal

from knowledge.models import Call, Instrument, UsualWindow

__all__ = ["Schedule", "Status", "schedule", "window_occurrences"]

Status = Literal["permanent", "open", "upcoming", "expected", "maybe_open", "unknown"]


@dataclass(frozen=True)
class Schedule:
    """Where an instrument stands on `today`.

    - permanent: can be used any day.
    - open: a confirmed call is open; `closes` is its deadline and `days_left` the days until it (0 = today).
    - upcoming: a confirmed call will open on `opens` (estimated when `estimate`).
    - maybe_open: no confirmed call, but today falls in the usual window: confirm at the office.
    - expected: not open; `opens`/`closes` come from the next usual window (always estimates).
    - unknown: no confirmed call ahead and no usual window; `last_closed` is the latest known deadline.
    """

    status: Status
    opens: date | None = None
    closes: date | None = None
    estimate: bool = False
    days_left: int | None = None
    window_label: str | None = None
    last_closed: date | None = None

    @property
    def urgency(self) -> tuple[int, date]:
        """Sort key: deadlines first (soonest first), then what is always open, then what opens later."""
        if self.status in {"open", "maybe_open"}:
            return (0, self.closes or date.max)
        if self.status == "permanent":
            return (1, date.min)
        if self.status in {"upcoming", "expected"}:
            return (2, self.opens or self.closes or date.max)
        return (3, date.max)


def _day(month_day: str, year: int, is_end: bool) -> date:
    """The date of "MM" (first or last day of the month) or "MM-DD" in `year`; 29 Feb becomes 28 Feb."""
    month = int(month_day[:2])
    last = calendar.monthrange(year, month)[1]
    if len(month_day) == 2:
        return date(year, month, last if is_end else 1)
    return date(year, month, min(int(month_day[3:]), last))


def window_occurrences(window: UsualWindow, first_year: int) -> Iterator[tuple[date | None, date]]:
    """Successive (start, end) of the window from `first_year` on; `end` is the effective end used for status
    (the end of the start month when the window has no end). A window ending before it starts crosses the year."""
    year = first_year
    while True:
        if window.start is None:
            assert window.end is not None  # guaranteed by UsualWindow
            yield None, _day(window.end, year, is_end=True)
        else:
            start = _day(window.start, year, is_end=False)
            end = _day(window.end or window.start[:2], year, is_end=True)
            if end < start:
                end = _day(window.end or window.start[:2], year + 1, is_end=True)
            yield start, end
        year += 1


def _from_window(window: UsualWindow, calls: list[Call], today: date) -> Schedule:
    """The next occurrence of the usual window not already covered by a confirmed call."""
    covered = {call.closes.year for call in calls}
    for start, end in window_occurrences(window, today.year - 1):
        if end < today or end.year in covered:
            continue
        closes = end if window.end is not None else None
        if start is not None and start <= today:
            days = (closes - today).days if closes else None
            return Schedule("maybe_open", None, closes, True, days, window.label)
        return Schedule("expected", start, closes, True, None, window.label)
    raise AssertionError("window occurrences are endless")  # pragma: no cover


def _from_call(call: Call, window: UsualWindow | None, today: date) -> Schedule:
    label = window.label if window else None
    if call.opens is not None and call.opens > today:
        return Schedule("upcoming", call.opens, call.closes, False, None, label)
    if call.opens is None and window is not None and window.start is not None:
        expected_start = _day(window.start, call.closes.year, is_end=False)
        if today < expected_start <= call.closes:
            return Schedule("upcoming", expected_start, call.closes, True, None, label)
    return Schedule("open", None, call.closes, False, (call.closes - today).days, label)


def schedule(instrument: Instrument, calls: list[Call], today: date) -> Schedule:
    """Where `instrument` stands on `today`, from its confirmed `calls` (sorted by close) and usual window."""
    if instrument.availability == "permanent":
        return Schedule("permanent")
    ahead = [call for call in calls if call.closes >= today]
    if ahead:
        return _from_call(ahead[0], instrument.usual_window, today)
    if instrument.usual_window is not None:
        return _from_window(instrument.usual_window, calls, today)
    past = [call.closes for call in calls]
    return Schedule("unknown", last_closed=max(past) if past else None)
