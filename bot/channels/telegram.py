"""Telegram channel (python-telegram-bot 22): translates updates to engine turns and replies to messages.

Closed questions become inline keyboards whose callback data is the button's payload; a pressed button is
answered, the question is edited to show the choice, and the payload goes to the engine. Replies are Telegram
HTML (the templates escape every value), split under 4,096 characters. Voice notes, photos, stickers and the
like get a kind reply; edits and channel posts are ignored. One chat's updates are handled in order, many chats
at once; flood limits and network errors are retried.

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
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "true")  # opt in to PTB 23's timedelta durations (no deprecation warnings)
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
    BaseUpdateProcessor,
    CallbackContext,
    CallbackQueryHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.channels.aiohttp_request import AiohttpRequest
from bot.channels.ordering import KeyedLock, RecentIds
from bot.channels.retry import backoff, send_with_retry
from bot.channels.split import split_message
from bot.channels.telegram_update import Update as CheckedUpdate
from bot.channels.telegram_update import check_update, serves
from bot.channels.turns import ChannelEngine
from bot.domain import Button
from bot.replies import Reply
from nlu.bounded_json import loads_bounded

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "ChatOrderedProcessor",
    "TelegramChannel",
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


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; updates of one chat wait for each other, in arrival order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = KeyedLock()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        async with self.locks.hold(chat.id):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


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


class TelegramChannel:
    """The handlers: each translates one kind of update into an engine turn and sends the replies."""

    def __init__(self, engine: ChannelEngine) -> None:
        self.engine = engine
        self.sending = asyncio.Semaphore(CONNECTIONS)

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
        replies = await self.engine.reply(str(message.chat_id), message.text)
        await self.send(context.bot, message.chat_id, replies)

    async def on_button(self, update: Update, context: Context) -> None:
        query, chat = update.callback_query, update.effective_chat
        if query is None or query.data is None or chat is None or chat.type != ChatType.PRIVATE:
            return  # only private chats are served, for pressed buttons as for messages
        chat_id = chat.id
        await self._call(query.answer, "answerCallbackQuery")
        if isinstance(query.message, Message):
            await self._show_choice(query.message, query.data)
        replies = await self.engine.reply(str(chat_id), query.data)
        await self.send(context.bot, chat_id, replies)

    async def on_unsupported(self, update: Update, context: Context) -> None:
        message = update.message
        if message is None:
            return
        replies = await self.engine.reply_unsupported(str(message.chat_id))
        await self.send(context.bot, message.chat_id, replies)

    async def on_error(self, update: object, context: Context) -> None:
        """Log what failed (no user identifiers: the update itself is not logged)."""
        error = context.error
        logger.error("update failed", extra={"event": "telegram_error", "error": type(error).__name__}, exc_info=error)

    async def send(self, bot: ExtBot[None], chat_id: int, replies: list[Reply]) -> None:
        """Send each reply as HTML, split under Telegram's limit; the keyboard goes with the last part."""
        for reply in replies:
            parts = split_message(reply.text, MessageLimit.MAX_TEXT_LENGTH)
            for number, part in enumerate(parts, start=1):
                markup = keyboard(reply.buttons) if number == len(parts) else None
                await self._call(
                    lambda part=part, markup=markup: bot.send_message(  # type: ignore[misc]
                        chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
                    ),
                    "sendMessage",
                )

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


def build_application(
    engine: ChannelEngine, token: str, base_url: str, *, polling: bool = True
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The python-telegram-bot application; without an updater when updates come through the webhook."""
    menu = engine.engine.rules.command_menu

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await register_commands(application, menu)

    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .concurrent_updates(ChatOrderedProcessor())
        .request(AiohttpRequest(CONNECTIONS))
        .get_updates_request(AiohttpRequest(1))
        .post_init(post_init)
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    TelegramChannel(engine).install(application)
    return application


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

    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], secret: str, max_depth: int = 32
    ) -> None:
        self.application = application
        self.secret = secret
        self.max_depth = max_depth
        self.seen = RecentIds()

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
        if serves(checked) and self.seen.first_time(checked.update_id):
            await self.application.update_queue.put(update)
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
        await self.application.initialize()
        if self.application.post_init:  # what run_webhook would do: register the command menu
            await self.application.post_init(self.application)
        await self.application.start()
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

    async def stop(self) -> None:
        await self.application.stop()
        await self.application.shutdown()
