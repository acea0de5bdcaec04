"""The result of parsing one message, in the shape of Rasa's `/model/parse`, and shared helpers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Protocol, TypedDict

from nlu.bounded_json import JsonRefused, loads_bounded

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


_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]{1,64})(?P<entities>\{.*\})?\s*$", re.DOTALL)
# A payload is flat by contract: `{"entity": value}` with short names and scalar values (a button's data).
PAYLOAD_MAX_BYTES = 1024
_ENTITY_NAME = re.compile(r"^[a-z_]{1,64}$")
_SCALARS = (str, int, float, bool, type(None))


def parse_payload(text: str) -> ParseDict | None:
    """A button payload (`/intent` or `/intent{"entity": "value"}`) parsed exactly, as Rasa does; else None.

    Anything else that starts like one (nested values, lists, long or odd names, deep or huge JSON) is not a
    payload: it is None here, and the message is read as text."""
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    entities: list[EntityDict] = []
    if match.group("entities"):
        values = _payload_entities(match.group("entities"))
        if values is None:
            return None
        entities = [EntityDict(entity=k, value=v, start=0, end=len(text), extractor="payload") for k, v in values]
    return ParseDict(text=text, intent=IntentDict(name=match.group("intent"), confidence=1.0), entities=entities)


def _payload_entities(raw: str) -> list[tuple[str, Any]] | None:
    """The (entity, value) pairs of a payload's JSON object, or None unless it is a flat object of scalars."""
    try:
        values = loads_bounded(raw, max_bytes=PAYLOAD_MAX_BYTES, max_depth=1)
    except JsonRefused:
        return None
    if not isinstance(values, dict):
        return None
    if not all(_ENTITY_NAME.match(key) and isinstance(value, _SCALARS) for key, value in values.items()):
        return None
    return list(values.items())


def normalize(text: str) -> str:
    """Lowercase without accents, one character for each character of `text` (offsets are preserved)."""
    if text.isascii():
        return text.lower()
    return "".join(unicodedata.normalize("NFD", char)[0].lower()[0] for char in text)
