"""The outcome of one message (`Turn`) and what the channel offers the turn (`TurnContext`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from bot.dialogue.state import ConversationState
from bot.replies import Reply
from knowledge import Diagnosis

__all__ = ["Handoff", "Turn", "TurnContext"]


@dataclass(frozen=True)
class Handoff:
    """The code a person shows an advisor, so the advisor sees their answers and route without a chat id."""

    code: str
    expires: date


@dataclass(frozen=True)
class TurnContext:
    """What the channel offers this turn: whether a reply can reach the person later (reminders need an address
    to write back to: a chat service, not the console), and how to get the person's hand-off code (it is stored,
    so the engine gives it only when asked)."""

    can_remind: bool = False
    handoff: Callable[[], Handoff] | None = None


@dataclass
class Turn:
    """The outcome of one message: the state to keep, what to say, and effects for the engine."""

    state: ConversationState
    replies: list[Reply] = field(default_factory=list)
    erase: bool = False
    diagnosis: Diagnosis | None = None
    context: TurnContext = field(default_factory=TurnContext)
    remind: list[str] | None = None  # instruments whose calls to remind from now on (replaces any before)
    forget_reminders: bool = False  # "ya no quiero avisos": delete the reminders and the address kept for them
