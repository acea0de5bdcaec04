"""What the channels' typed boundaries share: strict models over the fields the bot reads, and short errors.

A service sends more than the bot reads; those other fields pass through unread. The declared ones must have
exactly the documented type (strict: `true` is not a number, `1e30` is not an id, `["x"]` is not a text).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Checked", "first_problem"]


class Checked(BaseModel):
    """Strict types for what is declared; undeclared fields are kept as they came."""

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


def first_problem(exc: ValidationError) -> str:
    """The first field that failed and how (`message.chat.id: int_type`), never the value it held."""
    first = exc.errors()[0]
    return ".".join(str(part)[:40] for part in first["loc"]) + f": {first['type']}"
