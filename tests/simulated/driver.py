"""Run simulated people through a chat (the engine directly, or a real channel) and check what they got."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bot.dialogue.state import ConversationState
from bot.engine import Engine
from tests.simulated.person import Action, BotMessage, Person

__all__ = ["MAX_TURNS", "Chat", "Conversation", "EngineChat", "converse", "problems"]

MAX_TURNS = 25


class Chat(Protocol):
    """Where a person's messages go: one action in, the bot's messages of that turn out."""

    async def act(self, action: Action) -> list[BotMessage]: ...


@dataclass
class Conversation:
    person: Person
    turns: list[tuple[Action, list[BotMessage]]] = field(default_factory=list)
    reached_route: bool = False


class EngineChat:
    """The engine itself, as the console uses it: a pressed button is its title typed."""

    def __init__(self, engine: Engine, user_id: str, today: date, channel: str = "sim") -> None:
        self.engine, self.user_id, self.today, self.channel = engine, user_id, today, channel

    async def act(self, action: Action) -> list[BotMessage]:
        replies = self.engine.handle(self.channel, self.user_id, action[1], self.today)
        return [BotMessage(reply.text, [button.title for button in reply.buttons]) for reply in replies]

    def slots(self) -> dict[str, Any]:
        raw = self.engine.store.load_state(self.engine.user_key(self.channel, self.user_id))
        return ConversationState.model_validate(raw or {}).slots


async def converse(person: Person, chat: Chat, max_turns: int = MAX_TURNS) -> Conversation:
    """The person talks until the route arrives (and nothing is left to correct) or `max_turns` messages."""
    conversation = Conversation(person)
    action: Action | None = person.opening()
    while action is not None and len(conversation.turns) < max_turns:
        messages = await chat.act(action)
        conversation.turns.append((action, messages))
        action = person.respond(messages)
    conversation.reached_route = action is None
    return conversation


def problems(conversation: Conversation, slots: dict[str, Any]) -> list[str]:
    """What went wrong for this person: no route, a clear answer not kept, a reply repeated three times."""
    found: list[str] = []
    if not conversation.reached_route:
        found.append(f"no route after {len(conversation.turns)} messages")
    for slot, expect in conversation.person.expected.items():
        if not expect.holds(slots.get(slot)):
            found.append(f"{slot}: kept {slots.get(slot)!r}, meant {expect}")
    texts = [message.text for _, messages in conversation.turns for message in messages]
    turns = ["\n".join(message.text for message in messages) for _, messages in conversation.turns]
    for sequence, what in ((texts, "message"), (turns, "turn's replies")):
        for first in range(len(sequence) - 2):
            if sequence[first] == sequence[first + 1] == sequence[first + 2]:
                found.append(f"the same {what} three times in a row: {sequence[first][:60]!r}")
                break
    return found


def transcript(conversation: Conversation) -> str:
    """The conversation as text, for a failure message."""
    lines = [f"truth: {conversation.person.truth}"]
    for (kind, value), messages in conversation.turns:
        lines.append(f"> {'[' + value + ']' if kind == 'press' else value}")
        lines += [f"  {message.text[:110]!r} {message.buttons[:4]}" for message in messages]
    return "\n".join(lines)
