"""Which answers of a message the conversation keeps, and how to name an answer when saying what changed.

The rules (see the dialogue README): the question being asked owns the answer; a slot not answered yet takes
any value the message gives; a slot already answered changes only on an explicit correction ("no, somos 4",
"me equivoqué de comuna") or on a message that says only that, confidently, with a value that names its slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bot.dialogue.rules import DialogueRules
from bot.dialogue.slots import Extraction
from bot.domain import Domain
from nlu.parse import ParseDict, normalize, parse_payload

__all__ = ["Accepted", "accept_answers", "answer_label", "is_correction"]

# Entities that do not say which slot they are about: a bare number or a duration (age or time selling?).
_UNNAMED_ENTITIES = frozenset({"number", "duration"})


@dataclass
class Accepted:
    """The values to store, and the slots among them that held another value before (to be said in words)."""

    values: dict[str, Any] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)


def accept_answers(
    slots: dict[str, Any], found: Extraction, parse: ParseDict, requested: str | None, rules: DialogueRules
) -> Accepted:
    """The values of `found` that may be stored over the answers in `slots`."""
    accepted = Accepted()
    answers_question = requested is not None and requested in found.values
    correction = is_correction(parse["text"], tuple(rules.correction_markers))
    for name, value in found.values.items():
        previous = slots.get(name)
        if name == requested or previous is None:
            accepted.values[name] = value
        elif previous != value and (correction or _unambiguous(name, found, parse, answers_question, rules)):
            accepted.values[name] = value
            accepted.changed.append(name)
    return accepted


def _unambiguous(name: str, found: Extraction, parse: ParseDict, answers_question: bool, rules: DialogueRules) -> bool:
    """A message that only names another value for this slot, with a confident intent."""
    source = found.sources.get(name)
    named = source is not None and (source["entity"] not in _UNNAMED_ENTITIES or bool(source.get("role")))
    return (
        named
        and not answers_question
        and len(found.values) == 1
        and parse["intent"]["name"] == "inform"
        and parse["intent"]["confidence"] >= rules.change_min_confidence
    )


def is_correction(text: str, markers: tuple[str, ...]) -> bool:
    """Whether the message says it corrects something ("no, somos 4", "me equivoqué de comuna")."""
    return _markers_pattern(markers).search(normalize(text).strip()) is not None


@cache
def _markers_pattern(markers: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [
        "^" + re.escape(marker[1:]) if marker.startswith("^") else r"(?<!\w)" + re.escape(marker) for marker in markers
    ]
    return re.compile("|".join(alternatives))


def answer_label(slot: str, value: Any, domain: Domain, rules: DialogueRules) -> str:
    """An answer as the person would say it: the button title of a category, a number in its unit."""
    if isinstance(value, bool):
        return rules.bool_names[value]
    if domain.slots[slot].type == "categorical":
        return _button_titles(domain, slot).get(str(value), str(value))
    if isinstance(value, int | float):
        return rules.answer_names[slot].value.format(f"{round(value):,}".replace(",", "."))
    return str(value)


def _button_titles(domain: Domain, slot: str) -> dict[str, str]:
    """Value -> title of the buttons of the question that asks `slot`."""
    titles: dict[str, str] = {}
    question = f"utter_ask_{slot}"
    if question not in domain.responses:
        return titles
    for button in domain.response(question).buttons:
        payload = parse_payload(button.payload)
        for entity in payload["entities"] if payload else []:
            titles.setdefault(str(entity["value"]), button.title)
    return titles
