"""WhatsApp Cloud API channel: the webhook (verification and signed notifications) and the Graph API sender.

A notification is accepted only with a valid `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app
secret); anything else gets 403 and changes nothing. Accepted messages are answered in the background, one
conversation at a time in arrival order; a message Meta delivers twice is answered once. Replies go to the
Graph API with httpx, retried on 429, 5xx and network errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.channels.ordering import RecentIds
from bot.channels.retry import backoff, send_with_retry
from bot.channels.turns import ChannelEngine
from bot.channels.whatsapp_messages import Inbound, messages_for, parse_webhook
from nlu.bounded_json import loads_bounded

__all__ = ["CHANNEL", "GraphApi", "WhatsAppChannel", "WhatsAppConfig", "signature_is_valid"]

CHANNEL = "whatsapp"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhatsAppConfig:
    token: str
    phone_number_id: str
    app_secret: str
    verify_token: str
    api_url: str = "https://graph.facebook.com/v21.0"


def signature_is_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is "sha256=" + the hex HMAC-SHA256 of the raw body (constant-time)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def retry_delay(exc: Exception, attempt: int) -> float | None:
    """Retry what the Graph API did not take: rate limits (its Retry-After if any), server errors, network."""
    if isinstance(exc, httpx.TransportError):
        return backoff(attempt)
    if isinstance(exc, httpx.HTTPStatusError) and (exc.response.status_code == 429 or exc.response.is_server_error):
        after = exc.response.headers.get("retry-after", "")
        return float(after) if after.isdigit() else backoff(attempt)
    return None


class GraphApi:
    """Sends messages to one business phone number."""

    def __init__(self, config: WhatsAppConfig, client: httpx.AsyncClient | None = None) -> None:
        self.url = f"{config.api_url.rstrip('/')}/{config.phone_number_id}/messages"
        self.client = client or httpx.AsyncClient(timeout=10.0)
        self.headers = {"Authorization": f"Bearer {config.token}", "Content-Type": "application/json"}

    async def send(self, to: str, message: dict[str, Any]) -> None:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
        await send_with_retry(lambda: self._post(body), retry_delay, "whatsapp_send")

    async def _post(self, body: dict[str, Any]) -> None:
        response = await self.client.post(self.url, content=orjson.dumps(body), headers=self.headers)
        response.raise_for_status()

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
        self.seen = RecentIds()
        self._tasks: set[asyncio.Task[None]] = set()

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
            inbound = parse_webhook(loads_bounded(body, max_depth=self.max_depth))
        except ValueError as exc:  # not JSON, too deep, or not a notification: the field is named, not its value
            logger.warning("unreadable notification", extra={"event": "whatsapp_bad_request", "reason": str(exc)})
            return JSONResponse({"error": "unreadable notification"}, status_code=400)
        for message in inbound:
            if self.seen.first_time(message.message_id):
                self._start(self._answer(message))
        return JSONResponse({"received": len(inbound)})

    def _start(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: Inbound) -> None:
        async with self.engine.conversation(message.user):
            try:
                if message.text is None:
                    replies = await self.engine.reply_unsupported(message.user)
                else:
                    replies = await self.engine.reply(message.user, message.text)
                for reply in replies:
                    for outgoing in messages_for(reply):
                        await self.api.send(message.user, outgoing)
            except Exception as exc:
                logger.error(
                    "reply failed", extra={"event": "whatsapp_error", "error": type(exc).__name__}, exc_info=exc
                )

    async def drain(self) -> None:
        """Wait for the replies still being sent (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.api.close()
