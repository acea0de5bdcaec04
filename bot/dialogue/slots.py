"""Slot values from one parsed message, following the slot mappings of `domain.yml` (Rasa semantics).

A mapping fills its slot when its conditions hold (active form and requested slot) and, for `from_entity`,
when an entity of that type *and role* is present (a mapping without a role only takes entities without
one); `from_intent` gives its fixed value. Values are then normalised and checked against the ranges of
`bot/dialogue.yml`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.rules import DialogueRules
from bot.domain import Domain, Slot, SlotMapping
from nlu.parse import EntityDict, ParseDict

__all__ = ["Extraction", "answer_to_question", "extract_slots"]


@dataclass
class Extraction:
    """Valid values found, and values found but refused (outside the accepted range or values)."""

    values: dict[str, Any] = field(default_factory=dict)
    invalid: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, EntityDict] = field(default_factory=dict)  # the entity each slot's value came from


def _conditions_hold(mapping: SlotMapping, active_loop: str | None, requested: str | None) -> bool:
    if not mapping.conditions:
        return True
    return any(
        c.active_loop == active_loop and (c.requested_slot is None or c.requested_slot == requested)
        for c in mapping.conditions
    )


def _mapped_value(mapping: SlotMapping, intent: str, entities: list[EntityDict]) -> tuple[bool, Any, EntityDict | None]:
    """(found, value, the entity it came from)."""
    if mapping.type == "from_intent":
        intents = [mapping.intent] if isinstance(mapping.intent, str) else mapping.intent or []
        return (intent in intents, mapping.value, None)
    if mapping.type == "from_entity":
        for entity in entities:
            if entity["entity"] == mapping.entity and entity.get("role") == mapping.role:
                return True, entity["value"], entity
    return False, None, None


def _normalise(name: str, slot: Slot, value: Any, source: str | None, rules: DialogueRules) -> tuple[bool, Any]:
    """(valid, value) for one raw slot value."""
    if slot.type == "bool":
        return isinstance(value, bool), value
    if slot.type == "categorical":
        text = str(value)
        return (slot.values is None or text in slot.values), text
    try:
        number = float(str(value).replace(",", "."))
    except (ValueError, OverflowError):
        return False, value
    if name == "monthly_sales_clp" and source == "number" and number < rules.sales_thousands_below:
        number *= 1000
    if name == "rsh_percentile":
        number = next((band for band in rules.rsh_bands if number <= band), math.inf)
    bounds = rules.ranges.get(name)
    if bounds is not None and not bounds.min <= number <= bounds.max:
        return False, value
    return True, round(number)


def extract_slots(
    parse: ParseDict, domain: Domain, rules: DialogueRules, active_loop: str | None, requested: str | None
) -> Extraction:
    """Every slot the message fills, in domain order; the first mapping that matches wins for each slot."""
    intent = parse["intent"]["name"]
    found = Extraction()
    for name, slot in domain.slots.items():
        for mapping in slot.mappings:
            if not _conditions_hold(mapping, active_loop, requested):
                continue
            matched, raw, entity = _mapped_value(mapping, intent, parse["entities"])
            if not matched:
                continue
            _keep(found, name, *_normalise(name, slot, raw, entity["entity"] if entity else None, rules), raw, entity)
            break
    return found


def answer_to_question(
    found: Extraction, parse: ParseDict, domain: Domain, rules: DialogueRules, requested: str | None
) -> Extraction:
    """The pending question owns the answer: an entity that fits the slot asked goes there, whatever its role.

    `54 años` at the age question is a duration for the NLU; it answers the age (54), not the months in
    operation. The entity taken by the question fills no other slot.
    """
    if requested is None or requested in found.values:
        return found
    own_roles = {(m.entity, m.role) for m in domain.slots[requested].mappings if m.role}
    for entity in parse["entities"]:
        divisor = rules.answers_from.get(requested, {}).get(entity["entity"])
        role = entity.get("role")
        if divisor is None or (role and (entity["entity"], role) not in own_roles):  # "somos 4" names its slot
            continue
        raw = _divided(entity["value"], divisor)
        valid, value = _normalise(requested, domain.slots[requested], raw, entity["entity"], rules)
        if raw is None or not valid:  # "hace 5 años" is not an age: leave it to its own slot
            continue
        owned = Extraction(dict(found.values), dict(found.invalid), dict(found.sources))
        for name in [n for n, source in owned.sources.items() if source is entity]:
            owned.values.pop(name, None)
            owned.invalid.pop(name, None)
            owned.sources.pop(name)
        _keep(owned, requested, valid, value, raw, entity)
        return owned
    return found


def _keep(found: Extraction, name: str, valid: bool, value: Any, raw: Any, entity: EntityDict | None) -> None:
    if valid:
        found.values[name] = value
    else:
        found.invalid[name] = raw
    if entity is not None:
        found.sources[name] = entity


def _divided(value: Any, divisor: int) -> Any:
    """`value` in the question's unit (months of a duration / 12 = years), or None when it is not whole."""
    if divisor == 1:
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number // divisor if number % divisor == 0 else None
