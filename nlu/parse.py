"""The result of parsing one message, in the shape of Rasa's `/model/parse`, and shared helpers."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Protocol, TypedDict

__all__ = [
    "EntityDict",
    "IntentDict",
    "NluBackend",
    "ParseDict",
    "normalize",
    "parse_payload",
]


class IntentDict(TypedDict):
    name: str
    confidence: float


class _EntityRequired(TypedDict):
    entity: str
    value: Any
    start: int
    end: int


class EntityDict(_EntityRequired, total=False):
    role: str
    extractor: str


class ParseDict(TypedDict):
    text: str
    intent: IntentDict
    entities: list[EntityDict]


class NluBackend(Protocol):
    """Anything that turns a message into intent + entities."""

    name: str

    def parse(self, text: str) -> ParseDict: ...


_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?\s*$", re.DOTALL)


def parse_payload(text: str) -> ParseDict | None:
    """A button payload (`/intent` or `/intent{"entity": "value"}`) parsed exactly, as Rasa does; else None."""
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    entities: list[EntityDict] = []
    if match.group("entities"):
        try:
            values = json.loads(match.group("entities"))
        except json.JSONDecodeError:
            return None
        if not isinstance(values, dict):
            return None
        end = len(text)
        entities = [
            EntityDict(entity=str(k), value=v, start=0, end=end, extractor="payload") for k, v in values.items()
        ]
    return ParseDict(text=text, intent=IntentDict(name=match.group("intent"), confidence=1.0), entities=entities)


def normalize(text: str) -> str:
    """Lowercase without accents, one character for each character of `text` (offsets are preserved)."""
    if text.isascii():
        return text.lower()
    return "".join(unicodedata.normalize("NFD", char)[0].lower()[0] for char in text)
