"""Entities shared by every backend: numbers, amounts and durations from the number parser."""

from __future__ import annotations

from nlu.numbers import find_numbers
from nlu.parse import EntityDict

__all__ = ["numeric_entities"]


def numeric_entities(text: str, taken: list[EntityDict]) -> list[EntityDict]:
    """Numbers, money and durations in `text` that do not overlap an entity already `taken`."""
    found: list[EntityDict] = []
    for match in find_numbers(text):
        if any(other["start"] < match.end and match.start < other["end"] for other in taken):
            continue
        entity = EntityDict(entity=match.entity, value=match.value, start=match.start, end=match.end)
        entity["extractor"] = "numbers"
        if match.role:
            entity["role"] = match.role
        found.append(entity)
    return found
