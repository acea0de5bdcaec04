"""The typed boundary of a Telegram update: the parts the bot reads, checked before python-telegram-bot sees them.

Telegram sends more fields than these (they are let through untouched); the ones the bot relies on must have
exactly the type the Bot API documents: ids are integers within 64 bits, dates are Unix times, texts are
strings of bounded length. Anything else is not from Telegram (a buggy or hostile client) and is refused
before a pseudonym is made or a row is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError

from bot.channels.boundary import Checked, first_problem

__all__ = ["UpdateRefused", "check_update", "serves"]

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
UnixTime = Annotated[int, Field(ge=0, le=2**32)]
TEXT_LIMIT = 4096  # Telegram's own limit for a message's text
CALLBACK_DATA_LIMIT = 64  # bytes in Telegram; characters here (a longer one is not from Telegram either)


class User(Checked):
    id: Int64
    is_bot: bool


class Chat(Checked):
    id: Int64
    type: Annotated[str, Field(max_length=32)]


class Message(Checked):
    message_id: Int64
    date: UnixTime
    chat: Chat
    from_user: User | None = Field(default=None, alias="from")
    text: Annotated[str, Field(max_length=TEXT_LIMIT)] | None = None
    reply_to_message: dict[str, Any] | None = None


class CallbackQuery(Checked):
    id: Annotated[str, Field(max_length=256)]
    from_user: User = Field(alias="from")
    message: Message | None = None
    data: Annotated[str, Field(max_length=CALLBACK_DATA_LIMIT)] | None = None


class Update(Checked):
    update_id: Annotated[int, Field(ge=0, le=2**63 - 1)]
    message: Message | None = None
    edited_message: Message | None = None
    channel_post: Message | None = None
    edited_channel_post: Message | None = None
    callback_query: CallbackQuery | None = None


class UpdateRefused(ValueError):
    """A body that is not a Telegram update; the message names the field, never its value."""


def check_update(data: Any) -> Update:
    """The update's checked parts, or UpdateRefused naming the first field that is not as Telegram sends it."""
    try:
        return Update.model_validate(data)
    except ValidationError as exc:
        raise UpdateRefused(first_problem(exc)) from None


def serves(update: Update) -> bool:
    """Whether the bot answers this update: a message or a pressed button in a private chat, from a person."""
    if update.message is not None:
        message = update.message
        return message.chat.type == "private" and message.from_user is not None
    query = update.callback_query
    if query is not None and query.message is not None:
        return query.message.chat.type == "private" and query.message.chat.id == query.from_user.id
    return False
