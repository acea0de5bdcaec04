"""The Rasa backend: a Rasa server's `POST /model/parse`, with the embedded backend as fallback.

Numbers, amounts and durations come from the same parser as the embedded backend (the role Duckling plays
in a Rasa deployment); every other entity and the intent come from Rasa. If Rasa is down, slow or answers
nonsense, that message is parsed by the fallback and the event is logged. A circuit breaker (nlu/breaker.py) stops
waiting on a Rasa that keeps failing: after `breaker_failures` failures in a row every message goes straight to the
fallback, Rasa's `GET /status` is probed in the background every `breaker_cooldown` seconds, and Rasa parses
again once it answers.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from nlu.breaker import CircuitBreaker
from nlu.embedded import EmbeddedNlu
from nlu.entities import numeric_entities
from nlu.parse import EntityDict, NluBackend, ParseDict, parse_payload

__all__ = ["RasaNlu"]

logger = logging.getLogger(__name__)
_NUMERIC = {"number", "money", "duration"}


class RasaNlu:
    """Parses through a Rasa server; falls back to another backend per message."""

    name = "rasa"

    def __init__(
        self,
        url: str,
        timeout: float,
        fallback: NluBackend,
        client: httpx.Client | None = None,
        breaker_failures: int = 3,
        breaker_cooldown: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.status_url = url.rstrip("/") + "/status"
        self.timeout = timeout
        self.fallback = fallback
        self._client = client or httpx.Client(timeout=timeout)
        self.fallbacks = 0
        self.breaker = CircuitBreaker(
            self._status_ok, breaker_failures, breaker_cooldown, server="Rasa", fallback=fallback.name
        )

    @property
    def in_use(self) -> str:
        """The backend parsing free text now: this one, or the fallback while the breaker is open."""
        return self.fallback.name if self.breaker.state == "open" else self.name

    def parse(self, text: str) -> ParseDict:
        payload = parse_payload(text)
        if payload is not None:
            return payload
        if not self.breaker.allow():
            self.fallbacks += 1
            return self.fallback.parse(text)
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
                "Rasa parse failed (%s); using the %s backend",
                _describe(exc),
                self.fallback.name,
                extra={"event": "rasa_parse_failed", "error": type(exc).__name__},
            )
            self.breaker.failed()
            return self.fallback.parse(text)
        self.breaker.succeeded()
        return result

    def _status_ok(self) -> bool:
        """Whether Rasa answers `GET /status` with a JSON object (it answers 409 while no model is loaded).

        Its own short-lived client: the probe runs in the breaker's thread, beside turns using `self._client`."""
        response = httpx.get(self.status_url, timeout=self.timeout)
        return response.status_code == httpx.codes.OK and isinstance(response.json(), dict)

    def close(self) -> None:
        self.breaker.close()
        self._client.close()


def _describe(exc: Exception) -> str:
    """The failure without anything the message could carry (Rasa's answer may echo it): class, and status."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{type(exc).__name__}: HTTP {exc.response.status_code}"
    return type(exc).__name__


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
