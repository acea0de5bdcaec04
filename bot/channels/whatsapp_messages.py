"""WhatsApp Cloud API message shapes: what a webhook delivers, and the messages that carry the bot's replies.

Outgoing: plain text (split under 4,096 characters); a closed question with up to 3 short options as reply
buttons; up to 10 options as a list message (titles over 24 characters are shortened, the full title goes in the
row's description); options beyond 10 are named in the text so they can be typed. A button's id is its payload.
Incoming: text, a pressed reply button or list row (its id), and everything else (audio, image, sticker,
location, …) as "unsupported". Delivery statuses, reactions and system notices are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.channels.split import split_message
from bot.domain import Button
from bot.replies import Reply

__all__ = ["Inbound", "messages_for", "parse_webhook"]

TEXT_LIMIT = 4096
BUTTON_BODY_LIMIT = 1024
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
MAX_LIST_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LABEL = "Ver opciones"
IGNORED = {"reaction", "system", "ephemeral"}  # not something to answer
MORE_OPTIONS = "También puedes escribir: {options}."


@dataclass(frozen=True)
class Inbound:
    """One message from a user: `text` is what they wrote or the id of what they pressed; None = unsupported."""

    user: str
    message_id: str
    text: str | None


def parse_webhook(payload: Any) -> list[Inbound]:
    """Every user message in a webhook delivery, in order; anything malformed raises ValueError."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("not a WhatsApp Business Account notification")
    inbound = []
    for entry in _list(payload, "entry"):
        for change in _list(entry, "changes"):
            value = change.get("value") if isinstance(change, dict) else None
            if change.get("field") == "messages" and isinstance(value, dict):
                messages = [
                    m for m in _list(value, "messages") if not isinstance(m, dict) or m.get("type") not in IGNORED
                ]
                inbound += [_inbound(message) for message in messages]
    return inbound


def _list(container: Any, key: str) -> list[Any]:
    value = container.get(key, []) if isinstance(container, dict) else None
    if not isinstance(value, list):
        raise ValueError(f"`{key}` is not a list")
    return value


def _inbound(message: Any) -> Inbound:
    if not isinstance(message, dict) or not message.get("from") or not message.get("id"):
        raise ValueError("a message without `from` or `id`")
    return Inbound(str(message["from"]), str(message["id"]), _text_of(message))


def _text_of(message: dict[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body") or "") or None
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        choice = interactive.get(interactive.get("type"), {}) if isinstance(interactive, dict) else {}
        return str(choice.get("id") or choice.get("title") or "") or None
    if kind == "button":  # a quick reply of a template message
        button = message.get("button") or {}
        return str(button.get("payload") or button.get("text") or "") or None
    return None


def messages_for(reply: Reply) -> list[dict[str, Any]]:
    """The Cloud API message objects (without `to`) that carry one reply."""
    if not reply.buttons:
        return [_text(part) for part in split_message(reply.text, TEXT_LIMIT)]
    shown, extra = reply.buttons[:MAX_LIST_ROWS], reply.buttons[MAX_LIST_ROWS:]
    text = reply.text + ("\n\n" + MORE_OPTIONS.format(options=", ".join(b.title for b in extra)) if extra else "")
    as_buttons = len(shown) <= MAX_REPLY_BUTTONS and all(len(b.title) <= BUTTON_TITLE_LIMIT for b in shown)
    limit = BUTTON_BODY_LIMIT if as_buttons else TEXT_LIMIT
    *before, body = split_message(text, limit)
    question = _reply_buttons(body, shown) if as_buttons else _list_message(body, shown)
    return [*(_text(part) for part in before), question]


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _reply_buttons(body: str, buttons: list[Button]) -> dict[str, Any]:
    choices = [{"type": "reply", "reply": {"id": b.payload, "title": b.title}} for b in buttons]
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": choices}},
    }


def _list_message(body: str, buttons: list[Button]) -> dict[str, Any]:
    rows = [_row(button) for button in buttons]
    action = {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]}
    return {"type": "interactive", "interactive": {"type": "list", "body": {"text": body}, "action": action}}


def _row(button: Button) -> dict[str, str]:
    if len(button.title) <= ROW_TITLE_LIMIT:
        return {"id": button.payload, "title": button.title}
    short = button.title[: ROW_TITLE_LIMIT - 1].rstrip() + "…"
    return {"id": button.payload, "title": short, "description": button.title[:ROW_DESCRIPTION_LIMIT]}
