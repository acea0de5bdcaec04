"""The Rasa backend: a Rasa server's `POST /model/parse`, with the embedded backend as fallback.

Numbers, amounts and durations come from the same parser as the embedded backend (the role Duckling plays
in a Rasa deployment); every other entity and the intent come from Rasa. If Rasa is down, slow or answers
nonsense, that message is parsed by the fallback and the event is logged.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from nlu.embedded import EmbeddedNlu
from nlu.entities import numeric_entities
from nlu.parse import EntityDict, NluBackend, ParseDict, parse_payload

__all__ = ["RasaNlu"]

logger = logging.getLogger(__name__)
_NUMERIC = {"number", "money", "duration"}


class RasaNlu:
    """Parses through a Rasa server; falls back to another backend per message."""

    name = "rasa"

    def __init__(self, url: str, timeout: float, fallback: NluBackend, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.fallback = fallback
        self._client = client or httpx.Client(timeout=timeout)
        self.fallbacks = 0

    def parse(self, text: str) -> ParseDict:
        payload = parse_payload(text)
        if payload is not None:
            return payload
        try:
            response = self._client.post(self.url, json={"text": text})
            response.raise_for_status()
            answer = response.json()
            intent = answer["intent"]
            result = ParseDict(
                text=text,
                intent={"name": str(intent["name"]), "confidence": float(intent["confidence"])},
                entities=_readable(_entities(answer.get("entities", []), text), text, self.fallback),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.fallbacks += 1
            logger.warning(
                "Rasa parse failed (%s: %s); using the %s backend", type(exc).__name__, exc, self.fallback.name
            )
            return self.fallback.parse(text)
        return result

    def close(self) -> None:
        self._client.close()


def _entities(raw: list[dict[str, Any]], text: str) -> list[EntityDict]:
    """Rasa's non-numeric entities plus the number parser's; numeric spans from Rasa are replaced."""
    kept: list[EntityDict] = []
    for item in raw:
        if item.get("entity") in _NUMERIC:
            continue
        entity = EntityDict(
            entity=str(item["entity"]),
            value=item.get("value"),
            start=int(item["start"]),
            end=int(item["end"]),
            extractor=str(item.get("extractor", "rasa")),
        )
        if item.get("role"):
            entity["role"] = str(item["role"])
        kept.append(entity)
    return sorted(kept + numeric_entities(text, kept), key=lambda entity: entity["start"])


def _readable(entities: list[EntityDict], text: str, lexicon: NluBackend) -> list[EntityDict]:
    """Rasa's entities, except that one whose value is no known value of its kind ("repetne" for a surplus, from a
    span DIET cut short) is read again by the embedded gazetteer over the same words, as a lookup table would."""
    if not isinstance(lexicon, EmbeddedNlu):
        return entities
    readings: list[EntityDict] | None = None
    kept: list[EntityDict] = []
    for entity in entities:
        if lexicon.knows(entity["entity"], entity["value"]) is not False:
            kept.append(entity)
            continue
        readings = lexicon.entities(text) if readings is None else readings
        kept += [
            reading
            for reading in readings
            if reading["entity"] == entity["entity"]
            and reading["start"] < entity["end"]
            and entity["start"] < reading["end"]
        ][:1]
    return kept
