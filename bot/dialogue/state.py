"""The state of one conversation: what is stored between turns (no raw id, no free text)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

__all__ = ["ConversationState", "Phase"]

Phase = Literal["new", "consent", "form", "done"]


class ConversationState(BaseModel):
    """Answers given so far, the question pending and how many times it was re-asked."""

    phase: Phase = "new"
    consent: bool = False
    slots: dict[str, Any] = {}
    unknown: list[str] = []
    pending: dict[str, Any] = {}
    requested_slot: str | None = None
    attempts: int = 0
    buttons: dict[str, str] = {}
    route: list[str] = []
    confirming: str | None = None  # "restart" or "delete_data" asked in free text, waiting for a yes
    last_reply: str = ""  # a digest of the last turn's replies, so that none is sent twice in a row as it was
    last_message: str = ""  # a keyed digest of the last message, to know it again when it is sent again
    diagnosis_id: int | None = None  # the stored diagnosis of the route shown (None while not done)
    route_due: bool = False  # the diagnosis was stored at start-up (after a crash): show the route next time
    offer: str | None = None  # "reminders": the bot just asked whether to remind the calls; a yes or no answers it
    lesson: int = 0  # the lesson for people starting shown last (1-based); 0: not reading the lessons
