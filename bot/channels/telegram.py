"""Telegram channel (python-telegram-bot 22): translates updates to engine turns and replies to messages.

Closed questions become inline keyboards whose callback data is the button's payload; a pressed button is
answered, the question is edited to show the choice, and the payload goes to the engine. Replies are Telegram
HTML (the templates escape every value), split under 4,096 characters; a reply's document (the route as a PDF) is
uploaded with sendDocument, the text as its caption when it fits (else the text goes first) and the buttons on
it. Voice notes, photos, stickers and the like get a kind reply; edits and channel posts are ignored. One chat's
updates are handled in order, many chats at once.

An update's turn is committed with its replies in the outbox and its update id as processed (bot/engine.py);
the outbox sender (bot/channels/sender.py) sends the replies, retrying flood limits and network errors. The
webhook answers 200 only once the turn is committed (503 if the database cannot be written, so Telegram sends
the update again), and long polling (TelegramPolling) asks for the next updates, which confirms the previous
ones, only once they are committed: a kill at any moment neither loses an update nor answers one twice.

The command menu (setMyCommands) is best effort: a server that does not implement it, refuses it or keeps
failing gets a short bounded retry (at most COMMAND_MENU_SECONDS in all), one warning, and the bot serves anyway.
setWebhook is not: without it webhook mode receives nothing, so its failure raises WebhookRefused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")  # opt in to PTB 23's timedelta durations (no deprecation warnings)
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode, UpdateType
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.channels.aiohttp_request import AiohttpRequest
from bot.channels.retry import backoff, send_with_retry
from bot.channels.sender import OutboxSender
from bot.channels.split import split_message, utf16_length
from bot.channels.telegram_update import Update as CheckedUpdate
from bot.channels.telegram_update import check_update, serves
from bot.channels.turns import ChannelEngine
from bot.database_health import unwritable
from bot.domain import Button
from bot.replies import Document, Reply
from nlu.bounded_json import loads_bounded

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "TelegramBot",
    "TelegramChannel",
    "TelegramPolling",
    "TelegramWebhook",
    "WebhookRefused",
    "build_application",
    "register_commands",
    "webhook_secret",
]

CHANNEL = "telegram"
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.CALLBACK_QUERY]
SHORT_TITLE = 14  # buttons whose titles are all this short go two to a row
# Sends in flight at once, and the HTTP connections for them. httpcore re-scans every queued request each time a
# connection frees up, so more requests than connections make sending quadratic: the bot queues them instead.
CONNECTIONS = 8
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# The command menu may hold up start-up this long at most (all attempts and waits), in this many attempts.
COMMAND_MENU_SECONDS = 2.0
COMMAND_MENU_ATTEMPTS = 3

logger = logging.getLogger(__name__)
Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]


def retry_delay(exc: Exception, attempt: int) -> float | None:
    """Telegram's flood limit says how long to wait; network failures back off; a bad request is final."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return backoff(attempt)
    return None


def keyboard(buttons: list[Button]) -> InlineKeyboardMarkup | None:
    """One button per row, or two when every title is short; the callback data is the payload."""
    if not buttons:
        return None
    width = 2 if all(len(button.title) <= SHORT_TITLE for button in buttons) else 1
    keys = [InlineKeyboardButton(button.title, callback_data=button.payload) for button in buttons]
    return InlineKeyboardMarkup([keys[i : i + width] for i in range(0, len(keys), width)])


def _chosen_title(message: Message, data: str) -> str | None:
    """The title of the keyboard button that carries `data`."""
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup else ()
    return next((key.text for row in rows for key in row if key.callback_data == data), None)


@dataclass(frozen=True)
class DocumentPart:
    """A reply's document as one message: sendDocument, with a caption (Telegram HTML) and the reply's buttons."""

    document: Document
    caption: str | None
    buttons: list[Button]


TextPart = tuple[str, list[Button]]


class TelegramTransport:
    """Telegram as the outbox sender's transport: a reply's HTML parts, the keyboard with the last one."""

    def __init__(self, bot: ExtBot[None]) -> None:
        self.bot = bot
        self.sending = asyncio.Semaphore(CONNECTIONS)

    def parts(self, reply: Reply) -> list[TextPart | DocumentPart]:
        document = reply.document
        if document is not None and utf16_length(reply.text) <= MessageLimit.CAPTION_LENGTH:
            return [DocumentPart(document, reply.text.strip() or None, reply.buttons)]
        parts = split_message(reply.text, MessageLimit.MAX_TEXT_LENGTH)
        buttons = reply.buttons if document is None else []
        texts: list[TextPart | DocumentPart] = [
            (part, buttons if number == len(parts) else []) for number, part in enumerate(parts, start=1)
        ]
        return texts if document is None else [*texts, DocumentPart(document, None, reply.buttons)]

    async def send(self, address: str, part: TextPart | DocumentPart, tag: str = "") -> None:
        async with self.sending:
            if isinstance(part, DocumentPart):
                await self._send_document(int(address), part)
                return
            text, buttons = part
            await self.bot.send_message(
                int(address),
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(buttons),
                link_preview_options=NO_PREVIEW,
            )

    async def _send_document(self, chat_id: int, part: DocumentPart) -> None:
        """Upload the file (multipart; its type follows its name's extension)."""
        await self.bot.send_document(
            chat_id,
            part.document.data,
            filename=part.document.filename,
            caption=part.caption,
            parse_mode=ParseMode.HTML if part.caption else None,
            reply_markup=keyboard(part.buttons),
        )

    def retry_delay(self, exc: Exception, attempt: int) -> float | None:
        return retry_delay(exc, attempt)


class TelegramChannel:
    """The handlers: each translates one kind of update into an engine turn (its replies go to the outbox)."""

    def __init__(self, engine: ChannelEngine, sender: OutboxSender, sending: asyncio.Semaphore) -> None:
        self.engine = engine
        self.sender = sender
        self.sending = sending  # shared with the sender: CONNECTIONS requests in flight in all
        self.unstored: set[int] = set()  # updates whose turn could not be stored (the database is away)

    def install(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Register the handlers: text and commands, pressed buttons, everything else a private chat sends."""
        private_message = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(private_message & filters.TEXT, self.on_text))
        application.add_handler(CallbackQueryHandler(self.on_button))
        unsupported = private_message & ~filters.TEXT & ~filters.StatusUpdate.ALL
        application.add_handler(MessageHandler(unsupported, self.on_unsupported))
        application.add_error_handler(self.on_error)

    async def on_text(self, update: Update, context: Context) -> None:
        message = update.message
        if message is None or message.text is None:
            return
        await self._take(update, message.chat_id, message.text)

    async def on_button(self, update: Update, context: Context) -> None:
        query, chat = update.callback_query, update.effective_chat
        if query is None or query.data is None or chat is None or chat.type != ChatType.PRIVATE:
            return  # only private chats are served, for pressed buttons as for messages
        try:
            await self._call(query.answer, "answerCallbackQuery")
        except TelegramError as exc:  # too old to answer, say: the press counts all the same
            logger.info("button not answered", extra={"event": "answer_skipped", "error": type(exc).__name__})
        if isinstance(query.message, Message):
            await self._show_choice(query.message, query.data)
        await self._take(update, chat.id, query.data)

    async def on_unsupported(self, update: Update, context: Context) -> None:
        message = update.message
        if message is None:
            return
        await self._take(update, message.chat_id, None)

    async def _take(self, update: Update, chat_id: int, text: str | None) -> None:
        """The update's turn, committed with its replies; an update that cannot be stored is remembered, so that
        the webhook answers 503 and long polling asks for it again."""
        try:
            async with self.engine.conversation(str(chat_id)):
                await self.engine.take(str(chat_id), text, str(update.update_id))
        except SQLAlchemyError as exc:
            self.unstored.add(update.update_id)
            if unwritable(exc) is None:  # else logged once, by its condition (bot/database_health.py)
                logger.error("turn not stored", extra={"event": "telegram_unavailable", "error": type(exc).__name__})
        finally:
            self.sender.wake()

    async def on_error(self, update: object, context: Context) -> None:
        """Log what failed (no user identifiers: the update itself is not logged)."""
        error = context.error
        logger.error("update failed", extra={"event": "telegram_error", "error": type(error).__name__}, exc_info=error)

    async def _show_choice(self, question: Message, data: str) -> None:
        """Edit the question to show what was chosen and drop its keyboard (a stale question is left as is)."""
        title = _chosen_title(question, data)
        if title is None or question.text is None:
            return
        text = f"{question.text_html}\n\n👉 <b>{html.escape(title, quote=False)}</b>"
        try:
            await self._call(lambda: question.edit_text(text, parse_mode=ParseMode.HTML), "editMessageText")
        except BadRequest as exc:
            logger.info("question not edited", extra={"event": "edit_skipped", "reason": exc.message})

    async def _call(self, send: Callable[[], Awaitable[Any]], what: str) -> Any:
        async with self.sending:
            return await send_with_retry(send, retry_delay, what)


async def register_commands(application: Application[Any, Any, Any, Any, Any, Any], menu: dict[str, str]) -> bool:
    """Show the command menu (/start, /ayuda, …) in the chat app, best effort: False (and one warning) if not.

    Transient failures (network, 5xx, a short flood wait) are retried within COMMAND_MENU_SECONDS; a method the
    server does not know (404), a refusal or a longer wait give up at once. Only the error's type is logged: its
    message may quote a server's page, and a page may quote the request URL, which holds the token.
    """
    commands = [BotCommand(command, description) for command, description in menu.items()]
    try:
        async with asyncio.timeout(COMMAND_MENU_SECONDS):
            for attempt in range(COMMAND_MENU_ATTEMPTS):
                try:
                    await application.bot.set_my_commands(commands)
                    return True
                except TelegramError as exc:
                    wait = retry_delay(exc, attempt)
                    if wait is None or wait > COMMAND_MENU_SECONDS / 2 or attempt == COMMAND_MENU_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(wait)
    except (TelegramError, TimeoutError) as exc:
        logger.warning(
            "command menu not registered; the bot serves without it",
            extra={"event": "command_menu_skipped", "call": "setMyCommands", "error": type(exc).__name__},
        )
    return False


@dataclass
class TelegramBot:
    """The python-telegram-bot application with this bot's handlers and its outbox sender."""

    application: Application[Any, Any, Any, Any, Any, Any]
    channel: TelegramChannel
    sender: OutboxSender

    async def start(self) -> None:
        """Initialise the application, register the command menu (best effort) and start sending."""
        await self.application.initialize()
        if self.application.post_init:
            await self.application.post_init(self.application)
        await self.application.start()
        self.sender.start()

    async def process(self, update: Update) -> bool:
        """Handle one update; False if its turn could not be stored (it must come again)."""
        await self.application.process_update(update)
        if update.update_id in self.channel.unstored:
            self.channel.unstored.discard(update.update_id)
            return False
        return True

    async def stop(self, flush_seconds: float = 0.0) -> None:
        """Deliver what can be delivered within `flush_seconds`, then stop; what is left stays in the outbox."""
        if flush_seconds > 0:
            await self.sender.flush(flush_seconds)
        await self.sender.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()


def build_application(engine: ChannelEngine, token: str, base_url: str) -> TelegramBot:
    """The python-telegram-bot application (updates come from TelegramPolling or TelegramWebhook, not PTB's
    updater) with the handlers and the outbox sender."""
    menu = engine.engine.rules.command_menu

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await register_commands(application, menu)

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .request(AiohttpRequest(CONNECTIONS))
        .get_updates_request(AiohttpRequest(1))
        .post_init(post_init)
        .updater(None)
        .build()
    )
    transport = TelegramTransport(application.bot)
    channel = TelegramChannel(engine, engine.sender(transport), transport.sending)
    channel.install(application)
    return TelegramBot(application, channel, channel.sender)


class TelegramPolling:
    """Long polling that confirms updates only once their turns are committed.

    getUpdates with `offset` confirms every update below it, so the next call is made only after the batch is
    handled: a process killed in between gets the batch again and the processed-messages table skips what was
    committed. Chats of a batch are handled at once, one chat's updates in order. An update that could not be
    stored holds the offset at its id (it is asked for again after a pause).
    """

    def __init__(self, bot: TelegramBot, poll_timeout: int = 10) -> None:
        self.bot = bot
        self.poll_timeout = poll_timeout
        self.offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._fetch: asyncio.Task[tuple[Update, ...]] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start polling (a webhook left set would make getUpdates fail with 409: it is deleted first)."""
        try:
            await send_with_retry(lambda: self.bot.application.bot.delete_webhook(), retry_delay, "deleteWebhook")
        except TelegramError as exc:
            logger.warning("webhook not deleted", extra={"event": "telegram_poll_error", "error": type(exc).__name__})
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def _run(self) -> None:
        failures = stalled = 0
        while not self._stopping:
            self._fetch = asyncio.create_task(self._get_updates())
            try:
                updates = await self._fetch
            except asyncio.CancelledError:
                return
            except TelegramError as exc:
                logger.warning("getUpdates failed", extra={"event": "telegram_poll_error", "error": type(exc).__name__})
                failures += 1
                await asyncio.sleep(backoff(failures))
                continue
            failures = 0
            stalled = stalled + 1 if updates and not await self._handle(list(updates)) else 0
            if stalled:  # the batch could not be stored: asked for again after 1 s, 2 s, 4 s… up to 30 s
                await asyncio.sleep(backoff(stalled, 0.5))

    async def _get_updates(self) -> tuple[Update, ...]:
        updates: tuple[Update, ...] = await self.bot.application.bot.get_updates(
            offset=self.offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
        )
        return updates

    async def _handle(self, updates: list[Update]) -> bool:
        """Handle a batch; move the offset past what was stored (all of it, or up to the first unstored)."""
        chats: dict[int, list[Update]] = {}
        for update in updates:
            chat = update.effective_chat
            chats.setdefault(chat.id if chat else 0, []).append(update)
        unstored = [uid for done in await asyncio.gather(*map(self._chat, chats.values())) for uid in done]
        self.offset = min(unstored) if unstored else max(update.update_id for update in updates) + 1
        return not unstored

    async def _chat(self, updates: list[Update]) -> list[int]:
        """One chat's updates in order; the ids of those not stored (and of every later one of the chat)."""
        for index, update in enumerate(updates):
            if not await self.bot.process(update):
                return [later.update_id for later in updates[index:]]
        return []

    async def stop(self) -> None:
        """Stop asking for updates; a batch being handled is finished first (its turns reach the outbox)."""
        self._stopping = True
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def poll_until_stopped(bot: TelegramBot, flush_seconds: float) -> None:
    """`ruta telegram`: long polling until SIGTERM or SIGINT, then a graceful stop: no new updates are asked for,
    the batch in hand is finished, the outbox is flushed for up to `flush_seconds`, and what is left stays in the
    outbox for the next start. A second signal exits at once (what was committed is kept)."""
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            os.write(2, b"ruta: stopped at once; replies not sent stay in the outbox\n")
            os._exit(0)
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    polling = TelegramPolling(bot)
    await bot.start()
    await polling.start()
    await stop.wait()
    logger.info("stopping", extra={"event": "telegram_stopping"})
    await polling.stop()
    await bot.stop(flush_seconds)


def webhook_secret(token: str, configured: str | None) -> str:
    """The configured secret, else one derived from the token (Telegram allows A-Z, a-z, 0-9, _ and -)."""
    return configured or hmac.new(token.encode(), b"ruta-telegram-webhook", hashlib.sha256).hexdigest()


class WebhookRefused(Exception):
    """setWebhook failed even after retries: webhook mode cannot receive updates. The message is one line."""


def _description(exc: TelegramError) -> str:
    """The Bot API's own description of an error, when it answered JSON (a web page is not quoted: see above)."""
    own = exc.__cause__ is None and isinstance(exc, BadRequest | Forbidden | InvalidToken)
    return f": {exc.message[:200]}" if own else ""


class TelegramWebhook:
    """The /telegram endpoint of `ruta serve`: checks Telegram's secret token and the update, then queues it.

    A body that is not a Telegram update (see telegram_update) gets 400 and one log line without its content;
    an update the bot does not serve (a group, a channel, an edit) is acknowledged and dropped."""

    def __init__(self, bot: TelegramBot, secret: str, max_depth: int = 32) -> None:
        self.bot = bot
        self.application = bot.application
        self.secret = secret
        self.max_depth = max_depth

    async def receive(self, request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            logger.warning("bad secret token", extra={"event": "telegram_forbidden"})
            return PlainTextResponse("forbidden", status_code=403)
        try:
            checked, update = self._read(await request.body())
        except ValueError as exc:
            logger.warning("unreadable update", extra={"event": "telegram_bad_request", "reason": str(exc)})
            return PlainTextResponse("unreadable update", status_code=400)
        if serves(checked) and not await self.bot.process(update):
            return PlainTextResponse("try again later", status_code=503)
        return PlainTextResponse("ok")

    def _read(self, body: bytes) -> tuple[CheckedUpdate, Update]:
        """The update checked by its model, then parsed by python-telegram-bot; ValueError if either refuses."""
        data = loads_bounded(body, max_depth=self.max_depth)
        checked = check_update(data)
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # python-telegram-bot's parser on fields this bot does not read
            raise ValueError(f"not parsed by python-telegram-bot ({type(exc).__name__})") from None
        return checked, update

    async def start(self, url: str | None) -> None:
        """Start handling updates; with a public URL, tell Telegram to post them there.

        The command menu is best effort (see register_commands). If setWebhook still fails after the usual
        retries, the application is stopped again and WebhookRefused says so in one line (no URL, no token).
        """
        await self.bot.start()
        if not url:
            return
        bot = self.application.bot
        try:
            await send_with_retry(
                lambda: bot.set_webhook(url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES),
                retry_delay,
                "setWebhook",
            )
        except TelegramError as exc:
            await self.stop()
            raise WebhookRefused(
                f"Telegram did not accept the webhook (setWebhook: {type(exc).__name__}{_description(exc)}); "
                "check RUTA_TELEGRAM_WEBHOOK_URL, RUTA_TELEGRAM_TOKEN and RUTA_TELEGRAM_BASE_URL"
            ) from None

    async def stop(self, flush_seconds: float = 0.0) -> None:
        await self.bot.stop(flush_seconds)
