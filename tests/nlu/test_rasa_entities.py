"""The Rasa backend reads an entity whose value is no known value of its kind with the gazetteer (a span DIET cut
short, "repetne" for "de repetne"), keeps the values Rasa knows, and drops what neither knows."""

from __future__ import annotations

from typing import Any

import httpx

from nlu.parse import NluBackend
from nlu.rasa_backend import RasaNlu


def _rasa_answering(entities: list[dict[str, Any]]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"intent": {"name": "inform", "confidence": 0.99}, "entities": entities})

    return httpx.Client(transport=httpx.MockTransport(answer))


def _parse(embedded_nlu: NluBackend, text: str, entities: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    backend = RasaNlu("http://rasa", 1.0, fallback=embedded_nlu, client=_rasa_answering(entities))
    return [(entity["entity"], entity["value"]) for entity in backend.parse(text)["entities"]]


def test_a_cut_span_is_read_by_the_gazetteer(embedded_nlu):
    cut = [{"entity": "surplus", "value": "repetne", "start": 3, "end": 10}]
    assert _parse(embedded_nlu, "de repetne", cut) == [("surplus", "sometimes")]


def test_known_values_stay_as_rasa_gave_them(embedded_nlu):
    known = [{"entity": "commune", "value": "copiapo", "start": 17, "end": 24}]
    assert _parse(embedded_nlu, "vendo pan en el copiapo", known) == [("commune", "copiapo")]


def test_an_unknown_value_the_gazetteer_cannot_read_is_dropped(embedded_nlu):
    unknown = [{"entity": "commune", "value": "zzz", "start": 0, "end": 3}]
    assert _parse(embedded_nlu, "zzz", unknown) == []
