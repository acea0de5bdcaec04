"""`ruta serve`: one ASGI app (Starlette, served by uvicorn) for the webhooks.

- `POST /telegram`: Telegram updates (when RUTA_TELEGRAM_TOKEN is set); the secret token is checked.
- `GET|POST /whatsapp`: the WhatsApp Cloud API webhook (when the RUTA_WHATSAPP_* settings are set).
- `GET /healthz`: liveness with the channels served, the knowledge base's version, a database check, the NLU
  backend in use and the outbox (replies waiting, the oldest one's age, deliveries, retries and drops).
Bodies over RUTA_MAX_REQUEST_BYTES get 413. Every request is logged as JSON without identifiers or query string.

Start-up: Telegram's command menu is best effort (a warning if the Bot API refuses it). If Telegram does not accept
the webhook (setWebhook, after retries), start-up fails with one line, `ruta: Telegram did not accept the webhook
(...)`, instead of a traceback, and the process exits with code 3 (uvicorn's code for a failed start-up).

Several workers (`ruta serve --workers N`, PostgreSQL only): `prepare_workers` does once what the workers would
race for (the pseudonym key, migrations, the shipped knowledge base), then uvicorn's supervisor starts N processes
on one socket, each building its app with `worker_app` (its own engine, outbox sender and reminders; leases keep
the senders apart). SIGTERM to the supervisor stops every worker gracefully (requests in flight, then the outbox's
flush); a worker that dies is started again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn
from sqlalchemy import make_url, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.channels.sender import OutboxSender
from bot.channels.turns import ChannelEngine
from bot.engine import Engine, build_engine, open_store
from bot.kb_versions import KnowledgeVersions
from bot.outbox import OutboxQueue
from bot.render import Format
from bot.settings import Settings, get_settings
from nlu.backends import backend_health

__all__ = [
    "SERVER_OPTIONS",
    "ConfigError",
    "GracefulServer",
    "StartupError",
    "create_app",
    "prepare_workers",
    "run_workers",
    "worker_app",
]

logger = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WHATSAPP_SETTINGS = ("whatsapp_token", "whatsapp_phone_number_id", "whatsapp_app_secret", "whatsapp_verify_token")
HEALTHCHECK_SECONDS = 30  # a worker that does not answer the supervisor's ping for this long is started again
LOG_LEVEL_VARIABLE = "RUTA_SERVE_LOG_LEVEL"  # the log level, handed from `ruta serve --workers` to its workers
# on SIGTERM: requests in flight get 3 s, then the outbox its flush, then exit 0
SERVER_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "timeout_graceful_shutdown": 3,
}


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopped as an operator expects: the first SIGTERM or SIGINT stops gracefully (requests in
    flight, then the outbox's flush) and the process exits 0; a second one exits at once (what was committed
    stays in the outbox)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            os.write(2, b"ruta: stopped at once; replies not sent stay in the outbox\n")
            os._exit(0)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()  # a stop asked for is a clean exit, not death by the signal


class ConfigError(ValueError):
    """A setting is missing or contradicts another; the message names the environment variable."""


class StartupError(Exception):
    """A channel could not start; the message is one line for the operator (no token, no URL)."""


class Lifespan:
    """The ASGI lifespan: run the channels' starts in order and unwind them at shutdown.

    A StartupError fails start-up with its one-line message (uvicorn logs it and exits with code 3); what was
    already started is stopped first. Any other error propagates, and uvicorn logs it with its traceback.
    """

    def __init__(self, app: ASGIApp, starts: list[Callable[[AsyncExitStack], Awaitable[None]]]) -> None:
        self.app = app
        self.starts = starts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        await receive()  # lifespan.startup
        stack = AsyncExitStack()
        try:
            for start in self.starts:
                await start(stack)
        except StartupError as exc:
            await stack.aclose()
            await send({"type": "lifespan.startup.failed", "message": f"ruta: {exc}"})
            return
        except BaseException:
            await stack.aclose()
            raise
        async with stack:
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


class BodyLimit:
    """Reject bodies over `limit` bytes with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        body = b"" if declared.isdigit() and int(declared) <= self.limit else None
        more = body is not None
        while more and body is not None:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                body = None
        if body is None:
            await PlainTextResponse("request too large", status_code=413)(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)


def _replay(body: bytes) -> Receive:
    """A receive callable that hands the buffered body over once, then waits for the client to disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class RequestLog:
    """One JSON log line per request: method, path (no query string), status and milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            logger.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


@dataclass
class Service:
    """What `ruta serve` runs: the routes and what has to start and stop with the app."""

    engine: Engine
    routes: list[BaseRoute] = field(default_factory=list)
    starts: list[Callable[[AsyncExitStack], Awaitable[None]]] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    senders: list[OutboxSender] = field(default_factory=list)

    async def healthz(self, request: Request) -> Response:
        database = await asyncio.to_thread(self._database_ok)
        problem = self.engine.store.health.problem if database else "unreachable"  # or "read-only", "disk full"…
        body = {
            "status": "ok" if problem is None else "degraded",
            "channels": self.channels,
            "knowledge_base": self.engine.kb.version,
            "database": problem or "ok",
            "nlu": backend_health(self.engine.nlu),  # the backend parsing now; Rasa's breaker state
            "outbox": await asyncio.to_thread(self._outbox) if database else None,
        }
        return JSONResponse(body, status_code=200 if problem is None else 503)

    def _outbox(self) -> dict[str, Any]:
        """Replies waiting and the age of the oldest; what this process's senders delivered, retried, dropped."""
        depth, oldest = OutboxQueue(self.engine.store).depth()
        counts = {sender.channel: dict(sender.counts) for sender in self.senders}
        return {"depth": depth, "oldest_seconds": oldest, "senders": counts}

    def _database_ok(self) -> bool:
        try:
            with self.engine.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


def _add_telegram(service: Service, settings: Settings) -> None:
    from bot.channels import telegram

    token = settings.telegram_token
    if not token:
        return
    channel = _channel_engine(service, settings, "html", telegram.CHANNEL)
    bot = telegram.build_application(channel, token, settings.telegram_base_url)
    secret = telegram.webhook_secret(token, settings.telegram_webhook_secret)
    webhook = telegram.TelegramWebhook(bot, secret, settings.max_json_depth)
    service.senders.append(bot.sender)

    async def start(stack: AsyncExitStack) -> None:
        stack.callback(channel.close)
        try:
            await webhook.start(settings.telegram_webhook_url)
        except telegram.WebhookRefused as exc:
            raise StartupError(str(exc)) from None
        stack.push_async_callback(webhook.stop, settings.outbox_flush_seconds)

    service.routes.append(Route("/telegram", webhook.receive, methods=["POST"]))
    service.starts.append(start)
    service.channels.append(telegram.CHANNEL)


def _add_whatsapp(service: Service, settings: Settings) -> None:
    from bot.channels import whatsapp

    config = _whatsapp_config(settings)
    if config is None:
        return
    channel = _channel_engine(service, settings, "whatsapp", whatsapp.CHANNEL)
    webhook = whatsapp.WhatsAppChannel(channel, config, max_depth=settings.max_json_depth)
    service.senders.append(webhook.sender)

    async def start(stack: AsyncExitStack) -> None:
        webhook.start()
        stack.push_async_callback(webhook.close, settings.outbox_flush_seconds)
        stack.callback(channel.close)

    service.routes += [
        Route("/whatsapp", webhook.verify, methods=["GET"]),
        Route("/whatsapp", webhook.receive, methods=["POST"]),
    ]
    service.starts.append(start)
    service.channels.append(whatsapp.CHANNEL)


def _whatsapp_config(settings: Settings) -> Any:
    """The WhatsApp channel's configuration, None when no RUTA_WHATSAPP_* setting is given (ConfigError when only
    some are)."""
    from bot.channels import whatsapp

    given = {name: getattr(settings, name) for name in WHATSAPP_SETTINGS}
    if not any(given.values()):
        return None
    missing = [f"RUTA_{name.upper()}" for name, value in given.items() if not value]
    if missing:
        raise ConfigError(f"WhatsApp needs {', '.join(missing)} as well")
    return whatsapp.WhatsAppConfig(
        given["whatsapp_token"],
        given["whatsapp_phone_number_id"],
        given["whatsapp_app_secret"],
        given["whatsapp_verify_token"],
        settings.whatsapp_api_url,
        settings.whatsapp_timeout,
    )


def _channel_engine(service: Service, settings: Settings, fmt: Format, name: str) -> ChannelEngine:
    return ChannelEngine.configured(service.engine.in_format(fmt), name, settings)


def _add_console(service: Service, settings: Settings) -> None:
    """The staff console under /admin, when RUTA_ADMIN_SECRET is set."""
    if not settings.admin_secret:
        return
    from bot.staff_console import create_console_app

    service.routes.append(Mount("/admin", app=create_console_app(settings, service.engine.store)))


def create_app(settings: Settings, engine: Engine) -> ASGIApp:
    """The ASGI app with the channels the settings configure (raises ConfigError naming a missing setting)."""
    service = Service(engine)
    _add_telegram(service, settings)
    _add_whatsapp(service, settings)

    _add_console(service, settings)
    routes = [Route("/healthz", service.healthz, methods=["GET"]), *service.routes]
    app = Lifespan(Starlette(routes=routes), service.starts)
    return RequestLog(BodyLimit(app, settings.max_request_bytes))


def prepare_workers(settings: Settings) -> None:
    """Before several workers start, what they would otherwise race for: the settings checked (ConfigError;
    SQLite refused: its per-chat lock holds inside one process only), the pseudonym key made (PseudonymKeyError),
    the schema migrated and the shipped knowledge base adopted."""
    if make_url(settings.resolved_database_url).get_backend_name() == "sqlite":
        raise ConfigError(
            "--workers above 1 needs PostgreSQL (RUTA_DATABASE_URL): on SQLite one chat's messages are kept in "
            "order by a lock inside one process, and several processes would only queue for the file's write lock"
        )
    _whatsapp_config(settings)
    settings.resolved_pseudonym_key()
    store = open_store(settings)
    try:
        KnowledgeVersions(store).adopt_package()
    finally:
        store.close()


def worker_app() -> ASGIApp:
    """The app of one worker of `ruta serve --workers N`: uvicorn calls this factory in each worker process."""
    from bot.logs import configure_logging

    settings = get_settings()
    configure_logging(os.environ.get(LOG_LEVEL_VARIABLE, "INFO"))
    return create_app(settings, build_engine(settings))


def run_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Serve with `workers` processes on one socket until SIGTERM or SIGINT; the exit code (3: a worker could not
    start, and the others were stopped)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    os.environ[LOG_LEVEL_VARIABLE] = log_level  # the workers are spawned with this environment
    config = uvicorn.Config(  # a worker loading the NLU and WeasyPrint, or making a PDF, answers pings late
        "bot.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        **SERVER_OPTIONS,
    )
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0
