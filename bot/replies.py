"""What the assistant sends back: text, buttons and, once, the diagnosis; built from domain responses and templates."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.domain import Button, Domain
from bot.render import Format, render_answer, render_diagnosis, render_lesson, render_lessons_end
from bot.route_document import render_route_pdf
from knowledge import Diagnosis, KnowledgeBase

__all__ = ["NEXT_LESSON", "Document", "Reply", "Speaker"]

NEXT_LESSON = "/next_lesson"  # the payload of the "Siguiente" button of `utter_lesson_buttons`


@dataclass(frozen=True)
class Document:
    """A file sent with a reply (the route as a PDF); in a record its bytes are base64 text."""

    filename: str
    mime: str
    data: bytes

    def to_record(self) -> dict[str, str]:
        return {"filename": self.filename, "mime": self.mime, "data": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Document:
        return cls(str(record["filename"]), str(record["mime"]), base64.b64decode(record["data"], validate=True))


@dataclass(frozen=True)
class Reply:
    """One message to the user. `buttons` are the choices of a closed question."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    diagnosis: dict[str, Any] | None = None
    template: dict[str, Any] | None = None  # a reminder: the WhatsApp template that carries it (bot/reminders.py)
    document: Document | None = None  # a file sent with the text (the route as a PDF: Speaker.route_document)

    def to_json(self, saved: Path | None = None) -> dict[str, Any]:
        """The `ruta chat --json` shape: {"text", "buttons": [titles], "diagnosis"}, and "document": the path where
        the console `saved` the reply's document, if it did."""
        shape = {"text": self.text, "buttons": [button.title for button in self.buttons], "diagnosis": self.diagnosis}
        return shape | ({"document": str(saved)} if saved is not None else {})

    def to_record(self) -> dict[str, Any]:
        """All of the reply, as kept in the outbox until it is delivered."""
        buttons = [button.model_dump() for button in self.buttons]
        record = {"text": self.text, "buttons": buttons, "diagnosis": self.diagnosis}
        record |= {"template": self.template} if self.template else {}
        return record | ({"document": self.document.to_record()} if self.document else {})

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Reply:
        buttons = [Button.model_validate(button) for button in record.get("buttons", [])]
        document = Document.from_record(record["document"]) if record.get("document") else None
        return cls(str(record["text"]), buttons, record.get("diagnosis"), record.get("template"), document=document)


class Speaker:
    """Turns response ids and knowledge into replies in one format (plain text or Telegram HTML)."""

    def __init__(self, domain: Domain, kb: KnowledgeBase, fmt: Format) -> None:
        self.domain = domain
        self.kb = kb
        self.fmt = fmt

    def say(self, name: str, /, buttons_from: str | None = None, emphasis: Iterable[str] = (), **values: str) -> Reply:
        """Response `name` with its `{placeholders}` filled (those in `emphasis` stand out); with the buttons of
        `buttons_from` (or its own) for closed questions."""
        response = self.domain.response(name)
        buttons = self.domain.response(buttons_from).buttons if buttons_from else response.buttons
        text = self._escape(response.text)
        if values:
            marked = set(emphasis)
            text = text.format_map(
                {
                    key: self._bold(self._escape(value)) if key in marked else self._escape(value)
                    for key, value in values.items()
                }
            )
        return Reply(text, list(buttons))

    def _escape(self, text: str) -> str:
        return html.escape(text, quote=False) if self.fmt == "html" else text

    def _bold(self, text: str) -> str:
        return {"html": f"<b>{text}</b>", "whatsapp": f"*{text}*"}.get(self.fmt, f"«{text}»")

    def ask(self, slot: str, attempt: int, max_reasks: int) -> Reply:
        """The question for `slot`: first as asked, then once with an example, then 'choose an option'."""
        question = f"utter_ask_{slot}"
        if attempt == 0:
            return self.say(question)
        if attempt <= max_reasks and f"utter_reask_{slot}" in self.domain.responses:
            return self.say(f"utter_reask_{slot}", buttons_from=question)
        return self.say("utter_choose_option", buttons_from=question)

    def diagnosis(self, diagnosis: Diagnosis) -> Reply:
        return Reply(render_diagnosis(diagnosis, self.kb, self.fmt).strip(), [], diagnosis.to_dict())

    def answer(self, kind: str, today: date, **context: Any) -> Reply:
        return Reply(render_answer(kind, self.kb, self.fmt, today=today, **context).strip())

    def route_document(self, diagnosis: Diagnosis) -> Reply:
        """The route as a one-page PDF (bot/route_document.py), made on the diagnosis's day, with its caption."""
        made_on = diagnosis.today
        pdf = render_route_pdf(diagnosis, self.kb, kb_version=self.kb.version, made_on=made_on)
        document = Document(f"ruta-{made_on.isoformat()}.pdf", "application/pdf", pdf)
        caption = self.say("utter_route_document")
        return Reply(caption.text, caption.buttons, document=document)

    # -- lessons for people starting (knowledge/data/lessons.yml) ----------------------------------------------

    @property
    def lesson_count(self) -> int:
        return len(self.kb.lessons.lessons)

    def lesson(self, number: int, today: date) -> Reply:
        """Lesson `number` (1 to `lesson_count`) with the buttons of `utter_lesson_buttons`; the last has none,
        as `lessons_end` follows it. The lessons carry no dates: `today` is taken for symmetry with lessons_end."""
        last = number == self.lesson_count
        return Reply(render_lesson(self.kb, number, self.fmt).strip(), [] if last else self._lesson_buttons())

    def lessons_end(self, today: date) -> Reply:
        """After the last lesson: the instruments meant for people starting, with today's dates, and the way back."""
        buttons = [button for button in self._lesson_buttons() if button.payload != NEXT_LESSON]
        return Reply(render_lessons_end(self.kb, self.fmt, today).strip(), buttons)

    def _lesson_buttons(self) -> list[Button]:
        return list(self.domain.response("utter_lesson_buttons").buttons)
