"""Issue 11: reminders the whole way, over real HTTP against the fake Graph API (WhatsApp) and Bot API (Telegram).

A person finishes the diagnosis, says yes to the reminders, and a fake clock's look at the calls queues them; the
running bot's sender delivers them (WhatsApp: as the approved template, since the 24-hour window has closed);
the template's button gives the route again; "ya no quiero avisos" deletes what was kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.engine import Engine
from bot.reminders import Reminders, load_reminder_rules
from bot.serve import create_app
from bot.storage import Store
from tests.channels.telegram_harness import QUIET, TelegramUser, polling_bot
from tests.channels.test_serve import WA_USER, WhatsAppUser, _whatsapp_settings
from tests.fakes.graph_api import FakeGraphApi, inbound
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotApi
from tests.test_conversations import make_engine
from tests.test_reminders import CLOSES, OPENS, Knowledge, _call

RULES = load_reminder_rules()
TEMPLATE = RULES.whatsapp_template.name
# a young person with an idea in Vallenar: Capital Semilla (by calls) is on the route
DIAGNOSIS = [
    ("says", "buenas"),
    ("chooses", "Sí, sigamos"),
    ("says", "quiero poner un taller de costura en vallenar"),
    ("chooses", "Todavía no"),
    ("says", "somos 1"),
    ("says", "no"),
    ("says", "en la casa"),
    ("says", "no llevo cuentas"),
    ("says", "capacitarme"),
    ("says", "mujer"),
    ("says", "tengo 24 años"),
]


class ServingKnowledge(Knowledge):
    """The knowledge base as the engine follows it (bot/kb_live.py's `current`)."""

    def current(self) -> Any:
        return self.kb


@asynccontextmanager
async def serving(graph: FakeGraphApi, nlu: Any, database: Path, knowledge: ServingKnowledge) -> AsyncIterator[Any]:
    engine: Engine = replace(make_engine(nlu, database), kb=knowledge(), live=knowledge)  # type: ignore[arg-type]
    server = LocalServer(create_app(_whatsapp_settings(graph), engine), lifespan="on")
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        yield WhatsAppUser(graph, client)


def _bodies(messages: list[dict[str, Any]]) -> str:
    texts = []
    for message in messages:
        if message["type"] == "text":
            texts.append(message["text"]["body"])
        elif message["type"] == "interactive":
            texts.append(message["interactive"]["body"]["text"])
    return "\n".join(texts)


async def _diagnosed(user: WhatsAppUser) -> list[dict[str, Any]]:
    """The whole diagnosis; the replies to the last answer, up to the offer of reminders (the last of them)."""
    for action, text in DIAGNOSIS:
        await getattr(user, action)(text)
    before = len(user.graph.sent(WA_USER))
    await user.says("no sé")
    for _ in range(200):
        replies = user.graph.sent(WA_USER)[before:]
        if "¿Te aviso cuando abra" in _bodies(replies):
            return replies
        await asyncio.sleep(0.05)
    raise AssertionError(_bodies(user.graph.sent(WA_USER)[before:]))


async def test_a_reminder_reaches_whatsapp_as_the_template_and_its_button_gives_the_route(
    graph: FakeGraphApi, embedded_nlu: Any, tmp_path: Path
) -> None:
    graph.templates[TEMPLATE] = 3  # approved in WhatsApp Manager, as the README says
    database = tmp_path / "db.sqlite3"
    knowledge = ServingKnowledge(_call())  # the 2030 call: nothing due on the real today
    async with serving(graph, embedded_nlu, database, knowledge) as user:
        route = await _diagnosed(user)
        assert "Capital Semilla" in _bodies(route) and "¿Te aviso cuando abra" in _bodies(route)
        said = _bodies(await user.chooses("Sí, avísame"))
        assert "Te aviso cuando abra" in said and "Capital Semilla" in said
        with sqlite3.connect(database) as connection:
            [(address,)] = connection.execute("SELECT address FROM reminders WHERE instrument LIKE '%semilla%'")
        assert WA_USER not in address
        before = len(graph.sent(WA_USER))
        reminders = Reminders(Store(f"sqlite:///{database}"), knowledge, "whatsapp", "whatsapp")
        assert reminders.queue_due(OPENS) >= 1  # the fake clock: the day the call opens
        await graph.wait_for(WA_USER, before + 1)
        await asyncio.sleep(QUIET)
        [reminder] = [m for m in graph.sent(WA_USER)[before:] if m["type"] == "template"]
        template = reminder["template"]
        assert template["name"] == TEMPLATE
        [body] = [c for c in template["components"] if c["type"] == "body"]
        assert "Capital Semilla" in body["parameters"][0]["text"] and "abrió" in body["parameters"][1]["text"]
        assert "Vallenar" in body["parameters"][2]["text"]
        tapped = {"type": "button", "button": {"payload": RULES.button.payload, "text": RULES.button.title}}
        again = await user._turn(inbound(WA_USER, "button", tapped))
        assert "Tu diagnóstico" in _bodies(again) and "Capital Semilla" in _bodies(again)
        stopped = _bodies(await user.says("ya no quiero avisos"))
        assert "no te mando más avisos" in stopped
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM reminders").fetchone() == (0,)
    closing = CLOSES - timedelta(days=RULES.days_before_close)
    assert reminders.queue_due(closing) == 0


async def test_a_template_whatsapp_does_not_know_is_dropped_not_retried_for_ever(
    graph: FakeGraphApi, embedded_nlu: Any, tmp_path: Path
) -> None:
    database = tmp_path / "db.sqlite3"
    knowledge = ServingKnowledge(_call())
    async with serving(graph, embedded_nlu, database, knowledge) as user:
        await _diagnosed(user)
        await user.chooses("Sí, avísame")
        Reminders(Store(f"sqlite:///{database}"), knowledge, "whatsapp", "whatsapp").queue_due(OPENS)
        for _ in range(100):
            with sqlite3.connect(database) as connection:
                if connection.execute("SELECT count(*) FROM outbox").fetchone() == (0,):
                    break
            await asyncio.sleep(0.05)
        health = (await user.client.get("/healthz")).json()
    assert not [m for m in graph.sent(WA_USER) if m["type"] == "template"]
    assert health["outbox"]["depth"] == 0 and health["outbox"]["senders"]["whatsapp"]["dropped"] >= 1


async def test_a_reminder_reaches_telegram_with_a_button_that_gives_the_route(
    embedded_nlu: Any, tmp_path: Path
) -> None:
    database = tmp_path / "db.sqlite3"
    async with FakeBotApi() as fake, polling_bot(fake, embedded_nlu, database):
        user = TelegramUser(fake, 4242)
        for action, text in DIAGNOSIS:
            await (user.says(text) if action == "says" else user.presses(text))
        await user.says("no sé")
        said = " ".join(m.text for m in await user.presses("Sí, avísame"))
        assert "Te aviso cuando abra" in said
        before = len(user.messages)
        reminders = Reminders(Store(f"sqlite:///{database}"), Knowledge(_call()), "telegram", "html")
        assert reminders.queue_due(OPENS) >= 1
        await fake.wait_for_messages(4242, before + 1)
        await fake.wait_idle(quiet=QUIET)
        reminder = next(m for m in user.messages[before:] if "Capital Semilla" in m.text)
        assert "abrió la postulación" in reminder.text and "<b>" in reminder.html
        route = " ".join(m.text for m in await user.presses(RULES.button.title))
        assert "Tu diagnóstico" in route and "Capital Semilla" in route
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT user_key, address, instrument FROM reminders").fetchall()
    assert rows and all("4242" not in value for row in rows for value in row)
