"""WhatsApp Cloud API channel: the webhook (verification and signed notifications) and the Graph API sender.

A notification is accepted only with a valid `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app
secret); anything else gets 403 and changes nothing. Each message's turn is committed, with its replies in the
outbox, before the webhook answers 200: a process killed earlier leaves Meta to deliver the message again, and a
message delivered twice (before or after a restart) is taken once (the processed-messages table). If the
database cannot be written the webhook answers 503, so Meta delivers it again later. The outbox sender
(bot/channels/sender.py) posts the replies to the Graph API with httpx, retrying 429, 5xx and network errors.
A document is uploaded first (`POST /media`) and then sent by the media id it was given: both calls are one part
of the reply, so a failure of either retries both (an upload not sent expires unused at Meta).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass

import httpx
import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.channels.retry import backoff
from bot.channels.sender import OutboxSender
from bot.channels.turns import ChannelEngine
from bot.channels.whatsapp_messages import (
    DocumentMessage,
    Inbound,
    Outgoing,
    messages_for,
    parse_receipts,
    parse_webhook,
)
from bot.database_health import unwritable
from bot.replies import Document, Reply
from nlu.bounded_json import loads_bounded

__all__ = ["CHANNEL", "GraphApi", "WhatsAppChannel", "WhatsAppConfig", "signature_is_valid"]

CHANNEL = "whatsapp"
logger = logging.getLogger(__name__)


RECEIPT_WAIT_SECONDS = 5.0  # Meta's "sent" status usually follows an accepted message within a second or two
# the request went out whole and no answer came: Meta may have the message
MAYBE_TAKEN = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class WhatsAppConfig:
    token: str
    phone_number_id: str
    app_secret: str
    verify_token: str
    api_url: str = "https://graph.facebook.com/v21.0"
    timeout: float = 10.0  # seconds for the Graph API's answer


def signature_is_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is "sha256=" + the hex HMAC-SHA256 of the raw body (constant-time)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def retry_delay(exc: Exception, attempt: int) -> float | None:
    """Retry what the Graph API did not take: rate limits (its Retry-After if any), server errors, network. A
    request that went out but got no answer may have been taken: it waits at least RECEIPT_WAIT_SECONDS, for the
    status webhook that would say so (the retry then skips it, see bot/channels/sender.py)."""
    if isinstance(exc, MAYBE_TAKEN):
        return max(backoff(attempt), RECEIPT_WAIT_SECONDS)
    if isinstance(exc, httpx.TransportError):
        return backoff(attempt)
    if isinstance(exc, httpx.HTTPStatusError) and (exc.response.status_code == 429 or exc.response.is_server_error):
        after = exc.response.headers.get("retry-after", "")
        return float(after) if after.isdigit() else backoff(attempt)
    return None


class GraphApi:
    """Sends messages to one business phone number: the outbox sender's transport for WhatsApp."""

    def __init__(self, config: WhatsAppConfig, client: httpx.AsyncClient | None = None) -> None:
        number = f"{config.api_url.rstrip('/')}/{config.phone_number_id}"
        self.url, self.media_url = f"{number}/messages", f"{number}/media"
        self.client = client or httpx.AsyncClient(timeout=config.timeout)
        self.authorization = {"Authorization": f"Bearer {config.token}"}
        self.headers = self.authorization | {"Content-Type": "application/json"}

    def parts(self, reply: Reply) -> list[Outgoing]:
        return messages_for(reply)

    async def send(self, to: str, message: Outgoing, tag: str = "") -> None:
        """One POST (a document: its upload, then the message); an error raises (the sender decides whether and
        when to try again). `tag` goes as `biz_opaque_callback_data`, which Meta's status webhooks carry back."""
        if isinstance(message, DocumentMessage):
            message = message.message(await self._upload(message.document))
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
        if tag:
            body["biz_opaque_callback_data"] = tag
        response = await self.client.post(self.url, content=orjson.dumps(body), headers=self.headers)
        response.raise_for_status()

    async def _upload(self, document: Document) -> str:
        """Upload a file to the phone number's media (multipart: file, type, messaging_product); its media id."""
        form = {"messaging_product": "whatsapp", "type": document.mime}
        files = {"file": (document.filename, document.data, document.mime)}
        response = await self.client.post(self.media_url, data=form, files=files, headers=self.authorization)
        response.raise_for_status()
        return str(response.json()["id"])

    def retry_delay(self, exc: Exception, attempt: int) -> float | None:
        return retry_delay(exc, attempt)

    async def close(self) -> None:
        await self.client.aclose()


class WhatsAppChannel:
    """The /whatsapp endpoints: GET verifies the subscription, POST receives messages."""

    def __init__(
        self, engine: ChannelEngine, config: WhatsAppConfig, api: GraphApi | None = None, max_depth: int = 32
    ) -> None:
        self.engine = engine
        self.config = config
        self.api = api or GraphApi(config)
        self.max_depth = max_depth
        self.sender: OutboxSender = engine.sender(self.api)

    async def verify(self, request: Request) -> Response:
        """Meta's subscription check: echo hub.challenge when hub.verify_token matches."""
        params = request.query_params
        token_ok = hmac.compare_digest(params.get("hub.verify_token", ""), self.config.verify_token)
        if params.get("hub.mode") == "subscribe" and token_ok and "hub.challenge" in params:
            return PlainTextResponse(params["hub.challenge"])
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(self, request: Request) -> Response:
        """Check the signature, then answer every message in the background and acknowledge at once."""
        body = await request.body()
        if not signature_is_valid(body, request.headers.get("x-hub-signature-256"), self.config.app_secret):
            logger.warning("bad signature", extra={"event": "whatsapp_forbidden"})
            return PlainTextResponse("forbidden", status_code=403)
        try:
            payload = loads_bounded(body, max_depth=self.max_depth)
            inbound, receipts = parse_webhook(payload), parse_receipts(payload)
        except ValueError as exc:  # not JSON, too deep, or not a notification: the field is named, not its value
            logger.warning("unreadable notification", extra={"event": "whatsapp_bad_request", "reason": str(exc)})
            return JSONResponse({"error": "unreadable notification"}, status_code=400)
        try:
            if receipts:
                await asyncio.to_thread(self.sender.queue.record_receipts, receipts)
            for message in inbound:
                await self._take(message)
        except SQLAlchemyError as exc:  # nothing of the failed message was written: Meta delivers it again
            if unwritable(exc) is None:  # else logged once, by its condition (bot/database_health.py)
                logger.error("turn not stored", extra={"event": "whatsapp_unavailable", "error": type(exc).__name__})
            return JSONResponse({"error": "try again later"}, status_code=503)
        finally:
            self.sender.wake()
        return JSONResponse({"received": len(inbound)})

    async def _take(self, message: Inbound) -> None:
        async with self.engine.conversation(message.user):
            await self.engine.take(message.user, message.text, message.message_id)

    def start(self) -> None:
        self.sender.start()

    async def close(self, flush_seconds: float = 0.0) -> None:
        """Deliver what can be delivered within `flush_seconds`, stop the sender, close the HTTP client."""
        if flush_seconds > 0:
            await self.sender.flush(flush_seconds)
        await self.sender.stop()
        await self.api.close()
