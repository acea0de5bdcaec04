"""WhatsApp Cloud API message shapes: what a webhook delivers, and the messages that carry the bot's replies.

Outgoing: plain text (split under 4,096 characters); a closed question with up to 3 short options as reply
buttons; up to 10 options as a list message (titles over 24 characters are shortened, the full title goes in the
row's description); options beyond 10 are named in the text so they can be typed. A button's id is its payload.
A reply's document (the route as a PDF) is uploaded and sent as a document message, the reply's text as its
caption when it fits and there are no buttons; otherwise the text goes first, as above, and the document after.
Incoming: text, a pressed reply button or list row (its id), and everything else (audio, image, sticker,
location, …) as "unsupported"; delivery statuses only as receipts of the bot's own messages (`parse_receipts`).
Reactions and system notices are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from bot.channels.boundary import Checked
from bot.channels.split import split_message, utf16_length
from bot.domain import Button
from bot.replies import Document, Reply

__all__ = ["DocumentMessage", "Inbound", "Outgoing", "messages_for", "parse_receipts", "parse_webhook"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
BUTTON_BODY_LIMIT = 1024
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
MAX_LIST_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LABEL = "Ver opciones"
IGNORED = {"reaction", "system", "ephemeral"}  # not something to answer
RECEIVED = {"sent", "delivered", "read"}  # statuses saying WhatsApp has a message
MORE_OPTIONS = "También puedes escribir: {options}."


@dataclass(frozen=True)
class Inbound:
    """One message from a user: `text` is what they wrote or the id of what they pressed; None = unsupported."""

    user: str
    message_id: str
    text: str | None


Short = Annotated[str, Field(max_length=256)]


class _Body(Checked):
    body: Annotated[str, Field(max_length=TEXT_LIMIT)]


class _Choice(Checked):
    id: Short
    title: Short | None = None


class _Interactive(Checked):
    type: Short
    button_reply: _Choice | None = None
    list_reply: _Choice | None = None


class _TemplateButton(Checked):
    payload: Short | None = None
    text: Short | None = None


class _Message(Checked):
    sender: Annotated[str, Field(alias="from", pattern=r"^[0-9]{1,20}$")]
    id: Annotated[str, Field(min_length=1, max_length=256)]
    type: Short
    text: _Body | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None

    def inbound(self) -> Inbound:
        return Inbound(self.sender, self.id, self._text() or None)

    def _text(self) -> str | None:
        if self.type == "text":
            return self.text.body if self.text else None
        if self.type == "interactive" and self.interactive:
            choice = self.interactive.button_reply or self.interactive.list_reply
            return (choice.id or choice.title) if choice else None
        if self.type == "button" and self.button:  # a quick reply of a template message
            return self.button.payload or self.button.text
        return None


class _Status(Checked):
    status: Short
    biz_opaque_callback_data: Short | None = None


class _Value(Checked):
    messages: list[_Message] = Field(default_factory=list)
    statuses: list[_Status] = Field(default_factory=list)


class _Change(Checked):
    field: Short
    value: dict[str, Any]


class _Entry(Checked):
    changes: list[_Change]


class _Notification(Checked):
    object: Literal["whatsapp_business_account"]
    entry: list[_Entry]


def parse_webhook(payload: Any) -> list[Inbound]:
    """Every user message in a webhook delivery, in order; anything malformed raises ValueError naming the field.

    The sender must be a digit string (a WhatsApp id) and every id and text a string: nothing is turned into
    text with str(), so `"from": 1e30` or `{"body": ["x"]}` is refused, not stored."""
    return [m.inbound() for value in _values(payload) for m in value.messages if m.type not in IGNORED]


def parse_receipts(payload: Any) -> list[str]:
    """The tags (`biz_opaque_callback_data`) of the bot's messages a webhook delivery says WhatsApp has: statuses
    sent, delivered or read (a failed one is not a receipt). Malformed: ValueError, as `parse_webhook`."""
    return [
        status.biz_opaque_callback_data
        for value in _values(payload)
        for status in value.statuses
        if status.status in RECEIVED and status.biz_opaque_callback_data
    ]


def _values(payload: Any) -> list[_Value]:
    """The `messages` changes of a webhook delivery, checked."""
    try:
        notification = _Notification.model_validate(payload)
        return [_Value.model_validate(c.value) for e in notification.entry for c in e.changes if c.field == "messages"]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(".".join(str(part)[:40] for part in first["loc"]) + f": {first['type']}") from None


@dataclass(frozen=True)
class DocumentMessage:
    """A document to upload (`POST /media`), then send as a document message naming the media id it was given."""

    document: Document
    caption: str | None = None

    def message(self, media_id: str) -> dict[str, Any]:
        """The document message (without `to`) once the file is uploaded as `media_id`."""
        document = {"id": media_id, "filename": self.document.filename}
        return {"type": "document", "document": document | ({"caption": self.caption} if self.caption else {})}


Outgoing = dict[str, Any] | DocumentMessage  # a message object, or a document still to upload


def messages_for(reply: Reply) -> list[Outgoing]:
    """The Cloud API message objects (without `to`) that carry one reply."""
    if reply.document is not None:
        if not reply.buttons and utf16_length(reply.text) <= CAPTION_LIMIT:
            return [DocumentMessage(reply.document, reply.text.strip() or None)]
        return [*messages_for(replace(reply, document=None)), DocumentMessage(reply.document)]
    if reply.template:  # a reminder: outside the 24-hour window only an approved template is delivered
        return [_template(reply.template)]
    if not reply.buttons:
        return [_text(part) for part in split_message(reply.text, TEXT_LIMIT)]
    shown, extra = reply.buttons[:MAX_LIST_ROWS], reply.buttons[MAX_LIST_ROWS:]
    text = reply.text + ("\n\n" + MORE_OPTIONS.format(options=", ".join(b.title for b in extra)) if extra else "")
    as_buttons = len(shown) <= MAX_REPLY_BUTTONS and all(len(b.title) <= BUTTON_TITLE_LIMIT for b in shown)
    limit = BUTTON_BODY_LIMIT if as_buttons else TEXT_LIMIT
    *before, body = split_message(text, limit)
    question = _reply_buttons(body, shown) if as_buttons else _list_message(body, shown)
    return [*(_text(part) for part in before), question]


def _template(template: dict[str, Any]) -> dict[str, Any]:
    """A template message: the body's parameters in order, and the payload of its quick-reply button."""
    body = [{"type": "text", "text": str(value)} for value in template["parameters"]]
    components: list[dict[str, Any]] = [{"type": "body", "parameters": body}]
    if template.get("button"):
        payload = [{"type": "payload", "payload": template["button"]}]
        components.append({"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": payload})
    language = {"code": template["language"]}
    return {"type": "template", "template": {"name": template["name"], "language": language, "components": components}}


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
