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

__all__ = ["Extraction", "extract_slots"]


@dataclass
class Extraction:
    """Valid values found, and values found but refused (outside the accepted range or values)."""

    values: dict[str, Any] = field(default_factory=dict)
    invalid: dict[str, Any] = field(default_factory=dict)


def _conditions_hold(mapping: SlotMapping, active_loop: str | None, requested: str | None) -> bool:
    if not mapping.conditions:
        return True
    return any(
        c.active_loop == active_loop and (c.requested_slot is None or c.requested_slot == requested)
        for c in mapping.conditions
    )


def _mapped_value(mapping: SlotMapping, intent: str, entities: list[EntityDict]) -> tuple[bool, Any, str | None]:
    """(found, value, entity type it came from)."""
    if mapping.type == "from_intent":
        intents = [mapping.intent] if isinstance(mapping.intent, str) else mapping.intent or []
        return (intent in intents, mapping.value, None)
    if mapping.type == "from_entity":
        for entity in entities:
            if entity["entity"] == mapping.entity and entity.get("role") == mapping.role:
                return True, entity["value"], entity["entity"]
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
    except ValueError:
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
            matched, raw, source = _mapped_value(mapping, intent, parse["entities"])
            if not matched:
                continue
            valid, value = _normalise(name, slot, raw, source, rules)
            if valid:
                found.values[name] = value
            else:
                found.invalid[name] = raw
            break
    return found
