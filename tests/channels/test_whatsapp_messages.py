"""WhatsApp message shapes: replies within the Cloud API's limits; webhook notifications read into messages."""

from __future__ import annotations

import pytest

from bot.channels.whatsapp_messages import (
    BUTTON_TITLE_LIMIT,
    MAX_LIST_ROWS,
    ROW_TITLE_LIMIT,
    messages_for,
    parse_webhook,
)
from bot.domain import Button, load_domain
from bot.replies import Reply
from bot.settings import get_settings

DOMAIN = load_domain(get_settings().domain_path)


def _question(name: str) -> Reply:
    response = DOMAIN.response(name)
    return Reply(response.text, list(response.buttons))


def test_two_short_options_are_reply_buttons():
    [message] = messages_for(_question("utter_ask_operating"))
    interactive = message["interactive"]
    assert interactive["type"] == "button"
    assert [b["reply"]["id"] for b in interactive["action"]["buttons"]] == [
        b.payload for b in DOMAIN.response("utter_ask_operating").buttons
    ]


@pytest.mark.parametrize("name", [n for n in DOMAIN.responses if DOMAIN.response(n).buttons])
def test_every_closed_question_fits_whatsapp(name):
    *texts, question = messages_for(_question(name))
    assert all(m["type"] == "text" for m in texts)
    interactive = question["interactive"]
    if interactive["type"] == "button":
        assert len(interactive["action"]["buttons"]) <= 3
        assert all(len(b["reply"]["title"]) <= BUTTON_TITLE_LIMIT for b in interactive["action"]["buttons"])
        assert len(interactive["body"]["text"]) <= 1024
    else:
        rows = [row for section in interactive["action"]["sections"] for row in section["rows"]]
        assert len(rows) <= MAX_LIST_ROWS
        assert all(len(row["title"]) <= ROW_TITLE_LIMIT and len(row.get("description", "")) <= 72 for row in rows)


def test_options_beyond_ten_are_named_in_the_text():
    reply = _question("utter_ask_sector")
    assert len(reply.buttons) > MAX_LIST_ROWS
    [message] = messages_for(reply)
    body = message["interactive"]["body"]["text"]
    assert all(b.title in body for b in reply.buttons[MAX_LIST_ROWS:])


def test_a_long_title_is_shortened_and_kept_whole_in_the_description():
    buttons = [Button(title=f"Opción número {i} con un título largo", payload=f'/inform{{"x":{i}}}') for i in range(5)]
    [message] = messages_for(Reply("¿Cuál?", buttons))
    row = message["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) <= ROW_TITLE_LIMIT and row["title"].endswith("…")
    assert row["description"] == buttons[0].title


def test_a_long_text_is_split_and_the_question_comes_last():
    messages = messages_for(
        Reply("palabra " * 1500, [Button(title="Sí", payload="/affirm"), Button(title="No", payload="/deny")])
    )
    assert [m["type"] for m in messages][-1] == "interactive"
    assert all(len(m["text"]["body"]) <= 4096 for m in messages[:-1])
    assert len(messages[-1]["interactive"]["body"]["text"]) <= 1024


def _envelope(*messages):
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"}, "messages": list(messages)}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9", "changes": [{"field": "messages", "value": value}]}],
    }


def test_webhook_messages_are_read_in_order():
    inbound = parse_webhook(
        _envelope(
            {"from": "569", "id": "a", "type": "text", "text": {"body": "hola"}},
            {
                "from": "569",
                "id": "b",
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Sí"}},
            },
            {
                "from": "569",
                "id": "c",
                "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": "/inform{}", "title": "X"}},
            },
            {"from": "569", "id": "d", "type": "sticker", "sticker": {"id": "s"}},
            {"from": "569", "id": "e", "type": "reaction", "reaction": {"message_id": "x", "emoji": "👍"}},
        )
    )
    assert [(m.message_id, m.text) for m in inbound] == [
        ("a", "hola"),
        ("b", "/affirm"),
        ("c", "/inform{}"),
        ("d", None),
    ]


def test_statuses_are_not_messages():
    envelope = _envelope()
    envelope["entry"][0]["changes"][0]["value"] = {"statuses": [{"id": "x", "status": "read"}]}
    assert parse_webhook(envelope) == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"object": "page"},
        {"object": "whatsapp_business_account", "entry": {}},
        _envelope({"id": "x", "type": "text"}),
    ],
)
def test_malformed_notifications_raise_value_error(payload):
    with pytest.raises(ValueError):
        parse_webhook(payload)


def test_receipts_are_the_tags_of_statuses_saying_whatsapp_has_the_message() -> None:
    from bot.channels.whatsapp_messages import parse_receipts
    from tests.fakes.graph_api import status_update, text_message

    delivered = status_update("56911111111", "delivered", callback_data="ruta:7.1700000000000.0")
    failed = status_update("56911111111", "failed", callback_data="ruta:8.1700000000000.0")
    untagged = status_update("56911111111", "read")
    assert parse_receipts(delivered) == ["ruta:7.1700000000000.0"]
    assert parse_receipts(failed) == parse_receipts(untagged) == parse_receipts(text_message("569", "hola")) == []
    delivered["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = 7
    with pytest.raises(ValueError, match="biz_opaque_callback_data"):
        parse_receipts(delivered)
