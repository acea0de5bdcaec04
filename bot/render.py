"""Render diagnoses with the Jinja2 templates in `bot/templates` (plain text, Telegram HTML or WhatsApp)."""

from __future__ import annotations

import html
from datetime import date
from functools import cache, lru_cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, nodes
from markupsafe import Markup

from knowledge import Diagnosis, KnowledgeBase
from knowledge.lessons import text_sandbox
from knowledge.models import Agency, Instrument, Office
from knowledge.reminders import CallEvent
from knowledge.route import instrument_card, schedule_on

__all__ = [
    "Format",
    "render_answer",
    "render_diagnosis",
    "render_lesson",
    "render_lessons_end",
    "render_reminder",
    "render_route_page",
    "render_template",
]

Format = Literal["text", "html", "whatsapp"]  # whatsapp: plain text with *bold*


@cache
def _environment(fmt: Format) -> Environment:
    """One environment per format: HTML escapes every value, plain text escapes nothing."""
    return Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=fmt == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        extensions=["jinja2.ext.do"],
    )


def render_diagnosis(diagnosis: Diagnosis, kb: KnowledgeBase, fmt: Format = "text") -> str:
    """The diagnosis and route as one message in plain Chilean Spanish."""
    template = _environment(fmt).get_template(f"diagnosis.{'html' if fmt == 'html' else 'txt'}.j2")
    return (
        template.render(
            fmt=fmt,
            d=diagnosis.to_dict(),
            instruments=kb.instruments,
            agencies=kb.agencies,
            communes=kb.communes,
            sectors=kb.sectors,
            profile=diagnosis.profile,
        ).strip()
        + "\n"
    )


def render_route_page(
    diagnosis: Diagnosis, kb: KnowledgeBase, *, kb_version: str, made_on: date, size: float, cap: int | None
) -> str:
    """The route as the HTML page of its PDF (`templates/route_document.html.j2`): body type of `size` points,
    lists cut to `cap` items (None: all)."""
    template = _environment("html").get_template("route_document.html.j2")
    context = {"d": diagnosis.to_dict(), "agencies": kb.agencies, "kb_version": kb_version, "size": size, "cap": cap}
    return template.render(fmt="html", made_on=made_on.isoformat(), **context)


def render_template(name: str, fmt: Format, **context: object) -> str:
    """Any template of `bot/templates` in `fmt` (given to it as `fmt`), trimmed, ending in one newline."""
    return _environment(fmt).get_template(name).render(fmt=fmt, **context).strip() + "\n"


def render_answer(kind: str, kb: KnowledgeBase, fmt: Format, **context: object) -> str:
    """An answer to a question about an instrument, a deadline, an office or a word (`templates/answer.j2`)."""
    template = _environment(fmt).get_template("answer.j2")
    return template.render(fmt=fmt, kind=kind, agencies=kb.agencies, **context).strip() + "\n"


def render_reminder(
    event: CallEvent, instrument: Instrument, agency: Agency, office: Office | None, fmt: Format
) -> dict[str, str]:
    """A reminder of a call (`templates/reminder.j2`): the whole `message`, and its pieces on one line each
    (`program`, `event`, `where`), the parameters of the WhatsApp template that carries it."""
    module: Any = _environment(fmt).get_template("reminder.j2").make_module({"fmt": fmt})  # its macros
    pieces = {
        "program": module.program(instrument, agency),
        "event": module.event(event),
        "where": module.where(office),
    }
    message = str(module.message(event, instrument, agency, office)).strip()
    return {"message": message} | {name: " ".join(str(text).split()) for name, text in pieces.items()}


def render_lesson(kb: KnowledgeBase, number: int, fmt: Format) -> str:
    """Lesson `number` (1-based) of the lessons for people starting, with what it points to (`templates/lesson.j2`)."""
    lessons = kb.lessons.lessons
    if not 1 <= number <= len(lessons):
        raise ValueError(f"there is no lesson {number}: lessons go from 1 to {len(lessons)}")
    lesson = lessons[number - 1]
    return _render_lessons(
        fmt,
        kind="lesson",
        number=number,
        count=len(lessons),
        lesson=lesson,
        text=_lesson_text(lesson.text, fmt),
        instruments=[kb.instruments[instrument] for instrument in lesson.instruments],
        offices=[kb.offices[office] for office in lesson.offices],
    )


def render_lessons_end(kb: KnowledgeBase, fmt: Format, today: date) -> str:
    """After the last lesson: the instruments meant for people starting, with their dates relative to `today`."""
    chosen = [kb.instruments[instrument] for instrument in kb.lessons.instruments]
    cards = [instrument_card(instrument, schedule_on(instrument, kb, today), None) for instrument in chosen]
    return _render_lessons(fmt, kind="end", cards=cards, instruments=kb.instruments, agencies=kb.agencies)


def _render_lessons(fmt: Format, **context: object) -> str:
    return _environment(fmt).get_template("lesson.j2").render(fmt=fmt, **context).strip() + "\n"


def _lesson_text(source: str, fmt: Format) -> str:
    """A lesson's text (staff-written, sandboxed) with its `b(...)` words made to stand out, HTML escaped; each of
    its lines is a paragraph."""
    rendered = _lesson_template(source, fmt).render(b=_macros(fmt).b)
    text = "\n\n".join(line.strip() for line in rendered.splitlines() if line.strip())
    return Markup(text) if fmt == "html" else text


@cache
def _macros(fmt: Format) -> Any:
    return _environment(fmt).get_template("_macros.j2").make_module({"fmt": fmt})


@lru_cache(maxsize=128)
def _lesson_template(source: str, fmt: Format) -> Template:
    """The text compiled in the sandbox; for HTML its own words are escaped like any value shown."""
    environment = text_sandbox(autoescape=fmt == "html")
    tree = environment.parse(source)
    if fmt == "html":
        for data in tree.find_all(nodes.TemplateData):
            data.data = html.escape(data.data, quote=False)
    return environment.from_string(tree)
