"""Telegram end to end: the real python-telegram-bot Application long-polling a fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.telegram import COMMAND_MENU_ATTEMPTS, COMMAND_MENU_SECONDS
from bot.dialogue.rules import load_dialogue_rules
from bot.logs import FIELDS, JsonFormatter
from tests.channels.telegram_harness import TelegramUser, load_scripts, polling_bot
from tests.fakes.telegram_api import FakeBotApi, PlainPage

DIAGNOSIS = load_scripts()["panaderia_copiapo"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


async def _play(user: TelegramUser, steps: list[tuple[str, str]]) -> None:
    for action, value in steps:
        await (user.presses(value) if action == "press" else user.says(value))


async def test_a_whole_diagnosis_with_buttons_and_free_text(fake, embedded_nlu, tmp_path):
    user = TelegramUser(fake, 5001)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        await _play(user, DIAGNOSIS)
    messages = user.messages
    route = next(m for m in messages if "Tu ruta, paso a paso" in m.text)
    assert "📅" in route.text and "📍" in route.text
    assert "<b>Tu diagnóstico</b>" in route.html
    assert all(m.parse_mode == "HTML" for m in messages)
    presses = sum(action == "press" for action, _ in DIAGNOSIS)
    assert len(fake.answered_callbacks) == presses
    edited = [m for m in messages if m.edits]
    assert len(edited) == presses
    assert all(m.reply_markup is None or not m.buttons for m in edited)
    assert any("👉 Mujer" in m.text for m in edited)


async def test_the_command_menu_is_registered(fake, embedded_nlu, tmp_path):
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        pass
    menu = load_dialogue_rules().command_menu
    assert {(c["command"], c["description"]) for c in fake.commands} == set(menu.items())


def _menu_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "command_menu_skipped"]


@pytest.mark.parametrize("status", [404, 500, PlainPage(404)], ids=["404", "500", "404-page"])
async def test_a_server_without_set_my_commands_still_serves_a_whole_diagnosis(embedded_nlu, tmp_path, caplog, status):
    """A Bot API server that does not implement setMyCommands (or always fails it): one warning, the bot serves."""
    async with FakeBotApi(method_status={"setMyCommands": status}) as fake:
        user = TelegramUser(fake, 5101)
        started = time.perf_counter()
        async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
            startup = time.perf_counter() - started
            await _play(user, DIAGNOSIS)
    assert any("Tu ruta, paso a paso" in m.text for m in user.messages)
    assert fake.commands == []
    attempts = fake.call_counts["setMyCommands"]
    assert attempts == (COMMAND_MENU_ATTEMPTS if status == 500 else 1)  # only a 5xx is worth retrying
    assert startup < COMMAND_MENU_SECONDS + 1.5
    [warning] = _menu_warnings(caplog)
    assert warning.levelno == logging.WARNING
    line = JsonFormatter().format(warning)
    assert fake.token not in line and fake.url not in line and "<html>" not in line
    assert {"event", "call", "error"} <= set(FIELDS)  # the warning's fields reach the JSON log
    assert '"call":"setMyCommands"' in line


@pytest.mark.parametrize(
    ("failure", "registered"),
    [({"status": 502}, True), ({"status": "disconnect"}, True), ({"status": 429, "retry_after": 30}, False)],
    ids=["502-once", "disconnect-once", "long-flood-wait"],
)
async def test_a_passing_menu_failure_is_retried_briefly(embedded_nlu, tmp_path, caplog, failure, registered):
    async with FakeBotApi() as fake:
        fake.fail_next("setMyCommands", times=1, **failure)
        started = time.perf_counter()
        async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
            startup = time.perf_counter() - started
            replies = await TelegramUser(fake, 5102).says("hola")
    assert replies
    assert bool(fake.commands) is registered
    assert len(_menu_warnings(caplog)) == (0 if registered else 1)
    assert startup < COMMAND_MENU_SECONDS + 1.5  # a 30 s flood wait is not waited for


async def test_send_errors_are_not_swallowed(embedded_nlu, tmp_path, caplog):
    """Only the menu is best effort: a send Telegram refuses for good is reported (the reply is dropped, not
    retried forever)."""
    async with (
        FakeBotApi(method_status={"sendMessage": 403}) as fake,
        polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"),
    ):
        fake.send_text(5103, "hola")
        await fake.wait_idle(quiet=0.3)
    assert fake.commands
    drops: list[Any] = [r for r in caplog.records if getattr(r, "event", None) == "outbox_drop"]
    assert drops and all(r.reason == "refused (Forbidden)" for r in drops)
    assert fake.injected_failures["sendMessage"] == len(drops)  # each reply tried once, none retried


async def test_a_business_name_with_markup_is_answered_safely(fake, embedded_nlu, tmp_path):
    user = TelegramUser(fake, 5002)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        await user.says("hola")
        await user.presses("Sí, sigamos")
        replies = await user.says("mi negocio es <b>Pan & Co</b>, hago pan en Vallenar")
    assert replies, "the bot answered"
    assert all(m.parse_mode == "HTML" for m in replies)
    assert not any("<b>Pan" in m.html for m in replies)


async def test_borrar_erases_the_conversation(fake, embedded_nlu, tmp_path):
    user = TelegramUser(fake, 5003)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3") as channel:
        await _play(user, DIAGNOSIS[:5])
        key = channel.engine.user_key("telegram", "5003")
        assert channel.engine.store.load_state(key) is not None
        replies = await user.says("/borrar")
        assert channel.engine.store.load_state(key) is None
        assert not channel.engine.store.diagnoses(key)
    assert any("borr" in m.text.lower() for m in replies)


async def test_answers_survive_a_restart_and_a_message_sent_while_down(fake, embedded_nlu, tmp_path):
    user = TelegramUser(fake, 5004)
    database = tmp_path / "db.sqlite3"
    async with polling_bot(fake, embedded_nlu, database):
        await _play(user, DIAGNOSIS[:4])
        asked_months = user.messages[-1].text
    fake.send_text(user.chat_id, "hace 3 años")  # the bot is down: Telegram keeps the update
    count = len(user.messages)
    async with polling_bot(fake, embedded_nlu, database) as channel:
        await fake.wait_for_messages(user.chat_id, count + 1)
        await fake.wait_idle(quiet=0.2)
        state = channel.engine.store.load_state(channel.engine.user_key("telegram", "5004"))
    assert "años" in asked_months or "tiempo" in asked_months
    assert state is not None and state["slots"]["months_operating"] == 36
    assert state["requested_slot"] == "monthly_sales_clp"


@pytest.mark.parametrize("kind", ["sticker", "voice", "photo", "location", "document"])
async def test_media_gets_a_kind_reply_and_the_question_again(fake, embedded_nlu, tmp_path, kind):
    user = TelegramUser(fake, 5005)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        await user.says("hola")
        question = await user.presses("Sí, sigamos")
        replies = await user.sends(kind)
    assert len(replies) == 2
    assert "texto" in replies[0].text.lower() or "escrib" in replies[0].text.lower()
    assert replies[1].text == question[-1].text


async def test_edits_and_channel_posts_are_ignored(fake, embedded_nlu, tmp_path):
    user = TelegramUser(fake, 5006)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        first = fake.send_text(user.chat_id, "hola")
        await fake.wait_for_messages(user.chat_id, 1)
        await fake.wait_idle(quiet=0.2)
        count = len(user.messages)
        fake.edit_text(user.chat_id, first["message_id"], "chao")
        fake.channel_post(-1001234, "anuncio del canal")
        await asyncio.sleep(0.5)
        assert len(user.messages) == count
        assert fake.bot_messages(-1001234) == []
        replies = await user.presses("Sí, sigamos")  # still answering
    assert replies


@pytest.mark.parametrize("failure", [429, 502, "disconnect"])
async def test_a_failed_send_is_retried_and_arrives_once(fake, embedded_nlu, tmp_path, failure):
    user = TelegramUser(fake, 5007)
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        fake.fail_next("sendMessage", times=2, status=failure, retry_after=1)
        replies = await user.says("hola")
        await fake.wait_idle(quiet=0.5)
    assert fake.injected_failures["sendMessage"] == 2
    texts = [m.text for m in user.messages]
    assert texts == [m.text for m in replies] and len(set(texts)) == len(texts) == 2
    assert "Antes de empezar" in texts[-1]


async def test_many_chats_at_once_each_in_order(fake, embedded_nlu, tmp_path):
    """Twenty people type fast at the same time; each transcript equals one person's alone."""
    steps = [value for action, value in DIAGNOSIS if action == "say"][:5]
    async with polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        alone = TelegramUser(fake, 6000)
        await alone.says("hola")
        await alone.says("si")
        for text in steps:
            await alone.says(text)
        users = [TelegramUser(fake, 6001 + n) for n in range(20)]
        for text in ["hola", "si", *steps]:  # every message sent at once, without waiting for replies
            for user in users:
                fake.send_text(user.chat_id, text)
        expected = [m.text for m in alone.messages]
        for user in users:
            await fake.wait_for_messages(user.chat_id, len(expected), timeout=30)
        await fake.wait_idle(quiet=0.3)
    assert all([m.text for m in user.messages] == expected for user in users)
