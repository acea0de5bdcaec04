"""Self-tests of the fake servers, driven by the real clients (python-telegram-bot, httpx)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes import graph_api
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotApi, PlainPage, _parse_method_status
from tests.fakes.telegram_markup import EntityError, parse_text

CHAT = 5691234


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def bot(telegram: FakeBotApi) -> AsyncIterator[Bot]:
    # Skipping certificate loading (the fake is plain HTTP) saves ~0.1 s per Bot.
    requests = [HTTPXRequest(httpx_kwargs={"verify": False}) for _ in range(2)]
    async with Bot(
        telegram.token, base_url=telegram.base_url, request=requests[0], get_updates_request=requests[1]
    ) as client:
        yield client


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as fake:
        yield fake


# --- Telegram -------------------------------------------------------------------------------------------------------


async def test_get_me_and_send_html_with_keyboard(telegram: FakeBotApi, bot: Bot) -> None:
    assert bot.username == telegram.bot_user["username"]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sí", callback_data="yes")]])
    message = await bot.send_message(CHAT, "<b>Hola</b> &amp; bienvenida", parse_mode="HTML", reply_markup=keyboard)
    assert message.text == "Hola & bienvenida"
    assert message.entities[0].type == "bold"
    assert message.reply_markup == keyboard
    [sent] = telegram.bot_messages(CHAT)
    assert (sent.html, sent.buttons) == ("<b>Hola</b> &amp; bienvenida", [("Sí", "yes")])
    assert telegram.calls[-1][1]["reply_markup"] == keyboard.to_dict()  # form-encoded JSON was decoded


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>sin cerrar", "find end tag"),
        ("a < b", "byte offset 2"),
        ("línea<br>otra", 'unsupported start tag "br"'),
        ("x" * 4097, "message is too long"),
        ("<b> </b>", "text is empty"),
    ],
)
async def test_invalid_text_is_rejected(telegram: FakeBotApi, bot: Bot, text: str, error: str) -> None:
    with pytest.raises(BadRequest, match=f"(?i){error}"):
        await bot.send_message(CHAT, text, parse_mode="HTML")
    assert telegram.bot_messages(CHAT) == []


async def test_long_callback_data_is_rejected(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ñ", callback_data="ñ" * 33)]])  # 66 bytes
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(CHAT, "hola", reply_markup=keyboard)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_surfaces_as_retry_after(telegram: FakeBotApi, bot: Bot) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "hola")
    assert str(caught.value).endswith(("Retry in 7 seconds", "Retry in 0:00:07"))  # int or timedelta (PTB_TIMEDELTA)
    assert telegram.bot_messages(CHAT) == []
    await bot.send_message(CHAT, "hola")
    assert telegram.injected_failures["sendMessage"] == 1
    assert len(telegram.bot_messages(CHAT)) == 1


@pytest.mark.parametrize("status", ["disconnect", 502])
async def test_transport_failures_surface_as_network_error(telegram: FakeBotApi, bot: Bot, status: Any) -> None:
    telegram.fail_next("sendmessage", status=status)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "hola")
    assert telegram.bot_messages(CHAT) == []
    await bot.send_message(CHAT, "hola")  # the client recovers on a new connection
    assert len(telegram.bot_messages(CHAT)) == 1


async def test_get_updates_long_polls_for_a_user_text(telegram: FakeBotApi, bot: Bot) -> None:
    asyncio.get_running_loop().call_later(0.1, telegram.send_text, CHAT, "Hola, tengo un almacén")
    [update] = await bot.get_updates(timeout=5)
    message, user = update.message, update.effective_user
    assert message is not None and user is not None
    assert (message.text, user.language_code) == ("Hola, tengo un almacén", "es")
    telegram.send_command(CHAT, "/start")
    [command] = [u.to_dict()["message"] for u in await bot.get_updates(offset=update.update_id + 1, timeout=5)]
    assert (command["text"], command["entities"][0]["type"]) == ("/start", "bot_command")
    assert telegram.pending_updates == 1  # confirmed only by the next offset


async def test_callback_answer_and_edits(telegram: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Formal", callback_data="formal:yes")]])
    message = await bot.send_message(CHAT, "¿Tu negocio es formal?", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button"):
        telegram.press_button(CHAT, message.message_id, "formal:no")
    query_id = telegram.press_button(CHAT, message.message_id, "formal:yes")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None and (query.id, query.data) == (query_id, "formal:yes")
    assert await query.answer("Anotado")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()
    await bot.edit_message_text("Anotado: <i>formal</i>", CHAT, message.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("Anotado: <i>formal</i>", CHAT, message.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)
    [sent] = telegram.bot_messages(CHAT)
    assert (sent.text, sent.buttons, [e.text for e in sent.edits]) == (
        "Anotado: formal",
        [],
        ["¿Tu negocio es formal?"],
    )
    assert telegram.answered_callbacks[0].text == "Anotado"


async def test_commands_are_validated_and_stored(telegram: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Comenzar"), ("diagnostico", "Ver mi diagnóstico")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "diagnostico"]
    assert telegram.commands[1] == {"command": "diagnostico", "description": "Ver mi diagnóstico"}
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start", "Comenzar")])


async def test_real_application_polls_and_replies(telegram: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Comenzar", callback_data="go")]])
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>¡Hola!</b>", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Vamos")

    app = ApplicationBuilder().token(telegram.token).base_url(telegram.base_url).build()
    app.add_handlers([CommandHandler("start", start), CallbackQueryHandler(pressed)])
    assert app.updater is not None
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        telegram.send_command(CHAT, "/start")
        [welcome] = await telegram.wait_for_messages(CHAT, 1, timeout=5)
        telegram.press_button(CHAT, welcome.message_id, "go")
        await telegram.wait_idle(quiet=0.1, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert (welcome.text, welcome.edits[0].text) == ("Vamos", "¡Hola!")
    assert len(telegram.answered_callbacks) == 1


async def test_webhook_pushes_in_order_with_secret_and_retries(telegram: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, int]] = []
    statuses = iter([500])

    async def receive(request: Request) -> Response:
        update = await request.json()
        received.append((request.headers.get("x-telegram-bot-api-secret-token"), update["update_id"]))
        return Response(status_code=next(statuses, 200))

    async with LocalServer(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as receiver:
        await bot.set_webhook(f"{receiver.url}/hook", secret_token="s3cr3t")
        with pytest.raises(Conflict):
            await bot.get_updates()
        first, second = telegram.send_text(CHAT, "uno"), telegram.send_text(CHAT, "dos")
        await telegram.wait_idle(quiet=0.05, timeout=5)
        assert (await bot.get_webhook_info()).pending_update_count == 0
        await bot.delete_webhook()
    ids = [update_id for _, update_id in received]
    assert {secret for secret, _ in received} == {"s3cr3t"}
    assert ids == sorted(ids) and ids.count(ids[0]) == 2 and len(ids) == 3  # first push got 500 and was retried
    assert [a.status for a in telegram.webhook_attempts] == [500, 200, 200]
    assert (first["text"], second["text"]) == ("uno", "dos")


async def test_control_api(telegram: FakeBotApi, bot: Bot) -> None:
    async with httpx.AsyncClient(base_url=telegram.url) as client:
        response = await client.post("/_control/text", json={"chat_id": CHAT, "text": "hola"})
        assert response.json()["text"] == "hola"
        assert len(await bot.get_updates()) == 1
        await bot.send_message(CHAT, "respuesta")
        messages = (await client.get(f"/_control/messages/{CHAT}")).json()
        assert [m["text"] for m in messages] == ["respuesta"]
        assert (
            await client.post("/_control/press", json={"chat_id": CHAT, "message_id": 2, "data": "x"})
        ).status_code == 400
        stats = (await client.get("/_control/stats")).json()
    assert (stats["updates"], stats["bot_messages"], stats["calls"]["sendMessage"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("status", "error", "description"),
    [
        (404, InvalidToken, "Not Found"),  # PTB reads every 404 as a bad token
        (500, NetworkError, "Internal Server Error"),
        (PlainPage(404), InvalidToken, "Parsing the server response"),
    ],
)
async def test_a_method_can_answer_a_fixed_status(status: Any, error: type[Exception], description: str) -> None:
    async with FakeBotApi(method_status={"setmycommands": status}) as fake, httpx.AsyncClient() as client:
        raw = await client.post(f"{fake.api_url}/setMyCommands", json={"commands": []})
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            for _ in range(2):  # every call, not only the next one
                with pytest.raises(error, match=description):
                    await bot.set_my_commands([BotCommand("start", "Empezar")])
            await bot.send_message(CHAT, "hola")  # other methods work
            fake.set_method_status("setMyCommands", None)
            assert await bot.set_my_commands([BotCommand("start", "Empezar")])
    code = status.status if isinstance(status, PlainPage) else status
    assert raw.status_code == code
    if isinstance(status, int):
        assert raw.json() == {"ok": False, "error_code": code, "description": description}
    else:
        assert raw.headers["content-type"].startswith("text/html") and "404 Not Found" in raw.text
    assert fake.call_counts["setMyCommands"] == 4 and fake.injected_failures["setMyCommands"] == 3
    assert fake.commands == [{"command": "start", "description": "Empezar"}]
    assert fake.method_status == {}


async def test_method_status_is_checked_and_can_be_set_from_outside(telegram: FakeBotApi) -> None:
    with pytest.raises(KeyError):
        telegram.set_method_status("setMyCommandz", 404)
    with pytest.raises(ValueError, match="HTTP error status"):
        telegram.set_method_status("setMyCommands", 200)
    async with httpx.AsyncClient(base_url=telegram.url) as client:
        body = {"method": "setMyCommands", "status": 404, "page": True}
        assert (await client.post("/_control/method_status", json=body)).json() == {"ok": True}
        assert telegram.method_status == {"setMyCommands": PlainPage(404)}
        body = {"method": "sendMessage", "status": 500}
        assert (await client.post("/_control/method_status", json=body)).status_code == 200
        assert telegram.method_status["sendMessage"] == 500
        await client.post("/_control/method_status", json={"method": "sendMessage", "status": None})
    assert telegram.method_status == {"setMyCommands": PlainPage(404)}
    assert _parse_method_status("setMyCommands=404") == ("setMyCommands", 404)
    assert _parse_method_status("setMyCommands=404:page") == ("setMyCommands", PlainPage(404))


async def test_send_document_uploads_the_file_and_sends_it_again_by_its_file_id(telegram: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Otra vez", callback_data="again")]])
    message = await bot.send_document(
        CHAT, b"%PDF-1.7 ruta", filename="ruta.pdf", caption="<b>Tu ruta</b>", parse_mode="HTML", reply_markup=keyboard
    )
    assert (message.caption, message.caption_entities[0].type, message.text) == ("Tu ruta", "bold", None)
    assert message.document is not None and message.document.file_name == "ruta.pdf"
    assert (message.document.mime_type, message.document.file_size) == ("application/pdf", 13)
    again = await bot.send_document(CHAT, message.document.file_id)
    assert again.document is not None and again.document.file_id == message.document.file_id and again.caption is None
    [first, second] = telegram.documents(CHAT)
    assert first is second and first.data == b"%PDF-1.7 ruta"
    assert telegram.bot_messages(CHAT)[0].buttons == [("Otra vez", "again")]
    with pytest.raises(BadRequest, match="no text in the message"):
        await bot.edit_message_text("otro", CHAT, message.message_id)


@pytest.mark.parametrize(
    ("document", "caption", "error"),
    [
        (b"", None, "file must be non-empty"),
        ("BQACunknown", None, "wrong file identifier"),
        (b"%PDF", "x" * 1025, "caption is too long"),
    ],
)
async def test_send_document_refuses_what_telegram_refuses(
    telegram: FakeBotApi, bot: Bot, document: Any, caption: str | None, error: str
) -> None:
    with pytest.raises(BadRequest, match=f"(?i){error}"):
        await bot.send_document(CHAT, document, filename="ruta.pdf", caption=caption)
    assert telegram.bot_messages(CHAT) == []


async def test_send_document_without_a_document_is_refused(telegram: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{telegram.api_url}/sendDocument", data={"chat_id": str(CHAT)})
    assert response.status_code == 400 and "there is no document" in response.json()["description"]


def test_markdown_v2_requires_escaping() -> None:
    assert parse_text(r"*Hola* \- _ok_\.", "MarkdownV2").text == "Hola - ok."
    with pytest.raises(EntityError, match=r"'\.' is reserved"):
        parse_text("Listo.", "MarkdownV2")


# --- WhatsApp Cloud API ---------------------------------------------------------------------------------------------


def _button(index: int, title: str | None = None) -> dict[str, Any]:
    return {"type": "reply", "reply": {"id": f"opt_{index}", "title": title or f"Opción {index}"}}


def _list_message(rows: int) -> dict[str, Any]:
    section = {"title": "Instrumentos", "rows": [{"id": f"row_{i}", "title": f"Fila {i}"} for i in range(rows)]}
    action = {"button": "Ver opciones", "sections": [section]}
    return {"type": "list", "body": {"text": "Elige un instrumento"}, "action": action}


def _payload(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind, kind: content}


async def _post(graph: FakeGraphApi, payload: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or graph.access_token}"}
    async with httpx.AsyncClient() as client:
        return await client.post(graph.messages_url(), json=payload, headers=headers)


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("text", {"body": "Hola 👋", "preview_url": False}),
        (
            "interactive",
            {"type": "button", "body": {"text": "¿Formal?"}, "action": {"buttons": [_button(1), _button(2)]}},
        ),
        ("interactive", _list_message(10)),
    ],
)
async def test_graph_accepts_valid_messages(graph: FakeGraphApi, kind: str, content: dict[str, Any]) -> None:
    response = await _post(graph, _payload("56911112222", kind, content))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contacts"] == [{"input": "56911112222", "wa_id": "56911112222"}]
    assert body["messages"][0]["id"].startswith("wamid.")
    assert await graph.wait_for("56911112222", 1, timeout=1) == [_payload("56911112222", kind, content)]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (_list_message(11), "interactive.action.sections"),
        (
            {"type": "button", "body": {"text": "x"}, "action": {"buttons": [_button(1, "x" * 21)]}},
            "interactive.action.buttons[0].reply.title",
        ),
    ],
)
async def test_graph_rejects_limits(graph: FakeGraphApi, content: dict[str, Any], field: str) -> None:
    response = await _post(graph, _payload("56911112222", "interactive", content))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131009 and field in error["message"]
    assert graph.sent("56911112222") == []


async def test_graph_rejects_bad_token_and_injects_failures(graph: FakeGraphApi) -> None:
    payload = _payload("56911112222", "text", {"body": "hola"})
    response = await _post(graph, payload, token="wrong")
    assert (response.status_code, response.json()["error"]["code"]) == (401, 190)
    graph.fail_next(status=429)
    response = await _post(graph, payload)
    assert (response.status_code, response.json()["error"]["code"]) == (429, 130429)
    graph.fail_next(status="disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        await _post(graph, payload)
    assert (await _post(graph, payload)).status_code == 200
    assert (len(graph.sent("56911112222")), graph.injected_failures) == (1, 2)


async def _upload(graph: FakeGraphApi, files: Any, data: dict[str, str]) -> httpx.Response:
    url = graph.messages_url().removesuffix("/messages") + "/media"
    async with httpx.AsyncClient() as client:
        return await client.post(url, files=files, data=data, headers={"Authorization": f"Bearer {graph.access_token}"})


async def test_graph_media_upload_gives_an_id_a_document_message_names(graph: FakeGraphApi) -> None:
    form = {"messaging_product": "whatsapp", "type": "application/pdf"}
    response = await _upload(graph, {"file": ("ruta.pdf", b"%PDF-1.7 ruta", "application/pdf")}, form)
    assert response.status_code == 200 and set(response.json()) == {"id"}
    media_id = response.json()["id"]
    document = {"id": media_id, "filename": "ruta.pdf", "caption": "Tu ruta"}
    assert (await _post(graph, _payload("56911112222", "document", document))).status_code == 200
    [sent] = graph.sent("56911112222")
    uploaded = graph.uploaded(sent)
    assert uploaded is not None and (uploaded.data, uploaded.mime_type, uploaded.filename) == (
        b"%PDF-1.7 ruta",
        "application/pdf",
        "ruta.pdf",
    )


@pytest.mark.parametrize(
    ("files", "data", "message"),
    [
        (None, {"messaging_product": "whatsapp", "type": "application/pdf"}, "The parameter file is required"),
        (
            {"file": ("ruta.pdf", b"", "application/pdf")},
            {"messaging_product": "whatsapp", "type": "application/pdf"},
            "The parameter file is required",
        ),
        (
            {"file": ("ruta.pdf", b"%PDF", "application/pdf")},
            {"type": "application/pdf"},
            "The parameter messaging_product is required",
        ),
        (
            {"file": ("ruta.pdf", b"%PDF", "application/pdf")},
            {"messaging_product": "whatsapp"},
            "The parameter type is required",
        ),
        (
            {"file": ("ruta.exe", b"MZ", "application/x-msdownload")},
            {"messaging_product": "whatsapp", "type": "application/x-msdownload"},
            "not a supported media type",
        ),
    ],
)
async def test_graph_media_upload_refuses_what_the_cloud_api_refuses(
    graph: FakeGraphApi, files: Any, data: dict[str, str], message: str
) -> None:
    response = await _upload(graph, files, data)
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert graph.media == {}


def test_inbound_payloads_and_signature() -> None:
    payload = graph_api.button_reply("56911112222", "formal_yes", "Sí")
    value = payload["entry"][0]["changes"][0]["value"]
    [message] = value["messages"]
    assert (payload["object"], value["contacts"][0]["wa_id"], message["from"]) == (
        "whatsapp_business_account",
        "56911112222",
        "56911112222",
    )
    assert message["interactive"]["button_reply"] == {"id": "formal_yes", "title": "Sí"}
    voice = graph_api.media_message("56911112222", "voice")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (voice["type"], voice["audio"]["voice"]) == ("audio", True)
    body = json.dumps(graph_api.text_message("56911112222", "hola")).encode()
    assert graph_api.sign(body, "secret").startswith("sha256=") and len(graph_api.sign(body, "secret")) == 71
