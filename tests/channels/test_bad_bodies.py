"""Issue 16, the webhook doors: any body posted to `ruta serve`'s /telegram and /whatsapp (mutations of real
updates and notifications: wrong JSON types, missing fields, junk, deep nesting, not JSON at all) is answered 200
or 400, never 500; a body that is refused changes no row of any table.

The app runs over real HTTP on its own event loop (hypothesis drives a synchronous test); after each body, the
work it started (Telegram's update queue, WhatsApp's background replies) is awaited before the tables are read.
`HYPOTHESIS_PROFILE=long` runs 25,000 examples per door, `RUTA_FUZZ_EXAMPLES` any count (tests/fuzz.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from bot.channels import telegram, whatsapp
from bot.serve import create_app
from bot.settings import Settings
from bot.storage import Store
from tests.fakes.graph_api import FakeGraphApi, button_reply, media_message, sign, status_update, text_message
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotApi
from tests.fuzz import fuzz_examples
from tests.test_conversations import make_engine

EXAMPLES = fuzz_examples(600)
SECRET = "fuzz-secret"
APP_SECRET = "fuzz-app-secret"
WA_USER = "56911112222"

Json = Any
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e20, 1e30, -1.5, 0, "", "abc", "1e+30", "None", "7001", "private", "group"]),
    st.text(max_size=40),
)
json_junk = st.recursive(
    json_leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
)


def _paths(value: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: keys of objects and indexes of arrays, the root first."""
    places = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            places += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            places += _paths(item, (*prefix, index))
    return places


def _replace(value: Json, path: tuple[Any, ...], new: Json) -> Json:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], tuple(rest), new)}
    return [_replace(item, tuple(rest), new) if index == head else item for index, item in enumerate(value)]


def _drop(value: Json, path: tuple[Any, ...]) -> Json:
    if len(path) == 1 and isinstance(value, dict):
        return {key: item for key, item in value.items() if key != path[0]}
    if len(path) <= 1:
        return value
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _drop(value[head], tuple(rest))}
    return [_drop(item, tuple(rest)) if index == head else item for index, item in enumerate(value)]


@st.composite
def mutated(draw: st.DrawFn, bases: list[Json]) -> bytes:
    """A real body with up to three places replaced by junk or dropped, or junk bytes, or deep nesting."""
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "mutate", "junk", "deep", "bytes"]))
    if kind == "junk":
        return _dumps(draw(json_junk))
    if kind == "deep":
        depth = draw(st.integers(10, 3000))
        return draw(st.sampled_from([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    document = draw(st.sampled_from(bases))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        document = _drop(document, path) if draw(st.booleans()) else _replace(document, path, draw(json_junk))
    return _dumps(document)


def _dumps(document: Json) -> bytes:
    """JSON text of a document (the standard library writes integers wider than 64 bits, as a client may)."""
    return json.dumps(document).encode()


def _table_rows(store: Store) -> dict[str, list[Any]]:
    """Every row of every table (the whole database, whatever tables later issues add)."""
    with store.engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
            for table in inspect(store.engine).get_table_names()
        }


@dataclass
class Door:
    """One webhook on a running app: post a body, then wait for the work it started."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    store: Store
    post: Callable[[httpx.AsyncClient, bytes], Awaitable[httpx.Response]]
    settle: Callable[[], Awaitable[None]]

    def send(self, body: bytes) -> tuple[int, bool]:
        """The status of a body, and whether any table changed because of it."""
        before = _table_rows(self.store)

        async def go() -> int:
            response = await self.post(self.client, body)
            await self.settle()
            return response.status_code

        status = self.loop.run_until_complete(go())
        return status, _table_rows(self.store) != before


def _door(tmp_path: Path, embedded_nlu: Any, door: str) -> Iterator[Door]:
    """`ruta serve` with one channel, against its fake service, on a loop of its own."""
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    made: list[Any] = []

    class Recorded(telegram.TelegramWebhook if door == "telegram" else whatsapp.WhatsAppChannel):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    async def start() -> Door:
        engine = make_engine(embedded_nlu, tmp_path / f"{door}.sqlite3")
        with pytest.MonkeyPatch.context() as patch:
            if door == "telegram":
                fake = await stack.enter_async_context(FakeBotApi())
                patch.setattr(telegram, "TelegramWebhook", Recorded)
                values = {"telegram_token": fake.token, "telegram_base_url": fake.base_url}
                values["telegram_webhook_secret"] = SECRET
            else:
                graph = await stack.enter_async_context(FakeGraphApi())
                patch.setattr(whatsapp, "WhatsAppChannel", Recorded)
                values = {
                    "whatsapp_token": graph.access_token,
                    "whatsapp_phone_number_id": graph.phone_number_id,
                    "whatsapp_app_secret": APP_SECRET,
                    "whatsapp_verify_token": "v",
                    "whatsapp_api_url": f"{graph.base_url}/v21.0",
                }
            app = create_app(Settings(_env_file=None, **values), engine)  # type: ignore[call-arg]
        server = await stack.enter_async_context(LocalServer(app, lifespan="on"))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=30))
        return Door(loop, client, engine.store, _POSTS[door], lambda: _settle(made[0]))

    yield loop.run_until_complete(start())
    loop.run_until_complete(stack.aclose())
    loop.close()


async def _post_telegram(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/telegram", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})


async def _post_whatsapp(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})


_POSTS = {"telegram": _post_telegram, "whatsapp": _post_whatsapp}


async def _settle(webhook: Any) -> None:
    """Wait until the webhook's work is done: its turns are committed before it answers, so until the outbox is
    delivered."""
    sender = webhook.sender if isinstance(webhook, whatsapp.WhatsAppChannel) else webhook.bot.sender
    assert await sender.flush(10)


@pytest.fixture(scope="module")
def telegram_door(tmp_path_factory, embedded_nlu) -> Iterator[Door]:
    yield from _door(tmp_path_factory.mktemp("tg"), embedded_nlu, "telegram")


@pytest.fixture(scope="module")
def whatsapp_door(tmp_path_factory, embedded_nlu) -> Iterator[Door]:
    yield from _door(tmp_path_factory.mktemp("wa"), embedded_nlu, "whatsapp")


def _tg_message(chat: dict[str, Any], text: str = "hola") -> dict[str, Any]:
    sender = {"id": 7001, "is_bot": False, "first_name": "Rosa"}
    return {"message_id": 10, "date": 1767225600, "chat": chat, "from": sender, "text": text}


PRIVATE = {"id": 7001, "type": "private", "first_name": "Rosa"}
GROUP = {"id": -4001, "type": "group", "title": "Feria"}
TG_BASES: list[Json] = [
    {"update_id": 1, "message": _tg_message(PRIVATE)},
    {"update_id": 2, "message": {**_tg_message(PRIVATE, "vendo empanadas"), "reply_to_message": _tg_message(PRIVATE)}},
    {"update_id": 3, "edited_message": _tg_message(PRIVATE)},
    {"update_id": 4, "message": _tg_message(GROUP)},
    {
        "update_id": 5,
        "callback_query": {
            "id": "99",
            "from": {"id": 7001, "is_bot": False, "first_name": "Rosa"},
            "chat_instance": "1",
            "data": "/affirm",
            "message": {"message_id": 9, "date": 1767225600, "chat": PRIVATE, "text": "¿Sigamos?"},
        },
    },
]
WA_BASES: list[Json] = [
    text_message(WA_USER, "hola"),
    button_reply(WA_USER, "/affirm", "Sí, sigamos"),
    media_message(WA_USER, "audio"),
    status_update(WA_USER, status="read"),
]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=mutated(TG_BASES))
def test_any_telegram_body_is_200_or_400_and_a_refused_one_stores_nothing(telegram_door: Door, body: bytes) -> None:
    status, changed = telegram_door.send(body)
    assert status in (200, 400)  # a malformed body is 400: not 5xx, nor another refusal
    assert not (status == 400 and changed)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=mutated(WA_BASES))
def test_any_whatsapp_body_is_200_or_400_and_a_refused_one_stores_nothing(whatsapp_door: Door, body: bytes) -> None:
    status, changed = whatsapp_door.send(body)
    assert status in (200, 400)  # a malformed body is 400: not 5xx, nor another refusal
    assert not (status == 400 and changed)


def _tg(update: Json) -> bytes:
    return orjson.dumps(update)


# Issue 16's classes, each answered 400 (not 500) and storing nothing.
TG_REFUSED = {
    "json-number": b"1",
    "json-null": b"null",
    "json-array": b"[]",
    "message-not-an-object": _tg({"update_id": 6, "message": "hola"}),
    "reply-to-message-a-string": _tg({"update_id": 7, "message": {**_tg_message(PRIVATE), "reply_to_message": "x"}}),
    "date-1e20": _tg({"update_id": 8, "message": {**_tg_message(PRIVATE), "date": 1e20}}),
    "update-id-a-list": _tg({"update_id": [1], "message": _tg_message(PRIVATE)}),
    "update-id-an-object": _tg({"update_id": {"a": 1}, "message": _tg_message(PRIVATE)}),
    "unknown-kind-with-junk": _tg({"update_id": 9, "message": {"chat": []}, "no_such_kind": {"x": [1]}}),
    **{
        f"chat-id-{name}": _tg({"update_id": 10, "message": _tg_message({**PRIVATE, "id": value})})
        for name, value in [("null", None), ("true", True), ("1.5", 1.5), ("abc", "abc"), ("1e30", 1e30)]
    },
    "chat-id-over-64-bits": b'{"update_id": 11, "message": {"message_id": 1, "date": 1, "text": "hola", '
    b'"chat": {"id": 18446744073709551616, "type": "private"}}}',
    "press-without-from": _tg({"update_id": 12, "callback_query": {**TG_BASES[4]["callback_query"], "from": None}}),
    "deep": b"[" * 5000 + b"]" * 5000,
}
TG_IGNORED = {  # acknowledged (Telegram must not re-deliver them) and dropped
    "group-message": _tg({"update_id": 13, "message": _tg_message(GROUP)}),
    "group-press": _tg(
        {
            "update_id": 14,
            "callback_query": {
                **TG_BASES[4]["callback_query"],
                "message": {"message_id": 9, "date": 1767225600, "chat": GROUP, "text": "¿Sigamos?"},
            },
        }
    ),
    "press-without-its-message": _tg(
        {"update_id": 15, "callback_query": {k: v for k, v in TG_BASES[4]["callback_query"].items() if k != "message"}}
    ),
}


@pytest.mark.parametrize("name", TG_REFUSED)
def test_telegram_bodies_that_were_500_or_stored_are_refused(telegram_door: Door, name: str) -> None:
    assert telegram_door.send(TG_REFUSED[name]) == (400, False)


@pytest.mark.parametrize("name", TG_IGNORED)
def test_telegram_updates_from_groups_are_acknowledged_and_dropped(telegram_door: Door, name: str) -> None:
    assert telegram_door.send(TG_IGNORED[name]) == (200, False)


def test_a_private_message_is_still_served(telegram_door: Door) -> None:
    status, changed = telegram_door.send(_tg({"update_id": 16, "message": _tg_message({**PRIVATE, "id": 7002})}))
    assert (status, changed) == (200, True)


def _wa_with(**fields: Json) -> bytes:
    payload = text_message(WA_USER, "hola")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(fields)
    return orjson.dumps(payload)


WA_REFUSED = {
    "from-a-number": _wa_with(**{"from": 1e30}),
    "from-an-integer": _wa_with(**{"from": 56911112222}),
    "from-not-digits": _wa_with(**{"from": "+56 9 1111"}),
    "id-a-number": _wa_with(id=5),
    "body-a-list": _wa_with(text={"body": ["x"]}),
    "button-id-a-number": _wa_with(
        type="interactive", interactive={"type": "button_reply", "button_reply": {"id": 7, "title": "Sí"}}
    ),
    "entry-not-a-list": orjson.dumps({"object": "whatsapp_business_account", "entry": {}}),
    "deep": b'{"a":' * 3000,
}


@pytest.mark.parametrize("name", WA_REFUSED)
def test_whatsapp_bodies_that_were_stored_as_text_are_refused(whatsapp_door: Door, name: str) -> None:
    assert whatsapp_door.send(WA_REFUSED[name]) == (400, False)
