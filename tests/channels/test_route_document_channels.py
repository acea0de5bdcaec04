"""The route as a PDF on every channel, over real HTTP against the fake Bot API and Graph API: the outbox sender
delivers a reply's document once (Telegram: sendDocument with the text as its caption, or the text first when it
is too long; WhatsApp: an upload to /media, then a document message naming the media id); a failed call is
retried without sending again what went out, a refused one is dropped; and a person who asks for "/pdf" after
the diagnosis gets it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.addresses import AddressCipher
from bot.channels.aiohttp_request import AiohttpRequest
from bot.channels.sender import OutboxSender, Transport
from bot.channels.telegram import TelegramTransport
from bot.channels.whatsapp import GraphApi, WhatsAppConfig
from bot.domain import Button
from bot.outbox import OutboxQueue
from bot.replies import Document, Reply
from bot.route_document import render_route_pdf
from bot.storage import Store
from knowledge import KnowledgeBase, diagnose, parse_profile
from tests.channels.telegram_harness import QUIET, TelegramUser, polling_bot
from tests.channels.test_reminders_chat import DIAGNOSIS
from tests.conftest import COMPLETE_PROFILE
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeBotApi

CIPHER = AddressCipher(b"k" * 32)
CHAT = 9001
WA_USER = "56912345678"
CAPTION = "Aquí tienes tu ruta en PDF, para guardarla o imprimirla. 📄"


@pytest.fixture(scope="module")
def pdf(kb: KnowledgeBase) -> Document:
    diagnosis = diagnose(parse_profile(COMPLETE_PROFILE, kb), kb, date(2026, 12, 4))
    data = render_route_pdf(diagnosis, kb, kb_version=kb.version, made_on=diagnosis.today)
    return Document("ruta-2026-12-04.pdf", "application/pdf", data)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'ruta.sqlite3'}")


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeBotApi, TelegramTransport]]:
    async with FakeBotApi() as fake:
        bot = ExtBot(fake.token, base_url=fake.base_url, request=AiohttpRequest(2))
        await bot.initialize()
        try:
            yield fake, TelegramTransport(bot)
        finally:
            await bot.shutdown()


@pytest.fixture
async def whatsapp(graph: FakeGraphApi) -> AsyncIterator[GraphApi]:
    api = GraphApi(WhatsAppConfig(graph.access_token, graph.phone_number_id, "s", "v", f"{graph.base_url}/v21.0"))
    yield api
    await api.close()


def _queue(store: Store, channel: str, address: str, reply: Reply) -> None:
    store.queue_replies("someone", channel, [reply.to_record()], address=CIPHER.encrypt(address))


async def _deliver(store: Store, channel: str, transport: Transport, done: Callable[[], bool]) -> OutboxSender:
    """Run the channel's sender until `done()` and the outbox is empty, then a little longer (nothing more goes
    out), and stop it. Retries are waited for at once: the sender is woken rather than left to its next poll."""
    sender = OutboxSender(OutboxQueue(store), CIPHER, channel, transport)
    sender.start()
    try:
        async with asyncio.timeout(15):
            while not (done() and not store.undelivered()):
                sender.wake()
                await asyncio.sleep(0.05)
        await asyncio.sleep(QUIET)
    finally:
        await sender.stop()
    return sender


async def test_telegram_gets_the_pdf_once_as_a_document_captioned_with_the_text(telegram, store, pdf) -> None:
    fake, transport = telegram
    _queue(store, "telegram", str(CHAT), Reply(CAPTION, document=pdf))
    sender = await _deliver(store, "telegram", transport, lambda: bool(fake.documents(CHAT)))
    [message] = fake.bot_messages(CHAT)
    assert message.document is not None and message.text == CAPTION and message.raw["caption"] == CAPTION
    assert message.document.data == pdf.data and message.document.data.startswith(b"%PDF")
    assert (message.document.file_name, message.document.mime_type) == ("ruta-2026-12-04.pdf", "application/pdf")
    assert fake.call_counts["sendDocument"] == 1 and sender.counts == {"delivered": 1}


async def test_telegram_a_text_too_long_for_a_caption_goes_first_and_is_not_sent_again_when_the_upload_fails(
    telegram, store, pdf
) -> None:
    fake, transport = telegram
    text = "\n\n".join(f"Paso {n}: " + "muy importante " * 20 for n in range(1, 6))  # over 1,024 characters
    buttons = [Button(title="Hablar con alguien", payload="/human_handoff")]
    fake.fail_next("sendDocument", times=1, status=502)
    _queue(store, "telegram", str(CHAT), Reply(text, buttons, document=pdf))
    sender = await _deliver(store, "telegram", transport, lambda: bool(fake.documents(CHAT)))
    first, second = fake.bot_messages(CHAT)
    assert first.document is None and first.text == text.strip() and not first.buttons
    assert second.document is not None and second.document.data == pdf.data and not second.text
    assert second.buttons == [("Hablar con alguien", "/human_handoff")]  # the buttons ride on the document
    assert fake.call_counts["sendMessage"] == 1 and fake.call_counts["sendDocument"] == 2
    assert sender.counts == {"delivered": 1, "retried": 1}


async def test_telegram_a_flood_limit_on_the_upload_waits_and_sends_it_once(telegram, store, pdf) -> None:
    fake, transport = telegram
    fake.fail_next("sendDocument", times=1, status=429, retry_after=1)
    _queue(store, "telegram", str(CHAT), Reply(CAPTION, document=pdf))
    sender = await _deliver(store, "telegram", transport, lambda: bool(fake.documents(CHAT)))
    assert len(fake.documents(CHAT)) == 1 and sender.counts == {"delivered": 1, "retried": 1}


async def test_whatsapp_uploads_the_pdf_and_sends_it_once_as_a_document_message(graph, whatsapp, store, pdf) -> None:
    _queue(store, "whatsapp", WA_USER, Reply(CAPTION, document=pdf))
    sender = await _deliver(store, "whatsapp", whatsapp, lambda: bool(graph.sent(WA_USER)))
    [message] = graph.sent(WA_USER)
    assert message["type"] == "document"
    assert message["document"]["caption"] == CAPTION and message["document"]["filename"] == "ruta-2026-12-04.pdf"
    uploaded = graph.uploaded(message)
    assert uploaded is not None and uploaded.data == pdf.data and uploaded.data.startswith(b"%PDF")
    assert uploaded.mime_type == "application/pdf" and len(graph.media) == 1
    [upload] = [request for request in graph.requests if request.path.endswith("/media")]
    assert upload.payload["messaging_product"] == "whatsapp" and upload.payload["type"] == "application/pdf"
    assert sender.counts == {"delivered": 1}


async def test_whatsapp_a_failed_upload_or_send_is_retried_and_the_document_arrives_once(
    graph, whatsapp, store, pdf
) -> None:
    graph.fail_next(times=1, status=500, endpoint="media")
    graph.fail_next(times=1, status=503)
    _queue(store, "whatsapp", WA_USER, Reply(CAPTION, document=pdf))
    sender = await _deliver(store, "whatsapp", whatsapp, lambda: bool(graph.sent(WA_USER)))
    [message] = graph.sent(WA_USER)
    uploaded = graph.uploaded(message)
    assert uploaded is not None and uploaded.data == pdf.data
    assert len(graph.media) == 2  # the upload before the failed send was made again; only the last one is sent
    assert sender.counts == {"delivered": 1, "retried": 2}


async def test_whatsapp_a_text_with_buttons_goes_first_and_the_document_after_it(graph, whatsapp, store, pdf) -> None:
    buttons = [Button(title="Hablar con alguien", payload="/human_handoff")]
    _queue(store, "whatsapp", WA_USER, Reply(CAPTION, buttons, document=pdf))
    await _deliver(store, "whatsapp", whatsapp, lambda: len(graph.sent(WA_USER)) >= 2)
    question, document = graph.sent(WA_USER)
    assert question["type"] == "interactive" and question["interactive"]["body"]["text"] == CAPTION
    assert document["type"] == "document" and "caption" not in document["document"]
    assert graph.uploaded(document) is not None


async def test_whatsapp_a_refused_upload_is_dropped_not_retried(graph, whatsapp, store, pdf) -> None:
    graph.fail_next(times=1, status=400, endpoint="media")
    _queue(store, "whatsapp", WA_USER, Reply(CAPTION, document=pdf))
    sender = await _deliver(store, "whatsapp", whatsapp, lambda: True)
    assert graph.sent(WA_USER) == [] and graph.media == {} and sender.counts == {"dropped": 1}


async def test_a_person_who_asks_for_the_pdf_after_the_route_gets_it_on_telegram(
    embedded_nlu: Any, tmp_path: Path
) -> None:
    async with FakeBotApi() as fake, polling_bot(fake, embedded_nlu, tmp_path / "db.sqlite3"):
        user = TelegramUser(fake, 4243)
        for action, text in DIAGNOSIS:
            await (user.says(text) if action == "says" else user.presses(text))
        route = " ".join(message.text for message in await user.says("no sé"))
        assert "Tu ruta, paso a paso" in route
        [sent] = [message for message in await user.says("/pdf") if message.document is not None]
    assert sent.text and "PDF" in sent.text
    assert sent.document is not None and sent.document.data.startswith(b"%PDF")
    assert fake.documents(4243) == [sent.document]  # once
    assert b"4243" not in sent.document.data
