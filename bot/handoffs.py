"""Hand-off codes: the short code (`RUTA-7K3Q`) a person shows a human advisor, so that staff see their answers and
route (bot/advisor.py) without a chat id, a phone number or a name.

A code leads to the conversation's pseudonym and to nothing else. It is drawn with `secrets` from an alphabet
without look-alikes (no 0/O/1/I/L), stays valid `RUTA_HANDOFF_CODE_DAYS` days, and asked for again while valid,
the same code comes back. A code drawn twice is caught by the table's primary key and drawn again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from bot.storage import HandoffCodeRow, Store

__all__ = ["ALPHABET", "PREFIX", "HandoffCode", "HandoffCodes", "Lookup", "MalformedCode", "draw_code", "parse_code"]

PREFIX = "RUTA-"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # digits and capitals without 0, O, 1, I and L
LENGTH = 4
DRAWS = 8  # codes drawn before giving up (with 923,521 codes, a second collision in a row is already rare)
_CODES: Table = HandoffCodeRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class HandoffCode:
    """A person's code and when it stops being valid (UTC)."""

    code: str
    expires_at: datetime

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Lookup:
    """What a code typed by staff leads to: the conversation's pseudonym, or why not (unknown, or expired and when)."""

    code: str
    user_key: str | None = None
    expires_at: datetime | None = None  # set for a valid and for an expired code

    @property
    def problem(self) -> Literal["unknown", "expired"] | None:
        if self.expires_at is None:
            return "unknown"
        return "expired" if self.user_key is None else None


class MalformedCode(ValueError):
    """Text that cannot be a code (the wrong length, or characters codes never have)."""

    def __init__(self, given: str) -> None:
        super().__init__(given)
        self.given = given


def draw_code() -> str:
    """A new random code, `RUTA-` and four characters of `ALPHABET`."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def parse_code(text: str) -> str:
    """The code in what staff typed: any case, spaces anywhere, with or without the `RUTA-` prefix.

    Raises MalformedCode when it cannot be a code."""
    cleaned = "".join(text.split()).upper()
    body = cleaned if len(cleaned) == LENGTH else cleaned.removeprefix(PREFIX[:-1]).removeprefix("-")
    if len(body) != LENGTH or not set(body) <= set(ALPHABET):
        raise MalformedCode(text)
    return PREFIX + body


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a moment without a zone (SQLite gives them back so) was written in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class HandoffCodes:
    """Hand-off codes in one store's database; `draw` makes a candidate code (tests force collisions with it)."""

    def __init__(self, store: Store, draw: Callable[[], str] = draw_code) -> None:
        self.engine = store.engine
        self.draw = draw

    def code_for(self, user_key: str, now: datetime, valid_for: timedelta) -> HandoffCode:
        """The person's code still valid at `now`, else a new one valid for `valid_for`."""
        now = _utc(now)
        query = (
            select(_CODES.c.code, _CODES.c.expires_at)
            .where(_CODES.c.user_key == user_key, _CODES.c.expires_at > now)
            .order_by(_CODES.c.expires_at.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            valid = connection.execute(query).first()
        if valid is not None:
            return HandoffCode(valid.code, _utc(valid.expires_at))
        return self._new(user_key, now, now + valid_for)

    def _new(self, user_key: str, now: datetime, expires_at: datetime) -> HandoffCode:
        for _ in range(DRAWS):
            code = self.draw()
            try:
                with self.engine.begin() as connection:
                    values = {"code": code, "user_key": user_key, "created_at": now, "expires_at": expires_at}
                    connection.execute(insert(_CODES).values(values))
            except IntegrityError:
                continue  # the code is someone else's: draw another
            return HandoffCode(code, expires_at)
        raise RuntimeError(f"no free hand-off code after {DRAWS} draws")

    def look_up(self, code: str, now: datetime) -> Lookup:
        """Whose conversation `code` (as staff typed it) leads to at `now`. Raises MalformedCode."""
        code = parse_code(code)
        query = select(_CODES.c.user_key, _CODES.c.expires_at).where(_CODES.c.code == code)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return Lookup(code)
        expires_at = _utc(row.expires_at)
        return Lookup(code, row.user_key if expires_at > _utc(now) else None, expires_at)
