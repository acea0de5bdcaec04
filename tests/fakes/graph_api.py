"""A strict fake of the WhatsApp Cloud API (Meta Graph API) ``/messages`` and ``/media`` endpoints, plus inbound
webhook payloads.

``FakeGraphApi`` accepts ``POST /{version}/{phone_number_id}/messages`` with a Bearer token and validates the
message against the Cloud API limits; ``POST /{version}/{phone_number_id}/media`` takes an upload (multipart:
``file``, ``type``, ``messaging_product``) and answers its media id, which a media message then names. The
module-level helpers build what Meta POSTs to the product's webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typing_extensions import Unpack

from tests.fakes.server import DISCONNECT, FailureStatus, FaultInjector, LocalServer, Service, Signals, drop_connection
from tests.fakes.server import serve_forever as _serve_forever

GRAPH_VERSION = "v21.0"
DEFAULT_ACCESS_TOKEN = "EAAFakeAccessTokenForTests0123456789"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550783881"
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_PROFILE_NAME = "Emprendedora Atacama"
_MESSAGES_KEY = "messages"  # FaultInjector keys: the endpoint
_MEDIA_KEY = "media"
_VERSION_RE = re.compile(r"v\d+\.\d+")
_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
# What the media endpoint takes (Supported Media Types): MIME type -> largest file in bytes.
_MB = 1024 * 1024
_UPLOAD_TYPES = {
    "application/pdf": 100 * _MB,
    "text/plain": 100 * _MB,
    "application/msword": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * _MB,
    "application/vnd.ms-excel": 100 * _MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * _MB,
    "image/jpeg": 5 * _MB,
    "image/png": 5 * _MB,
    "image/webp": 500 * 1024,
    "audio/mpeg": 16 * _MB,
    "audio/ogg": 16 * _MB,
    "video/mp4": 16 * _MB,
}

JsonDict = dict[str, Any]


class GraphError(Exception):
    """An error answer in the Graph API shape."""

    def __init__(
        self, status: int, code: int, message: str, *, kind: str = "OAuthException", details: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind, self.details = status, code, message, kind, details

    def response(self) -> JSONResponse:
        error: JsonDict = {"message": self.message, "type": self.kind, "code": self.code}
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = secrets.token_urlsafe(16)
        return JSONResponse({"error": error}, status_code=self.status)


def _missing(field: str) -> GraphError:
    return GraphError(400, 100, f"(#100) The parameter {field} is required.", details=f"{field} is required")


def _invalid_param(field: str, problem: str) -> GraphError:
    return GraphError(400, 100, f"(#100) Invalid parameter: {field} {problem}", details=f"{field} {problem}")


def _invalid_value(field: str, problem: str) -> GraphError:
    message = f"(#131009) Parameter value is not valid: {field} {problem}"
    return GraphError(400, 131009, message, details=f"{field} {problem}")


# --- message validation (Cloud API limits) --------------------------------------------------------------------------


def _obj(parent: JsonDict, key: str, path: str) -> JsonDict:
    value = parent.get(key)
    if value is None:
        raise _missing(path)
    if not isinstance(value, dict):
        raise _invalid_param(path, "must be an object")
    return value


def _text(parent: JsonDict, key: str, path: str, longest: int, *, required: bool = True) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise _missing(path)
        return None
    if not isinstance(value, str):
        raise _invalid_param(path, "must be a string")
    if not 1 <= len(value) <= longest:
        raise _invalid_value(path, f"length {len(value)} is not between 1 and {longest}")
    return value


def _array(parent: JsonDict, key: str, path: str, longest: int) -> list[JsonDict]:
    value = parent.get(key)
    if value is None:
        raise _missing(path)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid_param(path, "must be an array of objects")
    if not 1 <= len(value) <= longest:
        raise _invalid_value(path, f"has {len(value)} items; it must have between 1 and {longest}")
    return value


def _unique(value: str | None, seen: set[str], path: str) -> None:
    if value in seen:
        raise _invalid_value(path, f"{value!r} is duplicated; it must be unique")
    seen.add(str(value))


def _check_text(message: JsonDict) -> None:
    text = _obj(message, "text", "text")
    _text(text, "body", "text.body", 4096)
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _invalid_param("text.preview_url", "must be a boolean")


def _check_media(kind: str, message: JsonDict) -> None:
    media = _obj(message, kind, kind)
    if not isinstance(media.get("id") or media.get("link"), str):
        raise _missing(f"{kind}.id or {kind}.link")
    if "caption" in media and kind in ("image", "video", "document"):
        _text(media, "caption", f"{kind}.caption", 1024)
    if "filename" in media and kind == "document":
        _text(media, "filename", "document.filename", 240)


def _check_header(interactive: JsonDict, *, text_only: bool) -> None:
    header = interactive.get("header")
    if header is None:
        return
    if not isinstance(header, dict):
        raise _invalid_param("interactive.header", "must be an object")
    kind = header.get("type")
    if kind == "text":
        _text(header, "text", "interactive.header.text", 60)
    elif text_only or kind not in ("image", "video", "document"):
        raise _invalid_value("interactive.header.type", f"{kind!r} is not supported here")
    else:
        _check_media(kind, header)


def _check_frame(interactive: JsonDict, body_limit: int, *, text_only_header: bool) -> JsonDict:
    _text(_obj(interactive, "body", "interactive.body"), "text", "interactive.body.text", body_limit)
    if "footer" in interactive:
        _text(_obj(interactive, "footer", "interactive.footer"), "text", "interactive.footer.text", 60)
    _check_header(interactive, text_only=text_only_header)
    return _obj(interactive, "action", "interactive.action")


def _check_buttons(interactive: JsonDict) -> None:
    action = _check_frame(interactive, 1024, text_only_header=False)
    ids: set[str] = set()
    titles: set[str] = set()
    for index, button in enumerate(_array(action, "buttons", "interactive.action.buttons", 3)):
        path = f"interactive.action.buttons[{index}]"
        if button.get("type") != "reply":
            raise _invalid_value(f"{path}.type", "must be 'reply'")
        reply = _obj(button, "reply", f"{path}.reply")
        _unique(_text(reply, "id", f"{path}.reply.id", 256), ids, f"{path}.reply.id")
        _unique(_text(reply, "title", f"{path}.reply.title", 20), titles, f"{path}.reply.title")


def _check_list(interactive: JsonDict) -> None:
    action = _check_frame(interactive, 4096, text_only_header=True)
    _text(action, "button", "interactive.action.button", 20)
    sections = _array(action, "sections", "interactive.action.sections", 10)
    ids: set[str] = set()
    total = 0
    for index, section in enumerate(sections):
        path = f"interactive.action.sections[{index}]"
        _text(section, "title", f"{path}.title", 24, required=len(sections) > 1)
        rows = _array(section, "rows", f"{path}.rows", 10)
        total += len(rows)
        for row_index, row in enumerate(rows):
            row_path = f"{path}.rows[{row_index}]"
            _unique(_text(row, "id", f"{row_path}.id", 200), ids, f"{row_path}.id")
            _text(row, "title", f"{row_path}.title", 24)
            _text(row, "description", f"{row_path}.description", 72, required=False)
    if total > 10:
        raise _invalid_value("interactive.action.sections", f"have {total} rows in total; at most 10 are allowed")


def _check_interactive(message: JsonDict) -> None:
    interactive = _obj(message, "interactive", "interactive")
    kind = interactive.get("type")
    if kind == "button":
        _check_buttons(interactive)
    elif kind == "list":
        _check_list(interactive)
    elif kind is None:
        raise _missing("interactive.type")
    else:
        raise _invalid_value("interactive.type", f"{kind!r} is not supported by this fake (button, list)")


def _check_location(message: JsonDict) -> None:
    location = _obj(message, "location", "location")
    for key in ("latitude", "longitude"):
        if not isinstance(location.get(key), int | float | str):
            raise _missing(f"location.{key}")


def _check_reaction(message: JsonDict) -> None:
    reaction = _obj(message, "reaction", "reaction")
    _text(reaction, "message_id", "reaction.message_id", 256)
    if not isinstance(reaction.get("emoji"), str):
        raise _missing("reaction.emoji")


def _check_template(message: JsonDict) -> None:
    template = _obj(message, "template", "template")
    _text(template, "name", "template.name", 512)
    _text(_obj(template, "language", "template.language"), "code", "template.language.code", 15)


_CHECKERS: dict[str, Callable[[JsonDict], None]] = {
    "text": _check_text,
    "interactive": _check_interactive,
    "location": _check_location,
    "reaction": _check_reaction,
    "template": _check_template,
    **{kind: functools.partial(_check_media, kind) for kind in _MEDIA_TYPES},
}


def validate_message(payload: Any) -> str:
    """Validate an outbound message like the Cloud API; returns the recipient (``to``) or raises GraphError."""
    if not isinstance(payload, dict):
        raise _invalid_param("body", "must be a JSON object")
    if payload.get("messaging_product") is None:
        raise _missing("messaging_product")
    if payload["messaging_product"] != "whatsapp":
        raise _invalid_value("messaging_product", "must be 'whatsapp'")
    if payload.get("recipient_type", "individual") != "individual":
        raise _invalid_value("recipient_type", "must be 'individual'")
    to = payload.get("to")
    if to is None:
        raise _missing("to")
    if not isinstance(to, str) or not to.isdigit():
        raise _invalid_param("to", "must be a phone number made of digits")
    tag = payload.get("biz_opaque_callback_data")
    if tag is not None and (not isinstance(tag, str) or len(tag) > 512):
        raise _invalid_param("biz_opaque_callback_data", "must be a string of at most 512 characters")
    kind = payload.get("type", "text")
    checker = _CHECKERS.get(kind)
    if checker is None:
        raise _invalid_param("type", f"{kind!r} must be one of {sorted(_CHECKERS)}")
    checker(payload)
    return to


async def _form(request: Request) -> tuple[dict[str, str], UploadedMedia | None]:
    """The text fields of a multipart upload and its ``file`` part (read whole; no id yet); none if not a form."""
    try:
        async with request.form() as form:
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
            part = form.get("file")
            if not isinstance(part, UploadFile):
                return fields, None
            return fields, UploadedMedia("", part.content_type or "", part.filename, await part.read())
    except Exception:  # not a form at all: the upload names no file
        return {}, None


# --- the fake -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphRequest:
    """One request received on the messages endpoint and how it was answered."""

    path: str
    authorization: str | None
    payload: Any
    status: int | str
    response: Any


@dataclass(frozen=True)
class UploadedMedia:
    """A file uploaded to the media endpoint: its media id, declared type, file name and bytes."""

    id: str
    mime_type: str
    filename: str | None
    data: bytes = field(repr=False)


class FakeGraphApi(Service):
    """Fake WhatsApp Cloud API; ``base_url`` is ``http://127.0.0.1:PORT`` (the version goes in the path)."""

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        port: int = 0,
        record_requests: bool = True,
    ) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.record_requests = record_requests
        self.on_send: Callable[[str, JsonDict], None] | None = None
        self.requests: list[GraphRequest] = []
        self.read_receipts: list[str] = []
        self.faults = FaultInjector()
        self.latency = 0.0  # seconds each send takes (a slow service)
        self.templates: dict[str, int] = {}  # approved templates: name -> how many body parameters it takes
        # Where to post the "sent" status of each accepted message that carries biz_opaque_callback_data, signed
        # with `app_secret`, as Meta does (None: no status webhooks)
        self.status_webhook: str | None = None
        self.app_secret = ""
        self.statuses_posted = 0
        self._status_tasks: set[asyncio.Task[None]] = set()
        self._status_client: httpx.AsyncClient | None = None
        self.accepted_count = 0
        self._sent: dict[str, list[JsonDict]] = {}
        self._ids = itertools.count(1)
        self._signals = Signals()
        self.media: dict[str, UploadedMedia] = {}  # what was uploaded, by media id
        self._media_ids = itertools.count(1)
        routes = [
            Route("/{version}/{phone_number_id}/messages", self._messages, methods=["POST"]),
            Route("/{version}/{phone_number_id}/media", self._upload, methods=["POST"]),
            Route("/{path:path}", self._unsupported, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
        self.server = LocalServer(Starlette(routes=routes), port=port)

    # --- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url

    def messages_url(self, version: str = GRAPH_VERSION) -> str:
        return f"{self.server.url}/{version}/{self.phone_number_id}/messages"

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        for task in list(self._status_tasks):
            task.cancel()
        await asyncio.gather(*self._status_tasks, return_exceptions=True)
        if self._status_client is not None:
            await self._status_client.aclose()
            self._status_client = None
        await self.server.stop()

    # --- HTTP -----------------------------------------------------------------------------------------------------

    async def _unsupported(self, request: Request) -> Response:
        path = request.url.path
        message = f"Unsupported {request.method.lower()} request. Object with ID '{path}' does not exist"
        return GraphError(400, 100, message, kind="GraphMethodException").response()

    async def _messages(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload: Any = json.loads(body) if body else None
        except ValueError:
            payload = body.decode(errors="replace")
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            self._authorize(request)
            failure = self.faults.take(_MESSAGES_KEY)
            if failure is not None and failure.status == DISCONNECT:
                self._record(request, payload, DISCONNECT, None)
                return await drop_connection(request)
            if failure is not None:
                raise self._injected_error(failure.status)
            result = self._accept(payload)
        except GraphError as exc:
            response = exc.response()
            self._record(request, payload, exc.status, json.loads(bytes(response.body)))
            return response
        self._record(request, payload, 200, result)
        return JSONResponse(result)

    async def _upload(self, request: Request) -> Response:
        """``POST /media``: a multipart upload; answers ``{"id": MEDIA_ID}``."""
        fields, upload = await _form(request)
        shown: JsonDict = dict(fields)
        if upload is not None:
            shown["file"] = {"filename": upload.filename, "mime_type": upload.mime_type, "size": len(upload.data)}
        try:
            self._authorize(request)
            failure = self.faults.take(_MEDIA_KEY)
            if failure is not None and failure.status == DISCONNECT:
                self._record(request, shown, DISCONNECT, None)
                return await drop_connection(request)
            if failure is not None:
                raise self._injected_error(failure.status)
            media = self._store_upload(fields, upload)
        except GraphError as exc:
            response = exc.response()
            self._record(request, shown, exc.status, json.loads(bytes(response.body)))
            return response
        result = {"id": media.id}
        self._record(request, shown, 200, result)
        return JSONResponse(result)

    def _store_upload(self, fields: dict[str, str], upload: UploadedMedia | None) -> UploadedMedia:
        """Validate an upload like the Cloud API and keep it (with its declared type and a new id)."""
        if fields.get("messaging_product") is None:
            raise _missing("messaging_product")
        if fields["messaging_product"] != "whatsapp":
            raise _invalid_value("messaging_product", "must be 'whatsapp'")
        if upload is None or not upload.data:
            raise _missing("file")
        data = upload.data
        mime = fields.get("type")
        if not isinstance(mime, str) or not mime:
            raise _missing("type")
        if mime not in _UPLOAD_TYPES:
            raise _invalid_param("type", f"{mime!r} is not a supported media type")
        if len(data) > _UPLOAD_TYPES[mime]:
            raise _invalid_value("file", f"is {len(data)} bytes; a {mime} file may have at most {_UPLOAD_TYPES[mime]}")
        media = UploadedMedia(str(next(self._media_ids) + 1_013_859_600_285_440), mime, upload.filename, data)

        self.media[media.id] = media
        return media

    def _authorize(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if not _VERSION_RE.fullmatch(request.path_params["version"]):
            raise GraphError(400, 2500, "Unknown path components: /" + request.path_params["version"])
        object_id = request.path_params["phone_number_id"]
        if object_id != self.phone_number_id:
            message = f"Unsupported post request. Object with ID '{object_id}' does not exist"
            raise GraphError(400, 100, message, kind="GraphMethodException")

    @staticmethod
    def _injected_error(status: FailureStatus) -> GraphError:
        if status == 429:
            return GraphError(429, 130429, "(#130429) Rate limit hit", details="Cloud API message throughput reached")
        return GraphError(int(status), 1, "An unknown error occurred", details="Injected failure")

    def _accept(self, payload: Any) -> JsonDict:
        if isinstance(payload, dict) and "status" in payload:
            return self._mark_read(payload)
        to = validate_message(payload)
        if payload.get("type") == "template":
            self._check_approved(payload["template"])
        message_id = f"wamid.HBgL{to}FQIAERgS{next(self._ids):012X}{secrets.token_hex(4).upper()}"
        self._sent.setdefault(to, []).append(payload)
        self.accepted_count += 1
        self._signals.notify(to)
        if self.on_send is not None:
            self.on_send(to, payload)
        if self.status_webhook and payload.get("biz_opaque_callback_data"):
            task = asyncio.get_running_loop().create_task(self._post_status(to, message_id, payload))
            self._status_tasks.add(task)
            task.add_done_callback(self._status_tasks.discard)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": message_id}],
        }

    async def _post_status(self, to: str, message_id: str, payload: JsonDict) -> None:
        """The "sent" status webhook of an accepted message, carrying its biz_opaque_callback_data back; tried
        again a few times if the webhook fails (Meta keeps trying for longer)."""
        update = status_update(to, "sent", message_id=message_id, callback_data=payload["biz_opaque_callback_data"])
        body = json.dumps(update).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self.app_secret)}
        if self._status_client is None:
            self._status_client = httpx.AsyncClient(timeout=30)
        for attempt in range(5):
            with contextlib.suppress(httpx.HTTPError):
                response = await self._status_client.post(str(self.status_webhook), content=body, headers=headers)
                if response.is_success:
                    self.statuses_posted += 1
                    return
            await asyncio.sleep(0.2 * 2**attempt)

    def _check_approved(self, template: JsonDict) -> None:
        """Like the Cloud API: only an approved template, with its number of parameters, each on one line."""
        name = template["name"]
        if name not in self.templates:
            raise GraphError(404, 132001, "(#132001) Template name does not exist in the translation", details=name)
        body = [c for c in template.get("components", []) if c.get("type") == "body"]
        parameters = body[0].get("parameters", []) if body else []
        if len(parameters) != self.templates[name]:
            message = "(#132000) Number of parameters does not match the expected number of params"
            raise GraphError(400, 132000, message, details=f"{len(parameters)} given, {self.templates[name]} expected")
        for parameter in parameters:
            text = str(parameter.get("text", ""))
            if "\n" in text or "\t" in text or "     " in text:
                raise _invalid_param("template.components.parameters.text", "has new lines, tabs or 5 spaces")

    def _mark_read(self, payload: JsonDict) -> JsonDict:
        """A read receipt: ``{"messaging_product": "whatsapp", "status": "read", "message_id": ...}``."""
        if payload.get("messaging_product") != "whatsapp":
            raise _missing("messaging_product")
        if payload["status"] != "read":
            raise _invalid_value("status", "must be 'read'")
        _text(payload, "message_id", "message_id", 512)
        self.read_receipts.append(payload["message_id"])
        return {"success": True}

    def _record(self, request: Request, payload: Any, status: int | str, response: Any) -> None:
        if self.record_requests:
            authorization = request.headers.get("authorization")
            self.requests.append(GraphRequest(request.url.path, authorization, payload, status, response))

    # --- faults, inspection and waiting ---------------------------------------------------------------------------

    def fail_next(self, *, times: int = 1, status: FailureStatus = 500, endpoint: str = _MESSAGES_KEY) -> None:
        """Make the next ``times`` sends (``endpoint="media"``: uploads) fail without being applied: 500, 429 (rate
        limit) or ``"disconnect"``."""
        if endpoint not in (_MESSAGES_KEY, _MEDIA_KEY):
            raise ValueError(f"endpoint must be {_MESSAGES_KEY!r} or {_MEDIA_KEY!r}, not {endpoint!r}")
        self.faults.add(endpoint, times=times, status=status)

    def heal(self) -> None:
        """The failures still queued by fail_next are dropped: sends and uploads work again."""
        self.faults.clear(_MESSAGES_KEY)
        self.faults.clear(_MEDIA_KEY)

    @property
    def injected_failures(self) -> int:
        return self.faults.injected[_MESSAGES_KEY]

    def uploaded(self, message: JsonDict) -> UploadedMedia | None:
        """The upload a media message names by its id (None: sent by link, or an id never uploaded here; the real
        Cloud API accepts such a message and reports the failure later, in a status webhook)."""
        kind = message.get("type")
        media = message.get(kind) if isinstance(kind, str) and kind in _MEDIA_TYPES else None
        return self.media.get(str(media.get("id"))) if isinstance(media, dict) else None

    def sent(self, to: str) -> list[JsonDict]:
        """Payloads accepted for recipient ``to``, oldest first."""
        return list(self._sent.get(to, ()))

    def recipients(self) -> list[str]:
        return list(self._sent)

    async def wait_for(self, to: str, count: int, timeout: float = 10.0) -> list[JsonDict]:
        """Wait until at least ``count`` messages were accepted for ``to``; TimeoutError otherwise."""
        if await self._signals.wait_until(to, lambda: len(self._sent.get(to, ())) >= count, timeout):
            return self.sent(to)
        got = [_summary(payload) for payload in self.sent(to)]
        rejected = [r.response for r in self.requests[-5:] if r.status != 200]
        raise TimeoutError(
            f"{to}: expected {count} message(s) within {timeout}s, got {len(got)}: {got}; recent rejections: {rejected}"
        )


def _summary(payload: JsonDict) -> str:
    kind = payload.get("type", "text")
    if kind == "text":
        return str(payload.get("text", {}).get("body", ""))[:80]
    if kind == "interactive":
        return f"[{payload['interactive'].get('type')}] " + str(payload["interactive"].get("body", {}).get("text"))[:80]
    return f"[{kind}]"


# --- inbound webhook payloads (what Meta POSTs to the product) ------------------------------------------------------

_inbound_ids = itertools.count(1)


def new_wamid(wa_id: str = "") -> str:
    """A fresh inbound message id in the ``wamid.`` format."""
    return f"wamid.HBgL{wa_id}FQIAEhgU{next(_inbound_ids):08X}{secrets.token_hex(6).upper()}"


def _timestamp(timestamp: int | None) -> str:
    return str(timestamp if timestamp is not None else int(time.time()))


def envelope(value: JsonDict, *, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID) -> JsonDict:
    """Wrap a ``value`` in the ``whatsapp_business_account`` webhook envelope."""
    metadata = {"display_phone_number": DEFAULT_DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id}
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return {"object": "whatsapp_business_account", "entry": [{"id": DEFAULT_WABA_ID, "changes": [change]}]}


class InboundOptions(TypedDict, total=False):
    """Keyword options of the inbound helpers: the wamid, the sender's profile name, the receiving number, time."""

    message_id: str | None
    name: str
    phone_number_id: str
    timestamp: int | None


def inbound(
    wa_id: str,
    kind: str,
    content: JsonDict,
    *,
    message_id: str | None = None,
    name: str = DEFAULT_PROFILE_NAME,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    timestamp: int | None = None,
    context: JsonDict | None = None,
) -> JsonDict:
    """A webhook payload carrying one inbound message of type ``kind`` with the given type-specific ``content``."""
    message: JsonDict = {"from": wa_id, "id": message_id or new_wamid(wa_id), "timestamp": _timestamp(timestamp)}
    if context is not None:
        message["context"] = context
    message |= {"type": kind, **content}
    contacts = [{"profile": {"name": name}, "wa_id": wa_id}]
    return envelope({"contacts": contacts, "messages": [message]}, phone_number_id=phone_number_id)


def text_message(wa_id: str, text: str, **options: Unpack[InboundOptions]) -> JsonDict:
    """An inbound text message."""
    return inbound(wa_id, "text", {"text": {"body": text}}, **options)


def _reply_context(context_id: str | None) -> JsonDict:
    return {"from": DEFAULT_DISPLAY_PHONE_NUMBER, "id": context_id or new_wamid()}


def chosen(sent: list[JsonDict], wa_id: str, title: str) -> JsonDict | None:
    """The webhook payload of tapping the reply button or list row titled `title` (a row also by its description)
    in the latest of the bot's messages `sent` to `wa_id` that offers it; None if none does."""
    for message in reversed(sent):
        if message.get("type") != "interactive":
            continue
        interactive = message["interactive"]
        if interactive["type"] == "button":
            for button in interactive["action"]["buttons"]:
                if button["reply"]["title"] == title:
                    return button_reply(wa_id, button["reply"]["id"], title)
        else:
            for section in interactive["action"]["sections"]:
                for row in section["rows"]:
                    if title in (row["title"], row.get("description")):
                        return list_reply(wa_id, row["id"], row["title"])
    return None


def button_reply(
    wa_id: str, id: str, title: str, *, context_id: str | None = None, **options: Unpack[InboundOptions]
) -> JsonDict:
    """The user tapped a reply button; ``context_id`` is the wamid of the bot message that carried it."""
    interactive = {"type": "button_reply", "button_reply": {"id": id, "title": title}}
    return inbound(wa_id, "interactive", {"interactive": interactive}, context=_reply_context(context_id), **options)


def list_reply(
    wa_id: str,
    id: str,
    title: str,
    description: str | None = None,
    *,
    context_id: str | None = None,
    **options: Unpack[InboundOptions],
) -> JsonDict:
    """The user picked a list row."""
    row = {"id": id, "title": title} | ({"description": description} if description is not None else {})
    interactive = {"type": "list_reply", "list_reply": row}
    return inbound(wa_id, "interactive", {"interactive": interactive}, context=_reply_context(context_id), **options)


_MEDIA_SAMPLES: dict[str, tuple[str, JsonDict]] = {
    "image": ("image", {"mime_type": "image/jpeg"}),
    "audio": ("audio", {"mime_type": "audio/mpeg", "voice": False}),
    "voice": ("audio", {"mime_type": "audio/ogg; codecs=opus", "voice": True}),
    "sticker": ("sticker", {"mime_type": "image/webp", "animated": False}),
    "video": ("video", {"mime_type": "video/mp4"}),
    "document": ("document", {"mime_type": "application/pdf", "filename": "documento.pdf"}),
}


def media_message(wa_id: str, kind: str, *, caption: str | None = None, **options: Unpack[InboundOptions]) -> JsonDict:
    """An inbound image, audio, voice (audio with ``voice: true``), sticker, video or document."""
    if kind not in _MEDIA_SAMPLES:
        raise ValueError(f"kind must be one of {sorted(_MEDIA_SAMPLES)}")
    wire_kind, sample = _MEDIA_SAMPLES[kind]
    media = sample | {"sha256": secrets.token_hex(32), "id": str(next(_inbound_ids) + 900_000_000_000_000)}
    if caption is not None and wire_kind in ("image", "video", "document"):
        media["caption"] = caption
    return inbound(wa_id, wire_kind, {wire_kind: media}, **options)


def location_message(wa_id: str, lat: float, lon: float, **options: Unpack[InboundOptions]) -> JsonDict:
    return inbound(wa_id, "location", {"location": {"latitude": lat, "longitude": lon}}, **options)


def status_update(
    wa_id: str,
    status: str = "delivered",
    *,
    message_id: str | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    timestamp: int | None = None,
    callback_data: str | None = None,
) -> JsonDict:
    """A delivery status (sent, delivered, read, failed) for an outbound message (with the message's
    biz_opaque_callback_data, if it had one)."""
    entry: JsonDict = {
        "id": message_id or new_wamid(wa_id),
        "status": status,
        "timestamp": _timestamp(timestamp),
        "recipient_id": wa_id,
    }
    if callback_data is not None:
        entry["biz_opaque_callback_data"] = callback_data
    if status in ("sent", "delivered"):
        entry["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        entry["pricing"] = {"billable": False, "pricing_model": "CBP", "category": "service"}
    if status == "failed":
        entry["errors"] = [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}]
    return envelope({"statuses": [entry]}, phone_number_id=phone_number_id)


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta sends with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake WhatsApp Cloud API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8082, help="0 picks a free port (printed on start)")
    parser.add_argument("--token", default=DEFAULT_ACCESS_TOKEN, help="the accepted access token")
    parser.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    args = parser.parse_args(argv)
    fake = FakeGraphApi(access_token=args.token, phone_number_id=args.phone_number_id, port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(fake, "FakeGraphApi"))


if __name__ == "__main__":
    main()
