"""`ruta serve` over real HTTP: the WhatsApp webhook against a fake Graph API, Telegram's webhook, health, limits."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from bot.serve import ConfigError, create_app
from bot.settings import Settings
from tests.channels.telegram_harness import QUIET
from tests.fakes.graph_api import (
    FakeGraphApi,
    button_reply,
    list_reply,
    media_message,
    sign,
    status_update,
    text_message,
)
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotApi
from tests.test_conversations import make_engine

APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-me"
WA_USER = "56912345678"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def served(
    settings: Settings, nlu: Any, database: Any, port: int = 0
) -> AsyncIterator[tuple[LocalServer, httpx.AsyncClient]]:
    """`ruta serve`'s app on a port (default any free one; startup and shutdown run), and a client for it."""
    engine = make_engine(nlu, database)
    server = LocalServer(create_app(settings, engine), lifespan="on", port=port)
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        yield server, client


def _whatsapp_settings(graph: FakeGraphApi) -> Settings:
    return _settings(
        whatsapp_token=graph.access_token,
        whatsapp_phone_number_id=graph.phone_number_id,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_api_url=f"{graph.base_url}/v21.0",
    )


async def _post(client: httpx.AsyncClient, payload: dict[str, Any], secret: str = APP_SECRET) -> httpx.Response:
    body = orjson.dumps(payload)
    return await client.post("/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body, secret)})


class WhatsAppUser:
    """One person writing to the business number; each turn waits for the bot's messages to settle."""

    def __init__(self, graph: FakeGraphApi, client: httpx.AsyncClient, wa_id: str = WA_USER) -> None:
        self.graph, self.client, self.wa_id = graph, client, wa_id

    async def _turn(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.graph.sent(self.wa_id))
        assert (await _post(self.client, payload)).status_code == 200
        await self.graph.wait_for(self.wa_id, before + 1)
        await asyncio.sleep(QUIET)
        return self.graph.sent(self.wa_id)[before:]

    async def says(self, text: str) -> list[dict[str, Any]]:
        return await self._turn(text_message(self.wa_id, text))

    async def chooses(self, title: str) -> list[dict[str, Any]]:
        """Tap the reply button or list row titled `title` in the latest question."""
        question = next(m for m in reversed(self.graph.sent(self.wa_id)) if m["type"] == "interactive")
        interactive = question["interactive"]
        if interactive["type"] == "button":
            choice = next(b["reply"] for b in interactive["action"]["buttons"] if b["reply"]["title"] == title)
            return await self._turn(button_reply(self.wa_id, choice["id"], choice["title"]))
        rows = [row for section in interactive["action"]["sections"] for row in section["rows"]]
        row = next(r for r in rows if title in (r["title"], r.get("description")))
        return await self._turn(list_reply(self.wa_id, row["id"], row["title"]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"]["body"] if m["type"] == "text" else m["interactive"]["body"]["text"] for m in messages)


async def test_a_whole_diagnosis_over_whatsapp(graph, embedded_nlu, tmp_path):
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        user = WhatsAppUser(graph, client)
        await user.says("hola")
        await user.chooses("Sí, sigamos")
        await user.chooses("Copiapó")
        sector = graph.sent(WA_USER)[-1]["interactive"]
        await user.says("hago pan amasado")
        await user.chooses("Sí, ya vendo")
        for text in ["hace 3 años", "2 millones al mes", "somos 3", "no", "en mi casa", "a veces", "no"]:
            await user.says(text)
        await user.chooses("Plata / financiamiento")
        await user.chooses("Mujer")
        await user.says("47")
        route = await user.chooses("40%")
    assert sector["type"] == "list" and "También puedes escribir: Otro" in sector["body"]["text"]
    assert "*Tu ruta, paso a paso*" in _texts(route)
    assert "📍" in _texts(route)


async def test_media_and_statuses(graph, embedded_nlu, tmp_path):
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        user = WhatsAppUser(graph, client)
        await user.says("hola")
        replies = await user._turn(media_message(WA_USER, "audio"))
        assert "texto" in _texts(replies).lower() or "escrib" in _texts(replies).lower()
        count = len(graph.sent(WA_USER))
        assert (await _post(client, status_update(WA_USER, status="read"))).status_code == 200
        await asyncio.sleep(0.3)
        assert len(graph.sent(WA_USER)) == count


async def test_a_repeated_delivery_is_answered_once(graph, embedded_nlu, tmp_path):
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        payload = text_message(WA_USER, "hola")
        for _ in range(3):
            assert (await _post(client, payload)).status_code == 200
        await graph.wait_for(WA_USER, 1)
        await asyncio.sleep(0.4)
        first_turn = len(graph.sent(WA_USER))
        assert first_turn == 2  # the greeting and the consent question, once


@pytest.mark.parametrize("failure", [500, 429, "disconnect"])
async def test_graph_failures_are_retried_without_duplicates(graph, embedded_nlu, tmp_path, failure):
    """A disconnect without an answer may come after Meta took the message: its retry waits for a receipt
    first (RECEIPT_WAIT_SECONDS), so it takes longer."""
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        graph.fail_next(times=2, status=failure)
        assert (await _post(client, text_message(WA_USER, "hola"))).status_code == 200
        await graph.wait_for(WA_USER, 2, timeout=40)
        await asyncio.sleep(QUIET)
    assert graph.injected_failures == 2
    assert len(graph.sent(WA_USER)) == 2  # the greeting and the consent question, once each


async def test_bad_or_missing_signature_is_forbidden_and_changes_nothing(graph, embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    async with served(_whatsapp_settings(graph), embedded_nlu, database) as (_, client):
        payload = text_message(WA_USER, "hola")
        assert (await _post(client, payload, secret="wrong")).status_code == 403
        missing = await client.post("/whatsapp", content=orjson.dumps(payload))
        assert missing.status_code == 403
        tampered = orjson.dumps(text_message(WA_USER, "chao"))
        forged = await client.post(
            "/whatsapp", content=tampered, headers={"X-Hub-Signature-256": sign(b"{}", APP_SECRET)}
        )
        assert forged.status_code == 403
        await asyncio.sleep(0.3)
    assert graph.sent(WA_USER) == []
    engine = make_engine(None, database)  # type: ignore[arg-type]
    assert engine.store.load_state(engine.user_key("whatsapp", WA_USER)) is None


async def test_subscription_verification(graph, embedded_nlu, tmp_path):
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        ok = await client.get(
            "/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        )
        wrong = await client.get(
            "/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
        )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert wrong.status_code == 403


async def test_unreadable_json_with_a_valid_signature_is_a_400(graph, embedded_nlu, tmp_path):
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        for body in [b"not json", b'{"object": "page"}']:
            response = await client.post(
                "/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)}
            )
            assert response.status_code == 400


async def test_health_and_request_size_limit(graph, embedded_nlu, tmp_path):
    settings = _whatsapp_settings(graph).model_copy(update={"max_request_bytes": 1000})
    async with served(settings, embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        health = await client.get("/healthz")
        big = b"x" * 5000
        too_big = await client.post("/whatsapp", content=big, headers={"X-Hub-Signature-256": sign(big, APP_SECRET)})
    assert health.status_code == 200
    assert health.json()["channels"] == ["whatsapp"] and health.json()["database"] == "ok"
    assert too_big.status_code == 413


def test_a_half_configured_whatsapp_names_what_is_missing(embedded_nlu, tmp_path):
    settings = _settings(whatsapp_token="x", whatsapp_app_secret="y")
    with pytest.raises(ConfigError, match="RUTA_WHATSAPP_PHONE_NUMBER_ID, RUTA_WHATSAPP_VERIFY_TOKEN"):
        create_app(settings, make_engine(embedded_nlu, tmp_path / "db.sqlite3"))


async def test_logs_carry_no_user_identifier(graph, embedded_nlu, tmp_path, caplog):
    from bot.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    async with served(_whatsapp_settings(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        user = WhatsAppUser(graph, client)
        await user.says("hola")
        await user.says("/borrar")
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert any('"event":"turn"' in line for line in lines)
    assert not any(WA_USER in line for line in lines)


@pytest.mark.parametrize("menu_status", [None, 500], ids=["menu", "set-my-commands-500"])
async def test_telegram_webhook_mode(embedded_nlu, tmp_path, caplog, menu_status):
    async with FakeBotApi(method_status={"setMyCommands": menu_status} if menu_status else {}) as fake:
        port = _free_port()
        settings = _settings(
            telegram_token=fake.token,
            telegram_base_url=fake.base_url,
            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram",
            telegram_webhook_secret="s3cret",
        )
        async with served(settings, embedded_nlu, tmp_path / "db.sqlite3", port) as (_, client):
            fake.send_text(7001, "hola")
            await fake.wait_for_messages(7001, 2)
            forged = await client.post(
                "/telegram", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
            )
            health = (await client.get("/healthz")).json()
        assert forged.status_code == 403
        assert health["channels"] == ["telegram"]
        assert all(attempt.status == 200 for attempt in fake.webhook_attempts)
        skipped = [r for r in caplog.records if getattr(r, "event", None) == "command_menu_skipped"]
        if menu_status is None:
            assert fake.commands, "the command menu is registered in webhook mode too"
            assert not skipped
        else:  # the menu is best effort: one warning, and the webhook is set and served all the same
            assert not fake.commands and len(skipped) == 1
            assert fake.webhook["url"].endswith("/telegram")


async def test_telegram_webhook_registration(embedded_nlu, tmp_path):
    async with FakeBotApi() as fake:
        settings = _settings(
            telegram_token=fake.token,
            telegram_base_url=fake.base_url,
            telegram_webhook_url="https://bot.example.cl/telegram",
        )
        async with served(settings, embedded_nlu, tmp_path / "db.sqlite3"):
            webhook = fake.webhook
    assert webhook["url"] == "https://bot.example.cl/telegram"
    assert fake.webhook_secret and len(fake.webhook_secret) >= 32
