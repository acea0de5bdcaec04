"""Lessons for young people and people with only an idea (regional plan, item e): who they are for, and what a
lesson's text may hold.

A lesson's `text` is plain Spanish that may use one Jinja2 helper, `{{ b("costos fijos") }}`, to make words stand
out (bold on Telegram and WhatsApp). The text is staff-editable data, so it is checked here when the knowledge
base is loaded (syntax, names, length once rendered) and rendered by the bot in a sandbox.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from knowledge.models import LessonPath, Stage

__all__ = ["TEXT_MAX_CHARS", "TEXT_NAMES", "lessons_fit", "plain_text", "text_sandbox"]

TEXT_MAX_CHARS = 600
"""A lesson's text, as read (without markup), fits on one phone screen."""
TEXT_NAMES = frozenset({"b"})
"""What a lesson's text may call: `b(text)`, the words made to stand out."""


def lessons_fit(profile_age: int | None, stage: Stage | str | None, path: LessonPath) -> bool:
    """Whether the lessons are meant for this person: young enough (age ≤ `max_age`) or at one of the stages.

    `stage` is a stage id (a diagnosis's `stage.value`); None or an unknown age counts as not fitting that part."""
    young = profile_age is not None and profile_age <= path.audience.max_age
    return young or stage in path.audience.stages


@cache
def text_sandbox(autoescape: bool = False) -> SandboxedEnvironment:
    """The environment a lesson's text is compiled in: sandboxed (staff write it), every name required."""
    return SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)


def plain_text(text: str) -> str:
    """The text as a person reads it (emphasis dropped); ValueError saying what is wrong with its template."""
    environment = text_sandbox()
    try:
        unknown = meta.find_undeclared_variables(environment.parse(text)) - TEXT_NAMES
        plain = "" if unknown else environment.from_string(text).render(b=str)
    except (TemplateError, TypeError) as exc:
        detail = exc.message if isinstance(exc, TemplateError) else str(exc)
        raise ValueError(f"text is not a valid template: {detail}") from None
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValueError(f'text uses unknown names ({names}): only {{{{ b("...") }}}} is allowed')
    return plain
