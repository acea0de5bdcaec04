"""Weak spots of the embedded NLU seen with real phrasings (issue 9, "NLU quality"), one named case each.

Also the everyday words that collided with gazetteer phrases once accents were stripped or typos forgiven
("unas" read as "uñas", "otras" as "ostras", "la fecha" as "la ficha"): none of them is an entity.
"""

from __future__ import annotations

from typing import Any

import pytest

from nlu.gazetteer import Gazetteer
from nlu.numbers import find_numbers, parse_number
from nlu.parse import NluBackend, normalize
from nlu.training_data import DATA_DIR, load_training_data

# Intents whose training examples annotate no entity: what they say must not read as profile data either.
_NO_ENTITY_INTENTS = frozenset(
    {
        "greet",
        "goodbye",
        "affirm",
        "deny",
        "thank",
        "bot_challenge",
        "out_of_scope",
        "help",
        "privacy",
        "restart",
        "delete_data",
        "dont_know",
    }
)

# (id, message, intent, entity, value): `entity` None means "no entity at all".
WEAK_SPOTS: list[tuple[str, str, str, str | None, Any]] = [
    (
        "deadline-of-corfo-semilla-inicia",
        "¿queda tiempo para el semilla inicia?",
        "ask_deadline",
        "instrument",
        "corfo_semilla_inicia",
    ),
    ("office-hours-of-indap", "¿cuál es el horario de atención de Indap?", "ask_office", "agency", "indap"),
    ("do-not-keep-my-answers", "no quiero que guarden lo que respondí", "delete_data", None, None),
    ("what-can-i-ask", "¿qué puedo preguntarte?", "help", None, None),
    ("start-from-scratch", "quiero partir de cero", "restart", None, None),
    ("unas-is-not-unas", "unas 400 lucas al mes", "inform", "money", 400_000),
]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_training_data(load_training_data([DATA_DIR]))


@pytest.mark.parametrize(
    ("message", "intent", "entity", "value"), [case[1:] for case in WEAK_SPOTS], ids=[case[0] for case in WEAK_SPOTS]
)
def test_weak_spot(embedded_nlu: NluBackend, message: str, intent: str, entity: str | None, value: Any) -> None:
    result = embedded_nlu.parse(message)
    found = [(e["entity"], e["value"]) for e in result["entities"]]
    assert result["intent"]["name"] == intent, result
    if entity is None:
        assert found == [], result
    else:
        assert (entity, value) in found, result


def test_semilla_inicia_is_corfo_not_sercotec(embedded_nlu: NluBackend) -> None:
    found = [(e["entity"], e["value"]) for e in embedded_nlu.parse("¿queda tiempo para el semilla inicia?")["entities"]]
    assert found == [("instrument", "corfo_semilla_inicia")]
    assert ("instrument", "sercotec_capital_semilla_emprende") in [
        (e["entity"], e["value"]) for e in embedded_nlu.parse("cuando cierra el semilla")["entities"]
    ]


def test_unas_lucas_keep_the_sector_untouched(embedded_nlu: NluBackend) -> None:
    for message in ("unas 400 lucas al mes", "unos 3 años", "vendo unas 20 empanadas al dia"):
        sectors = [
            e for e in embedded_nlu.parse(message)["entities"] if e["entity"] == "sector" and e["value"] == "servicios"
        ]
        assert sectors == [], message


@pytest.mark.parametrize("message", ["me hago las uñas", "hago uñas acrílicas", "hago unas acrilicas"])
def test_nails_written_as_such_are_still_a_sector(gazetteer: Gazetteer, message: str) -> None:
    assert [(e["entity"], e["value"]) for e in gazetteer.find(message)] == [("sector", "servicios")]


@pytest.mark.parametrize(
    "word",
    [
        *("unas", "unos", "una", "uno", "las", "los", "otra", "otras", "esta", "todo", "nada"),
        *("copia", "crecer", "persona", "personas", "cuerpo", "libre", "excelente", "caliente"),
        *("ganando", "pesado", "pecado", "contando", "explotar", "palma", "pinera", "urnas", "soldado"),
    ],
)
def test_everyday_words_are_not_entities(gazetteer: Gazetteer, word: str) -> None:
    assert gazetteer.find(word) == []


@pytest.mark.parametrize(
    "message",
    [
        "cuando es la fecha de cierre",  # "la fecha" is not "la ficha"
        "donde venden repuestos",  # "donde venden" is not "donde vender"
        "quiero hacer crecer mi negocio",  # "crecer" is not the Crece programme
        "a veces sobra, otras no",  # "otras" is not "ostras"
        "somos 3 personas",  # "personas" is not the need "personal"
        "piden estar en el registro?",
    ],
)
def test_correct_words_are_not_read_as_typos(gazetteer: Gazetteer, message: str) -> None:
    fuzzy = [e for e in gazetteer.find(message) if normalize(message[e["start"] : e["end"]]) not in gazetteer.phrases]
    assert fuzzy == [], fuzzy


@pytest.mark.parametrize(
    ("message", "value"),
    [
        ("vivo en valenar", "vallenar"),
        ("soy de tierra amarila", "tierra_amarilla"),
        ("cuando cierra el capital semila", "sercotec_capital_semilla_emprende"),
        ("vendo en chanaral", "chanaral"),
    ],
)
def test_real_typos_are_still_forgiven(gazetteer: Gazetteer, message: str, value: str) -> None:
    assert value in [e["value"] for e in gazetteer.find(message)]


def test_entity_free_intents_hold_no_collision(gazetteer: Gazetteer) -> None:
    """Over every training example of an intent without entities, a hit is an exact domain phrase (e.g. the
    "maquina" of "eres una maquina", which is a need elsewhere), never a typo correction or a function word."""
    bad = []
    for example in load_training_data([DATA_DIR]).examples:
        if example.intent not in _NO_ENTITY_INTENTS:
            continue
        for hit in gazetteer.find(example.text):
            surface = normalize(example.text[hit["start"] : hit["end"]])
            if surface not in gazetteer.phrases:
                bad.append((example.text, surface, hit["value"]))
    assert bad == []


@pytest.mark.parametrize(
    "message",
    ["quiero partir de cero", "empezar desde 0", "partamos de cero otra vez", "mil gracias", "mil disculpas"],
)
def test_idioms_are_not_numbers(message: str) -> None:
    assert find_numbers(message) == []


@pytest.mark.parametrize(
    ("message", "entity", "value"),
    [
        ("cero", "number", 0),
        ("de cero a diez", "number", 0),
        ("tengo cero trabajadores", "number", 0),
        ("mil pesos", "money", 1000),
        ("vendo mil al dia", "money", 1000),
        ("hace un mes", "duration", 1),
    ],
)
def test_numbers_next_to_the_idioms_still_count(message: str, entity: str, value: int) -> None:
    first = find_numbers(message)[0]
    assert (first.entity, first.value) == (entity, value)


def test_the_period_of_a_rate_is_not_a_time_in_business() -> None:
    assert [(m.entity, m.value) for m in find_numbers("en un mes saco unas 500 lucas")] == [("money", 500_000)]
    assert [(m.entity, m.value) for m in find_numbers("cada una semana vendo 100 lucas")] == [("money", 100_000)]
    assert parse_number("cero") == 0
