"""Simulated entrepreneurs (tests/simulated) through the real Telegram stack, against a Bot API server that
does not implement setMyCommands (404 in one run, 500 in another): the bot serves everyone anyway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.channels.telegram import CHANNEL
from bot.dialogue.state import ConversationState
from bot.engine import Engine
from knowledge import KnowledgeBase
from nlu.parse import NluBackend
from tests.channels.telegram_harness import QUIET, TelegramUser, polling_bot
from tests.fakes.telegram_api import FakeBotApi
from tests.simulated.driver import Conversation, converse, problems, transcript
from tests.simulated.person import Action, BotMessage, Person

PEOPLE = 24


class TelegramChat:
    """A simulated person's actions as Telegram messages and button presses (many people at once: a turn
    ends when this chat got a reply and nothing more for a moment, not when the whole bot is idle)."""

    def __init__(self, fake: FakeBotApi, user: TelegramUser) -> None:
        self.fake, self.user = fake, user

    async def act(self, action: Action) -> list[BotMessage]:
        kind, value = action
        before = len(self.user.messages)
        if kind == "press":
            question = next(m for m in reversed(self.user.messages) if any(t == value for t, _ in m.buttons))
            data = next(d for t, d in question.buttons if t == value)
            assert data is not None
            self.fake.press_button(self.user.chat_id, question.message_id, data)
        else:
            self.fake.send_text(self.user.chat_id, value)
        await self.fake.wait_for_messages(self.user.chat_id, before + 1, timeout=30)
        count = len(self.user.messages)
        while True:  # the replies of one turn are sent back to back
            await asyncio.sleep(QUIET)
            if len(self.user.messages) == count:
                break
            count = len(self.user.messages)
        return [BotMessage(m.text, [title for title, _ in m.buttons]) for m in self.user.messages[before:]]


def _slots(engine: Engine, chat_id: int) -> dict[str, object]:
    raw = engine.store.load_state(engine.user_key(CHANNEL, str(chat_id)))
    return ConversationState.model_validate(raw or {}).slots


@pytest.mark.parametrize("status", [404, 500])
async def test_simulated_people_get_their_route_over_telegram(
    status: int, embedded_nlu: NluBackend, kb: KnowledgeBase, tmp_path: Path
) -> None:
    async with (
        FakeBotApi(method_status={"setMyCommands": status}) as fake,
        polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3") as channel,
    ):
        users = [TelegramUser(fake, 7100 + n) for n in range(PEOPLE)]
        people = [Person(1000 * status + n, kb) for n in range(PEOPLE)]
        done: list[Conversation] = await asyncio.gather(
            *(converse(person, TelegramChat(fake, user)) for person, user in zip(people, users, strict=True))
        )
        found = [(c, problems(c, _slots(channel.engine, u.chat_id))) for c, u in zip(done, users, strict=True)]
    failed = [(conversation, what) for conversation, what in found if what]
    report = "\n\n".join(f"{what}\n{transcript(conversation)}" for conversation, what in failed[:2])
    assert not failed, f"{len(failed)} of {PEOPLE} people were let down over Telegram:\n{report}"
    assert sum(kind == "press" for c in done for (kind, _), _ in c.turns) > PEOPLE  # real button presses
