"""Render diagnoses with the Jinja2 templates in `bot/templates` (plain text, Telegram HTML or WhatsApp)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from knowledge import Diagnosis, KnowledgeBase

__all__ = ["Format", "render_answer", "render_diagnosis"]

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


def render_answer(kind: str, kb: KnowledgeBase, fmt: Format, **context: object) -> str:
    """An answer to a question about an instrument, a deadline, an office or a word (`templates/answer.j2`)."""
    template = _environment(fmt).get_template("answer.j2")
    return template.render(fmt=fmt, kind=kind, agencies=kb.agencies, **context).strip() + "\n"
