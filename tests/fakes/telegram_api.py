"""A strict, fast fake of the Telegram Bot API speaking real HTTP on 127.0.0.1.

Point python-telegram-bot at it with ``ApplicationBuilder().token(fake.token).base_url(fake.base_url)``; simulate
users with ``send_text``/``press_button``/...; inspect what the bot did with ``bot_messages``/``calls``/...

It can also run on its own (``python -m tests.fakes.telegram_api --port 8081``) and be driven through the small
control API under ``/_control/`` (see ``FakeBotApi.control_routes``).

Failures: ``fail_next(method, times=..., status=...)`` makes the next few calls of a method fail (429 with
``retry_after``, a 5xx proxy page, or a dropped connection), as a passing outage would. A Bot API server that
does not implement a method, or always fails it, is ``method_status``: every call of that method, until
cleared, is answered with that HTTP status and nothing is applied (the call is still recorded and counted in
``injected_failures``)::

    FakeBotApi(method_status={"setMyCommands": 404})  # 404 {"ok":false,"error_code":404,"description":"Not Found"}
    FakeBotApi(method_status={"setMyCommands": 500})  # 500 {..."error_code":500,"description":"Internal Server Error"}
    FakeBotApi(method_status={"setMyCommands": PlainPage(404)})  # a non-JSON "404 Not Found" HTML page
    fake.set_method_status("setMyCommands", 404)  # the same on a running fake
    fake.set_method_status("setMyCommands", None)  # the method works again

Method names are case-insensitive and must be methods the fake knows. A one-shot ``fail_next`` failure, if
queued, is answered first. Out of process: ``POST /_control/method_status {"method", "status", "page"}``
(``status`` null clears) or ``--method-status setMyCommands=404`` (``=404:page`` for the HTML page).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.parser
import email.policy
import itertools
import json
import mimetypes
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import (
    DISCONNECT,
    Failure,
    FailureStatus,
    FaultInjector,
    LocalServer,
    Service,
    Signals,
    drop_connection,
)
from tests.fakes.server import serve_forever as _serve_forever
from tests.fakes.telegram_markup import EntityError, ParsedText, parse_text

DEFAULT_TOKEN = "123456789:AAFakeTokenForTests-0123456789abcdefg"
DEFAULT_BOT_USERNAME = "ruta_emprende_test_bot"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the Bot API's limit for a file a bot uploads
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# python-telegram-bot form-encodes every parameter, JSON-dumping the non-string ones; these are decoded back.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "scope",
        "media",
        "results",
        "menu_button",
    }
)
_INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "from_chat_id", "reply_to_message_id"})
_INT_FIELDS |= {"message_thread_id", "max_connections", "cache_time", "user_id"}
_BOOL_FIELDS = frozenset({"disable_web_page_preview", "show_alert", "drop_pending_updates", "disable_notification"})
_BOOL_FIELDS |= {"protect_content", "allow_sending_without_reply"}
_INT_RE = re.compile(r"-?\d+")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]+)?")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_URL_RE = re.compile(r"(?:https?|tg)://[^\s/$.?#][^\s]*")
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
    "web_app",
)
_UPDATES = "updates"  # Signals key: the update queue changed
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
_POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"

JsonDict = dict[str, Any]
Handler = Callable[[JsonDict], Awaitable[Any]]


@dataclass(frozen=True)
class PlainPage:
    """A ``method_status`` answer that is not the Bot API's JSON: an HTML error page, as a web server sends."""

    status: int


MethodStatus = int | PlainPage  # an int is answered with the Bot API's JSON error body


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        body: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return JSONResponse(body, status_code=self.code)


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# --- request decoding -----------------------------------------------------------------------------------------------


def _decode_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {key} JSON object") from None
    if key in _INT_FIELDS:
        return int(value) if _INT_RE.fullmatch(value) else value
    if key in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request: its name, its declared type and its bytes."""

    filename: str
    content_type: str | None
    data: bytes = field(repr=False)


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: JsonDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        declared = part.get_content_type() if part.get("content-type") else None
        fields[str(name)] = UploadedFile(filename, declared, data) if filename else data.decode()
    return fields


async def read_params(request: Request) -> JsonDict:
    """Decode query string plus a form-urlencoded, multipart or JSON body into typed parameters."""
    params: JsonDict = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if not body:
            pass
        elif content_type.startswith("application/json"):
            params.update(json.loads(body))
        elif content_type.startswith("multipart/form-data"):
            params.update(_parse_multipart(content_type, body))
        else:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
    except (ValueError, TypeError):
        raise _bad("can't parse request body") from None
    return {key: _decode_value(key, value) for key, value in params.items()}


def _parse_marked(text: str, parse_mode: Any) -> ParsedText:
    """A text or caption in its parse mode, refused like Telegram does when its markup is wrong."""
    try:
        return parse_text(text, parse_mode)
    except EntityError as exc:
        raise _bad(f"can't parse entities: {exc}") from None
    except ValueError:
        raise _bad("unsupported parse_mode") from None


# --- reply markup validation ----------------------------------------------------------------------------------------


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"].strip():
        raise _bad("can't parse inline keyboard button: Text must be non-empty")
    actions = [name for name in _BUTTON_ACTIONS if name in button]
    if not actions:
        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _bad(f"can't parse inline keyboard button: only one of {actions} may be used")
    data = button.get("callback_data")
    if "callback_data" in button and (not isinstance(data, str) or not 1 <= len(data.encode()) <= 64):
        raise _bad("BUTTON_DATA_INVALID")
    url = button.get("url")
    if "url" in button and (not isinstance(url, str) or not _URL_RE.fullmatch(url)):
        raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _rows(markup: JsonDict, key: str, kind: str) -> list[list[Any]]:
    rows = markup[key]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad(f'field "{key}" of the {kind} should be an Array of Arrays')
    return rows


def check_reply_markup(markup: Any) -> JsonDict | None:
    """Validate ``reply_markup`` like Telegram; returns it (or None)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for button in itertools.chain.from_iterable(_rows(markup, "inline_keyboard", "InlineKeyboardMarkup")):
            _check_inline_button(button)
    elif "keyboard" in markup:
        for button in itertools.chain.from_iterable(_rows(markup, "keyboard", "ReplyKeyboardMarkup")):
            if not isinstance(button, str | dict) or not (button if isinstance(button, str) else button.get("text")):
                raise _bad("keyboard button text is empty")
    elif not (markup.get("remove_keyboard") or markup.get("force_reply")):
        raise _bad("can't parse reply keyboard markup JSON object")
    return markup


def _inline_only(markup: JsonDict | None) -> JsonDict | None:
    if markup is not None and "inline_keyboard" not in markup:
        raise _bad("inline keyboard expected")
    return markup


# --- data model -----------------------------------------------------------------------------------------------------


@dataclass
class FakeUser:
    """A simulated Telegram user; its private chat has the same id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "es"

    def as_user(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {"last_name": self.last_name, "username": self.username, "language_code": self.language_code}
        return data | {key: value for key, value in optional.items() if value is not None}

    def as_chat(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        optional = {"last_name": self.last_name, "username": self.username}
        return data | {key: value for key, value in optional.items() if value is not None}


@dataclass
class SentMessage:
    """A message the bot sent, in its current version; ``edits`` holds the previous versions, oldest first."""

    chat_id: int
    message_id: int
    text: str
    html: str
    parse_mode: str | None
    reply_markup: JsonDict | None
    entities: list[JsonDict] = field(default_factory=list)
    date: int = 0
    edits: list[SentMessage] = field(default_factory=list)
    deleted: bool = False
    raw: JsonDict = field(default_factory=dict, repr=False)
    document: SentDocument | None = None  # a sendDocument message: `text` and `html` are its caption

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """(text, callback_data) of every inline button, row by row; callback_data is None for URL buttons."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(button["text"], button.get("callback_data")) for row in rows for button in row]

    @property
    def inline_markup(self) -> JsonDict | None:
        return self.reply_markup if self.reply_markup and "inline_keyboard" in self.reply_markup else None

    def snapshot(self) -> SentMessage:
        return replace(self, edits=[], entities=list(self.entities))

    def to_dict(self) -> JsonDict:
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "text": self.text,
            "html": self.html,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "buttons": self.buttons,
            "entities": self.entities,
            "date": self.date,
            "deleted": self.deleted,
            "edits": [edit.to_dict() for edit in self.edits],
            "document": self.document.as_document() if self.document else None,
        }


@dataclass(frozen=True)
class SentDocument:
    """A file the bot sent with sendDocument, as Telegram keeps it (``data``: the bytes received)."""

    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    data: bytes = field(repr=False)

    def as_document(self) -> JsonDict:
        """The Bot API's Document object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.data),
        }


@dataclass(frozen=True)
class AnsweredCallback:
    id: str
    text: str | None
    show_alert: bool
    url: str | None
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class PushAttempt:
    """One webhook delivery attempt: HTTP status, or None (and ``error``) when the connection failed."""

    update_id: int
    status: int | None
    error: str | None


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Chat:
    info: JsonDict
    last_message_id: int = 0
    messages: dict[int, JsonDict] = field(default_factory=dict)  # every message of the chat, by id
    bot: dict[int, SentMessage] = field(default_factory=dict)  # the bot's messages, in sending order

    def next_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


def _update_chat(update: JsonDict) -> Any:
    body = next(value for key, value in update.items() if key != "update_id")
    chat = body.get("chat") or (body.get("message") or {}).get("chat") or body.get("from") or {}
    return chat.get("id")


def _proxy_error_page(status: int) -> str:
    title = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n"
    )


def _status_response(status: MethodStatus) -> Response:
    """The answer of a method that always fails: the Bot API's JSON error, or a web server's HTML page."""
    if isinstance(status, PlainPage):
        return HTMLResponse(_proxy_error_page(status.status), status_code=status.status)
    return ApiError(status, HTTPStatus(status).phrase).response()


def _parse_method_status(text: str) -> tuple[str, MethodStatus]:
    """``setMyCommands=404`` or ``setMyCommands=404:page`` (the command line's --method-status)."""
    method, _, value = text.partition("=")
    code, _, kind = value.partition(":")
    if not method or not code.isdigit() or kind not in ("", "page"):
        raise argparse.ArgumentTypeError(f"expected METHOD=STATUS or METHOD=STATUS:page, not {text!r}")
    return method, PlainPage(int(code)) if kind else int(code)


def _seconds(value: Any) -> float:
    try:
        return max(float(value or 0), 0.0)
    except (TypeError, ValueError):
        raise _bad(f"invalid timeout {value!r}") from None


def _now() -> int:
    return int(time.time())


# --- the fake -------------------------------------------------------------------------------------------------------


class FakeBotApi(Service):
    """Fake Telegram Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        port: int = 0,
        bot_username: str = DEFAULT_BOT_USERNAME,
        bot_name: str = "Ruta Emprende Atacama",
        record_calls: bool = True,
        method_status: Mapping[str, MethodStatus] | None = None,
    ) -> None:
        self.token = token
        bot_id = token.partition(":")[0]
        self.bot_user: JsonDict = {
            "id": int(bot_id) if bot_id.isdigit() else 123456789,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.record_calls = record_calls
        self.on_bot_message: Callable[[int, SentMessage], None] | None = None
        self.calls: list[tuple[str, JsonDict]] = []
        self.call_counts: Counter[str] = Counter()
        self.answered_callbacks: list[AnsweredCallback] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook_attempts: list[PushAttempt] = []
        self.faults = FaultInjector()
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._open_callbacks: dict[str, tuple[int, int]] = {}
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._documents: dict[str, SentDocument] = {}  # what the bot uploaded, by file_id
        self._signals = Signals()
        self._init_update_state()
        self._handlers = self._method_table()
        self._method_status: dict[str, MethodStatus] = {}
        for method, status in (method_status or {}).items():
            self.set_method_status(method, status)
        self.server = LocalServer(Starlette(routes=self._routes()), port=port)

    def _init_update_state(self) -> None:
        self._first_update_id = 100_000_000
        self._last_update_id = self._first_update_id
        self._pending: deque[JsonDict] = deque()
        self._delivered_upto = self._first_update_id
        self._allowed = DEFAULT_UPDATE_TYPES
        self._allowed_explicit: list[str] | None = None
        self._poll_generation = 0
        self._closing = False
        self._webhook: WebhookConfig | None = None
        self._inflight: dict[int, JsonDict] = {}
        self._deliveries: dict[int, asyncio.Task[None]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._busy = 0
        self._last_activity = 0.0
        self.bot_message_count = 0
        self.edit_count = 0

    # --- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """Value for python-telegram-bot's ``base_url`` (it appends the token): ``http://127.0.0.1:PORT/bot``."""
        return f"{self.server.url}/bot"

    @property
    def api_url(self) -> str:
        """Full method prefix including the token: ``http://127.0.0.1:PORT/bot<token>``."""
        return f"{self.base_url}{self.token}"

    async def start(self) -> None:
        """Start serving (again, after ``stop()``: same port, same state, webhook delivery resumed)."""
        self._closing = False
        await self.server.start()
        if self._webhook is not None and self._dispatcher is None:
            self._start_delivery()

    async def stop(self) -> None:
        """Finish open long polls, stop webhook delivery and the server."""
        self._closing = True
        self._signals.notify(_UPDATES)
        await self._stop_delivery()
        await self.server.stop()

    # --- HTTP layer -----------------------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]), *self.control_routes()]

    def _method_table(self) -> dict[str, tuple[str, Handler]]:
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendChatAction": self._send_chat_action,
            "close": self._true,
            "logOut": self._true,
        }
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    def canonical_method(self, method: str) -> str:
        """The Bot API spelling of ``method`` (method names are case-insensitive); KeyError if unsupported."""
        return self._handlers[method.lower()][0]

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        entry = self._handlers.get(request.path_params["method"].lower())
        if entry is None:
            return ApiError(404, "Not Found").response()
        try:
            params = await read_params(request)
        except ApiError as exc:
            return exc.response()
        tracked = entry[0] != "getUpdates"
        self._touch(+1 if tracked else 0)
        try:
            return await self._call(request, entry, params)
        finally:
            self._touch(-1 if tracked else 0)

    async def _call(self, request: Request, entry: tuple[str, Handler], params: JsonDict) -> Response:
        method, handler = entry
        if self.record_calls:
            self.calls.append((method, params))
        self.call_counts[method] += 1
        failure = self.faults.take(method)
        if failure is not None:
            return await self._failure_response(request, failure)
        status = self._method_status.get(method)
        if status is not None:
            self.faults.injected[method] += 1
            return _status_response(status)
        try:
            result = await handler(params)
        except ApiError as exc:
            return exc.response()
        return JSONResponse({"ok": True, "result": result})

    async def _failure_response(self, request: Request, failure: Failure) -> Response:
        status = failure.status
        if status == DISCONNECT:
            return await drop_connection(request)
        assert isinstance(status, int)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            retry = failure.retry_after
            return ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry).response()
        if status >= 500:
            return HTMLResponse(_proxy_error_page(status), status_code=status)
        return ApiError(status, HTTPStatus(status).phrase).response()

    def _touch(self, delta: int) -> None:
        self._busy += delta
        self._last_activity = asyncio.get_running_loop().time()

    def fail_next(self, method: str, *, times: int = 1, status: FailureStatus = 429, retry_after: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail without being applied.

        ``status`` 429 answers "Too Many Requests" with ``parameters.retry_after``; 5xx answers an HTML proxy error
        page; ``"disconnect"`` drops the connection without any response.
        """
        self.faults.add(self.canonical_method(method), times=times, status=status, retry_after=retry_after)

    def set_method_status(self, method: str, status: MethodStatus | None) -> None:
        """Answer every call of ``method`` with ``status`` (see the module docstring); None: serve it again."""
        name = self.canonical_method(method)
        if status is None:
            self._method_status.pop(name, None)
            return
        code = status.status if isinstance(status, PlainPage) else status
        if not isinstance(code, int) or isinstance(code, bool) or not 400 <= code <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status!r}")
        self._method_status[name] = status

    @property
    def method_status(self) -> dict[str, MethodStatus]:
        """The methods answered with a fixed error status, by their Bot API name."""
        return dict(self._method_status)

    @property
    def injected_failures(self) -> Counter[str]:
        """How many failures were injected, per method."""
        return self.faults.injected

    # --- chats and users ------------------------------------------------------------------------------------------

    def set_user(
        self,
        chat_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "es",
    ) -> FakeUser:
        """Define (or redefine) the simulated user of the private chat ``chat_id``."""
        user = FakeUser(chat_id, first_name or f"Usuario {chat_id}", last_name, username, language_code)
        self._users[chat_id] = user
        self._chat(chat_id).info = user.as_chat()
        return user

    def user(self, chat_id: int) -> FakeUser:
        user = self._users.get(chat_id)
        return user if user is not None else self.set_user(chat_id)

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(self._default_chat_info(chat_id))
        return chat

    def _default_chat_info(self, chat_id: int) -> JsonDict:
        if chat_id > 0:
            return FakeUser(chat_id, f"Usuario {chat_id}").as_chat()
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Grupo {chat_id}"}

    def _target_chat(self, params: JsonDict) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        return self._chat(chat_id)

    # --- updates --------------------------------------------------------------------------------------------------

    def _add_update(self, kind: str, payload: JsonDict) -> JsonDict:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, kind: payload}
        self._last_activity = asyncio.get_running_loop().time()
        if kind in self._allowed:
            self._pending.append(update)
            self._signals.notify(_UPDATES)
        return update

    def _set_allowed(self, allowed: Any) -> None:
        if allowed is None:
            return  # keep the previous setting, like Telegram
        if not isinstance(allowed, list):
            raise _bad("can't parse allowed_updates JSON object")
        self._allowed_explicit = allowed or None
        self._allowed = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

    def _confirm(self, offset: Any) -> None:
        if not isinstance(offset, int) or offset == 0:
            return
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def _drop_pending(self) -> None:
        self._pending.clear()
        self._delivered_upto = self._last_update_id

    def _mark_delivered(self, updates: list[JsonDict]) -> None:
        if updates:
            self._delivered_upto = max(self._delivered_upto, max(update["update_id"] for update in updates))
            self._last_activity = asyncio.get_running_loop().time()

    @property
    def pending_updates(self) -> int:
        """Updates not confirmed yet (by a later getUpdates offset or a successful webhook delivery)."""
        return len(self._pending) + len(self._inflight)

    # --- bot methods ----------------------------------------------------------------------------------------------

    async def _true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self._webhook is not None:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        self._confirm(params.get("offset"))
        self._set_allowed(params.get("allowed_updates"))
        limit = params.get("limit")
        limit = limit if isinstance(limit, int) and 1 <= limit <= 100 else 100
        timeout = _seconds(params.get("timeout"))
        self._poll_generation += 1
        generation = self._poll_generation
        self._signals.notify(_UPDATES)  # an older long poll ends with 409

        def ready() -> bool:
            return bool(self._pending) or generation != self._poll_generation or self._closing

        await self._signals.wait_until(_UPDATES, ready, timeout)
        if generation != self._poll_generation:
            raise ApiError(409, _WEBHOOK_CONFLICT if self._webhook is not None else _POLL_CONFLICT)
        batch = list(itertools.islice(self._pending, limit))
        self._mark_delivered(batch)
        return batch

    def _parse(self, params: JsonDict) -> ParsedText:
        text = params.get("text")
        if text is None or text == "":
            raise _bad("message text is empty")
        parsed = _parse_marked(str(text), params.get("parse_mode"))
        if not parsed.text.strip():
            raise _bad("message text is empty")
        if len(parsed.text) > MAX_TEXT:
            raise _bad("message is too long")
        if not params.get("parse_mode") and isinstance(params.get("entities"), list):
            return ParsedText(parsed.text, params["entities"])
        return parsed

    def _reply_to(self, chat: _Chat, params: JsonDict) -> JsonDict:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = {"message_id": params["reply_to_message_id"]} if "reply_to_message_id" in params else None
        if not reply:
            return {}
        target = chat.messages.get(reply.get("message_id", 0))
        if target is None:
            if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return {}
            raise _bad("message to be replied not found")
        return {"reply_to_message": {key: value for key, value in target.items() if key != "reply_to_message"}}

    def _render(self, sent: SentMessage, chat: _Chat, extra: JsonDict) -> JsonDict:
        raw: JsonDict = {"message_id": sent.message_id, "from": self.bot_user, "chat": chat.info, "date": sent.date}
        if sent.document is not None:  # a document's text is its caption (none when empty)
            raw["document"] = sent.document.as_document()
            raw |= {"caption": sent.text} if sent.text else {}
            raw |= {"caption_entities": sent.entities} if sent.entities else {}
        else:
            raw["text"] = sent.text
            raw |= {"entities": sent.entities} if sent.entities else {}
        if sent.inline_markup is not None:
            raw["reply_markup"] = sent.inline_markup
        return raw | extra

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self._target_chat(params)
        parsed = self._parse(params)
        markup = check_reply_markup(params.get("reply_markup"))
        extra = self._reply_to(chat, params)
        if isinstance(params.get("link_preview_options"), dict):
            extra["link_preview_options"] = params["link_preview_options"]
        elif params.get("disable_web_page_preview"):
            extra["link_preview_options"] = {"is_disabled": True}
        sent = SentMessage(
            chat.info["id"], chat.next_id(), parsed.text, str(params["text"]), params.get("parse_mode"), markup
        )
        sent.entities, sent.date = parsed.entities, _now()
        sent.raw = chat.messages[sent.message_id] = self._render(sent, chat, extra)
        chat.bot[sent.message_id] = sent
        self.bot_message_count += 1
        self._bot_message_event(sent)
        return sent.raw

    async def _send_document(self, params: JsonDict) -> JsonDict:
        """A file uploaded (multipart) or sent again by the file_id Telegram gave it, with an optional caption."""
        chat = self._target_chat(params)
        document = self._document(params.get("document"))
        caption = self._caption(params)
        markup = check_reply_markup(params.get("reply_markup"))
        extra = self._reply_to(chat, params)
        sent = SentMessage(
            chat.info["id"],
            chat.next_id(),
            caption.text,
            str(params.get("caption") or ""),
            params.get("parse_mode"),
            markup,
            document=document,
        )
        sent.entities, sent.date = caption.entities, _now()
        sent.raw = chat.messages[sent.message_id] = self._render(sent, chat, extra)
        chat.bot[sent.message_id] = sent
        self.bot_message_count += 1
        self._bot_message_event(sent)
        return sent.raw

    def _document(self, given: Any) -> SentDocument:
        """The document of a sendDocument call: a new upload, or one sent before (by its file_id)."""
        if isinstance(given, UploadedFile):
            if not given.data:
                raise _bad("file must be non-empty")
            if len(given.data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            number = next(self._file_ids)
            mime = given.content_type or mimetypes.guess_type(given.filename)[0] or "application/octet-stream"
            document = SentDocument(
                f"BQACAgEAAxkDAAIB{number:08d}", f"AgAD{number:08d}", given.filename, mime, given.data
            )
            self._documents[document.file_id] = document
            return document
        if given is None or given == "":
            raise _bad("there is no document in the request")
        known = self._documents.get(str(given))
        if known is None:  # an unknown file_id, or a URL (this fake fetches nothing)
            raise _bad("wrong file identifier/HTTP URL specified")
        return known

    @staticmethod
    def _caption(params: JsonDict) -> ParsedText:
        caption = params.get("caption")
        if caption is None or caption == "":
            return ParsedText("")
        parsed = _parse_marked(str(caption), params.get("parse_mode"))
        if len(parsed.text.encode("utf-16-le")) // 2 > MAX_CAPTION:
            raise _bad("message caption is too long")
        if not params.get("parse_mode") and isinstance(params.get("caption_entities"), list):
            return ParsedText(parsed.text, params["caption_entities"])
        return parsed

    def documents(self, chat_id: int) -> list[SentDocument]:
        """The files the bot sent to ``chat_id``, oldest first."""
        return [sent.document for sent in self.bot_messages(chat_id) if sent.document is not None]

    def _bot_message_event(self, sent: SentMessage) -> None:
        self._signals.notify(("chat", sent.chat_id))
        if self.on_bot_message is not None:
            self.on_bot_message(sent.chat_id, sent)

    def _editable(self, params: JsonDict, text: bool = False) -> tuple[_Chat, SentMessage]:
        if "inline_message_id" in params:
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._target_chat(params)
        message_id = params.get("message_id")
        sent = chat.bot.get(message_id) if isinstance(message_id, int) else None
        if sent is None or sent.deleted:
            if isinstance(message_id, int) and message_id in chat.messages:
                raise _bad("message can't be edited")
            raise _bad("message to edit not found")
        if text and sent.document is not None:
            raise _bad("there is no text in the message to edit")
        return chat, sent

    def _apply_edit(self, chat: _Chat, sent: SentMessage, new: SentMessage) -> JsonDict:
        if (new.text, new.entities, new.inline_markup) == (sent.text, sent.entities, sent.inline_markup):
            raise _bad(_NOT_MODIFIED)
        sent.edits.append(sent.snapshot())
        sent.text, sent.html, sent.parse_mode = new.text, new.html, new.parse_mode
        sent.entities, sent.reply_markup = new.entities, new.reply_markup
        kept = {key: sent.raw[key] for key in ("reply_to_message", "link_preview_options") if key in sent.raw}
        sent.raw = chat.messages[sent.message_id] = self._render(sent, chat, kept | {"edit_date": _now()})
        self.edit_count += 1
        self._bot_message_event(sent)
        return sent.raw

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        chat, sent = self._editable(params, text=True)
        parsed = self._parse(params)
        markup = _inline_only(check_reply_markup(params.get("reply_markup")))
        new = replace(sent, text=parsed.text, html=str(params["text"]), parse_mode=params.get("parse_mode"))
        new.entities, new.reply_markup = parsed.entities, markup
        return self._apply_edit(chat, sent, new)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        chat, sent = self._editable(params)
        markup = _inline_only(check_reply_markup(params.get("reply_markup")))
        return self._apply_edit(chat, sent, replace(sent, reply_markup=markup))

    async def _delete_message(self, params: JsonDict) -> bool:
        chat = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or chat.messages.pop(message_id, None) is None:
            raise _bad("message to delete not found")
        if message_id in chat.bot:
            chat.bot[message_id].deleted = True
        return True

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _bad(_QUERY_TOO_OLD)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        chat_id, message_id = self._open_callbacks.pop(query_id)
        answer = AnsweredCallback(
            query_id, text, bool(params.get("show_alert")), params.get("url"), chat_id, message_id
        )
        self.answered_callbacks.append(answer)
        return True

    @staticmethod
    def _commands_key(params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return self._commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    @property
    def commands(self) -> list[JsonDict]:
        """Commands set for the default scope and no language."""
        return self._commands.get(self._commands_key({}), [])

    def commands_for(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        return self._commands.get(self._commands_key({"scope": scope, "language_code": language_code}), [])

    async def _send_chat_action(self, params: JsonDict) -> bool:
        chat = self._target_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat.info["id"], str(params["action"])))
        return True

    # --- webhook --------------------------------------------------------------------------------------------------

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not re.match(r"https?://", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        await self._stop_delivery()
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self._set_allowed(params.get("allowed_updates"))
        self._webhook = WebhookConfig(url, secret, max_connections, self._allowed_explicit)
        self._poll_generation += 1
        self._signals.notify(_UPDATES)  # a running long poll now ends with 409
        self._start_delivery()
        return True

    async def _delete_webhook(self, params: JsonDict) -> bool:
        await self._stop_delivery()
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._drop_pending()
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        return self.webhook

    @property
    def webhook(self) -> JsonDict:
        """The current WebhookInfo (``url`` is "" when no webhook is set); also ``secret_token`` for inspection."""
        hook = self._webhook or WebhookConfig("")
        info: JsonDict = {
            "url": hook.url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_updates,
        }
        if hook.url:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    @property
    def webhook_secret(self) -> str | None:
        return self._webhook.secret_token if self._webhook else None

    def _start_delivery(self) -> None:
        self._http = httpx.AsyncClient(timeout=10.0)
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="FakeBotApi webhook dispatcher")

    async def _stop_delivery(self) -> None:
        requeue = list(self._inflight.values())
        tasks = [task for task in (self._dispatcher, *self._deliveries.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._dispatcher = None
        self._deliveries.clear()
        self._inflight.clear()
        self._pending = deque(sorted([*requeue, *self._pending], key=lambda update: update["update_id"]))
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _dispatch_loop(self) -> None:
        """Deliver updates in order per chat, in parallel across chats (up to max_connections), like Telegram."""
        while True:
            batch = self._take_deliverable()
            for update in batch:
                self._deliveries[update["update_id"]] = asyncio.create_task(self._deliver(update))
            if not batch:
                await self._signals.wait(_UPDATES)

    def _take_deliverable(self) -> list[JsonDict]:
        assert self._webhook is not None
        free = self._webhook.max_connections - len(self._inflight)
        busy = {_update_chat(update) for update in self._inflight.values()}
        chosen: list[JsonDict] = []
        keep: deque[JsonDict] = deque()
        for update in self._pending:
            chat = _update_chat(update)
            (chosen if len(chosen) < free and chat not in busy else keep).append(update)
            busy.add(chat)
        self._pending = keep
        self._inflight.update((update["update_id"], update) for update in chosen)
        return chosen

    async def _deliver(self, update: JsonDict) -> None:
        delay = 0.05
        try:
            while not await self._push(update):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            self._mark_delivered([update])
        finally:
            self._inflight.pop(update["update_id"], None)
            self._deliveries.pop(update["update_id"], None)
            self._signals.notify(_UPDATES)

    async def _push(self, update: JsonDict) -> bool:
        hook, client = self._webhook, self._http
        assert hook is not None and client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        status: int | None = None
        try:
            response = await client.post(hook.url, json=update, headers=headers)
            status = response.status_code
            error = (
                None if 200 <= status < 300 else f"Wrong response from the webhook: {status} {response.reason_phrase}"
            )
        except httpx.HTTPError as exc:
            error = f"Connection failed: {type(exc).__name__}: {exc}"
        self.webhook_attempts.append(PushAttempt(update["update_id"], status, error))
        if error is not None:
            hook.last_error_date, hook.last_error_message = _now(), error
        return error is None

    # --- simulated users ------------------------------------------------------------------------------------------

    def _user_message(self, chat_id: int, content: JsonDict, kind: str = "message") -> JsonDict:
        user, chat = self.user(chat_id), self._chat(chat_id)
        message = {"message_id": chat.next_id(), "from": user.as_user(), "chat": chat.info, "date": _now(), **content}
        chat.messages[message["message_id"]] = message
        self._add_update(kind, message)
        return message

    def send_text(self, chat_id: int, text: str) -> JsonDict:
        """The user types ``text`` (a leading /command gets its ``bot_command`` entity, like Telegram adds)."""
        content: JsonDict = {"text": text}
        command = _BOT_COMMAND_RE.match(text)
        if command is not None and (command.end() == len(text) or text[command.end()].isspace()):
            content["entities"] = [{"offset": 0, "length": len(command.group(0)), "type": "bot_command"}]
        return self._user_message(chat_id, content)

    def send_command(self, chat_id: int, command: str) -> JsonDict:
        """The user sends a command such as ``/start`` or ``/start payload``."""
        if not _BOT_COMMAND_RE.match(command):
            raise ValueError(f"not a bot command: {command!r}")
        return self.send_text(chat_id, command)

    def press_button(self, chat_id: int, message_id: int, callback_data: str) -> str:
        """The user presses the inline button with ``callback_data``; returns the callback query id."""
        sent = self._chat(chat_id).bot.get(message_id)
        if sent is None or sent.deleted:
            raise LookupError(f"chat {chat_id} has no bot message {message_id}")
        if callback_data not in {data for _, data in sent.buttons}:
            raise ValueError(f"message {message_id} has no button {callback_data!r}; buttons: {sent.buttons}")
        query_id = str(next(self._callback_ids))
        self._open_callbacks[query_id] = (chat_id, message_id)
        query = {
            "id": query_id,
            "from": self.user(chat_id).as_user(),
            "message": sent.raw,
            "chat_instance": str(-(abs(chat_id) * 7919 % 10**18)),
            "data": callback_data,
        }
        self._add_update("callback_query", query)
        return query_id

    def _file(self, prefix: str, **extra: Any) -> JsonDict:
        number = next(self._file_ids)
        return {"file_id": f"{prefix}ACAgEAAxkBAAIB{number:08d}", "file_unique_id": f"AQAD{number:08d}", **extra}

    def send_sticker(self, chat_id: int, emoji: str = "👍") -> JsonDict:
        sticker = self._file("CAAC", width=512, height=512, is_animated=False, is_video=False, type="regular")
        return self._user_message(chat_id, {"sticker": sticker | {"emoji": emoji, "file_size": 22000}})

    def send_voice(self, chat_id: int, duration: int = 3) -> JsonDict:
        voice = self._file("AwAC", duration=duration, mime_type="audio/ogg", file_size=9000 * duration)
        return self._user_message(chat_id, {"voice": voice})

    def send_photo(self, chat_id: int, caption: str | None = None) -> JsonDict:
        sizes = [self._file("AgAC", width=w, height=h, file_size=w * h // 10) for w, h in ((90, 67), (320, 240))]
        return self._user_message(chat_id, {"photo": sizes} | ({"caption": caption} if caption else {}))

    def send_location(self, chat_id: int, latitude: float = -27.3668, longitude: float = -70.3322) -> JsonDict:
        return self._user_message(chat_id, {"location": {"latitude": latitude, "longitude": longitude}})

    def send_document(
        self,
        chat_id: int,
        file_name: str = "documento.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> JsonDict:
        document = self._file("BQAC", file_name=file_name, mime_type=mime_type, file_size=48213)
        return self._user_message(chat_id, {"document": document} | ({"caption": caption} if caption else {}))

    def edit_text(self, chat_id: int, message_id: int, new_text: str) -> JsonDict:
        """The user edits their earlier text message (an ``edited_message`` update)."""
        chat = self._chat(chat_id)
        original = chat.messages.get(message_id)
        if original is None or message_id in chat.bot or "text" not in original:
            raise LookupError(f"chat {chat_id} has no user text message {message_id}")
        edited = {key: value for key, value in original.items() if key != "entities"}
        edited |= {"text": new_text, "edit_date": _now()}
        chat.messages[message_id] = edited
        self._add_update("edited_message", edited)
        return edited

    def channel_post(self, chat_id: int, text: str) -> JsonDict:
        """A post in a channel the bot administers (a ``channel_post`` update)."""
        chat = self._chat(chat_id)
        chat.info = {"id": chat_id, "type": "channel", "title": f"Canal {chat_id}"}
        message_id = chat.next_id()
        post = {"message_id": message_id, "sender_chat": chat.info, "chat": chat.info, "date": _now(), "text": text}
        chat.messages[message_id] = post
        self._add_update("channel_post", post)
        return post

    # --- inspection and waiting -----------------------------------------------------------------------------------

    def bot_messages(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to ``chat_id``, oldest first, each in its current (possibly edited) version."""
        chat = self._chats.get(chat_id)
        return list(chat.bot.values()) if chat else []

    def chat_ids(self) -> list[int]:
        return list(self._chats)

    def calls_of(self, method: str) -> list[JsonDict]:
        name = self.canonical_method(method)
        return [params for called, params in self.calls if called == name]

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``; TimeoutError otherwise."""
        chat = self._chat(chat_id)
        if await self._signals.wait_until(("chat", chat_id), lambda: len(chat.bot) >= count, timeout):
            return self.bot_messages(chat_id)
        texts = [message.text[:80] for message in chat.bot.values()]
        recent = [f"{method}({params.get('chat_id', '')})" for method, params in self.calls[-10:]]
        raise TimeoutError(
            f"chat {chat_id}: expected {count} bot message(s) within {timeout}s, got {len(texts)}: {texts}; "
            f"pending updates: {self.pending_updates}; last calls: {recent}"
        )

    def _settled(self) -> bool:
        undelivered = bool(self._pending) and self._pending[-1]["update_id"] > self._delivered_upto
        return self._busy == 0 and not undelivered and not self._inflight

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until every update was delivered and no bot request (other than getUpdates) ran for ``quiet`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = loop.time()
            idle_for = now - self._last_activity
            if self._settled() and idle_for >= quiet:
                return
            if now >= deadline:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {self._busy} request(s) open, "
                    f"{self.pending_updates} update(s) pending, last activity {idle_for:.2f}s ago"
                )
            await asyncio.sleep(min(max(quiet - idle_for, 0.01), deadline - now, quiet))

    def stats(self) -> JsonDict:
        return {
            "updates": self._last_update_id - self._first_update_id,
            "pending_updates": self.pending_updates,
            "bot_messages": self.bot_message_count,
            "edits": self.edit_count,
            "chats": len(self._chats),
            "answered_callbacks": len(self.answered_callbacks),
            "webhook_attempts": len(self.webhook_attempts),
            "calls": dict(self.call_counts),
            "injected_failures": dict(self.faults.injected),
        }

    # --- control API (for a benchmark driving a fake in another process) ------------------------------------------

    def control_routes(self) -> list[Route]:
        """POST /_control/text {chat_id, text}, POST /_control/command {chat_id, command},
        POST /_control/press {chat_id, message_id, data}, POST /_control/fail {method, times, status, retry_after},
        POST /_control/method_status {method, status (null clears), page (bool)},
        GET /_control/messages/{chat_id}, GET /_control/stats."""
        return [
            Route("/_control/text", self._control_text, methods=["POST"]),
            Route("/_control/command", self._control_command, methods=["POST"]),
            Route("/_control/press", self._control_press, methods=["POST"]),
            Route("/_control/fail", self._control_fail, methods=["POST"]),
            Route("/_control/method_status", self._control_method_status, methods=["POST"]),
            Route("/_control/messages/{chat_id}", self._control_messages, methods=["GET"]),
            Route("/_control/stats", self._control_stats, methods=["GET"]),
        ]

    @staticmethod
    async def _control(request: Request, action: Callable[[JsonDict], Any]) -> JSONResponse:
        try:
            body = await request.json() if request.method == "POST" else dict(request.path_params)
            return JSONResponse(action(body))
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)

    async def _control_text(self, request: Request) -> JSONResponse:
        return await self._control(request, lambda body: self.send_text(int(body["chat_id"]), str(body["text"])))

    async def _control_command(self, request: Request) -> JSONResponse:
        return await self._control(request, lambda b: self.send_command(int(b["chat_id"]), str(b["command"])))

    async def _control_press(self, request: Request) -> JSONResponse:
        def press(body: JsonDict) -> JsonDict:
            query_id = self.press_button(int(body["chat_id"]), int(body["message_id"]), str(body["data"]))
            return {"callback_query_id": query_id}

        return await self._control(request, press)

    async def _control_fail(self, request: Request) -> JSONResponse:
        def fail(body: JsonDict) -> JsonDict:
            status = body.get("status", 429)
            self.fail_next(
                body["method"], times=int(body.get("times", 1)), status=status, retry_after=body.get("retry_after", 1)
            )
            return {"ok": True}

        return await self._control(request, fail)

    async def _control_method_status(self, request: Request) -> JSONResponse:
        def set_status(body: JsonDict) -> JsonDict:
            status = body.get("status")
            if status is not None:
                status = PlainPage(int(status)) if body.get("page") else int(status)
            self.set_method_status(str(body["method"]), status)
            return {"ok": True}

        return await self._control(request, set_status)

    async def _control_messages(self, request: Request) -> JSONResponse:
        return await self._control(
            request, lambda params: [m.to_dict() for m in self.bot_messages(int(params["chat_id"]))]
        )

    async def _control_stats(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Telegram Bot API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (printed on start)")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--no-record-calls", action="store_true", help="do not keep every call in memory")
    parser.add_argument(
        "--method-status",
        type=_parse_method_status,
        action="append",
        default=[],
        metavar="METHOD=STATUS[:page]",
        help="answer every call of METHOD with this HTTP status (e.g. setMyCommands=404); repeatable",
    )
    args = parser.parse_args(argv)
    fake = FakeBotApi(
        args.token, port=args.port, record_calls=not args.no_record_calls, method_status=dict(args.method_status)
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(fake, "FakeBotApi"))


if __name__ == "__main__":
    main()
