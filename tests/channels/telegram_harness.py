"""Drive the real python-telegram-bot Application against the fake Bot API, as a user would.

`polling_bot` works against any FakeBotApi, including one that lacks a method:
`FakeBotApi(method_status={"setMyCommands": 404})` (or 500, or `PlainPage(404)`; see tests/fakes/telegram_api.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from bot.channels.telegram import CHANNEL, TelegramPolling, build_application
from bot.channels.turns import ChannelEngine
from nlu.parse import NluBackend
from tests.fakes.telegram_api import FakeBotApi, SentMessage
from tests.test_conversations import make_engine

SCRIPTS_FILE = Path(__file__).with_name("scripts.yml")
Step = tuple[str, str]  # ("say", text) or ("press", button title)
QUIET = 0.15  # seconds without bot traffic that end a turn (all replies of a turn are sent back to back)


def load_scripts() -> dict[str, list[Step]]:
    """The scripted diagnoses of scripts.yml, each step as (action, value)."""
    data = yaml.safe_load(SCRIPTS_FILE.read_text(encoding="utf-8"))
    return {name: [next(iter(step.items())) for step in steps] for name, steps in data.items()}


@asynccontextmanager
async def polling_bot(fake: FakeBotApi, nlu: NluBackend, database: Path) -> AsyncIterator[ChannelEngine]:
    """The bot with long polling, as `ruta telegram` runs it, inside the test's event loop."""
    channel = ChannelEngine(make_engine(nlu, database).in_format("html"), CHANNEL)
    bot = build_application(channel, fake.token, fake.base_url)
    polling = TelegramPolling(bot, poll_timeout=1)
    await bot.start()
    await polling.start()
    try:
        yield channel
    finally:
        await polling.stop()
        await bot.stop()
        channel.close()


class TelegramUser:
    """One person chatting with the bot through the fake Bot API."""

    def __init__(self, fake: FakeBotApi, chat_id: int) -> None:
        self.fake = fake
        self.chat_id = chat_id

    @property
    def messages(self) -> list[SentMessage]:
        return self.fake.bot_messages(self.chat_id)

    async def _replies_to(self, act: Any) -> list[SentMessage]:
        before = len(self.messages)
        act()
        await self.fake.wait_for_messages(self.chat_id, before + 1)
        await self.fake.wait_idle(quiet=QUIET)
        return self.messages[before:]

    async def says(self, text: str) -> list[SentMessage]:
        return await self._replies_to(lambda: self.fake.send_text(self.chat_id, text))

    async def presses(self, title: str) -> list[SentMessage]:
        """Press the button titled `title` on the latest message that offers it."""
        question = next(m for m in reversed(self.messages) if any(t == title for t, _ in m.buttons))
        data = next(d for t, d in question.buttons if t == title)
        assert data is not None
        return await self._replies_to(lambda: self.fake.press_button(self.chat_id, question.message_id, data))

    async def sends(self, kind: str) -> list[SentMessage]:
        """Send a sticker, voice note, photo, location or document."""
        return await self._replies_to(lambda: getattr(self.fake, f"send_{kind}")(self.chat_id))

    def last_buttons(self) -> list[str]:
        return [title for title, _ in self.messages[-1].buttons]
