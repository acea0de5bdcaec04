"""The lessons for people starting (knowledge/data/lessons.yml): who they are for, and how bad data is reported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from knowledge import KnowledgeBase
from knowledge.lessons import TEXT_MAX_CHARS, lessons_fit, plain_text
from knowledge.loader import read_directory, validate_files
from knowledge.models import Audience, LessonPath

FILES = read_directory()
PATH = LessonPath.model_validate(yaml.safe_load(FILES["lessons.yml"]))


def test_the_shipped_lessons_are_short_sourced_and_point_to_what_exists(kb: KnowledgeBase) -> None:
    lessons = kb.lessons
    assert 4 <= len(lessons.lessons) <= 5
    assert lessons.audience == Audience(max_age=29, stages=["conception"])
    for lesson in lessons.lessons:
        assert 0 < len(plain_text(lesson.text)) <= TEXT_MAX_CHARS and lesson.sources
        assert set(lesson.instruments) <= set(kb.instruments) and set(lesson.offices) <= set(kb.offices)
    for instrument in lessons.instruments:
        assert "conception" in kb.instruments[instrument].stages, instrument


# -- who the lessons are for: age at most 29, or only an idea (conception) -----------------------------------------

AUDIENCE = [
    ("a 19-year-old who already sells", 19, "initiation", True),
    ("someone of exactly 29 who is growing", 29, "growth", True),
    ("someone of 30 who is growing", 30, "growth", False),
    ("someone of 52 with only an idea", 52, "conception", True),
    ("an unknown age with only an idea", None, "conception", True),
    ("an unknown age, consolidated", None, "consolidation", False),
    ("someone of 45 whose stage is unknown", 45, None, False),
    ("someone of 17 whose stage is unknown", 17, None, True),
]


@pytest.mark.parametrize(("name", "age", "stage", "fits"), AUDIENCE, ids=[case[0] for case in AUDIENCE])
def test_the_lessons_are_offered_to_young_people_and_people_with_only_an_idea(
    name: str, age: int | None, stage: str | None, fits: bool
) -> None:
    path = PATH.model_copy(update={"audience": Audience(max_age=29, stages=["conception"])})
    assert lessons_fit(age, stage, path) is fits


# -- bad data, reported as `file: path.to.field: message` --------------------------------------------------------


def _lesson(lesson_id: str, **update: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        next(item for item in data["lessons"] if item["id"] == lesson_id).update(update)

    return change


def _listed(instruments: list[str]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.update(instruments=instruments)


def _twice(data: dict[str, Any]) -> None:
    data["lessons"].append(dict(data["lessons"][0]))


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "a lesson points to an unknown instrument",
        _lesson("formalizacion", instruments=["sii_inicio_actividades", "nope"]),
        "lessons.yml: lessons.formalizacion.instruments.1: unknown instrument 'nope'",
    ),
    (
        "a lesson points to an unknown office",
        _lesson("donde_preguntar", offices=["municipalidad_fomento"]),
        "lessons.yml: lessons.donde_preguntar.offices.0: unknown office 'municipalidad_fomento'",
    ),
    (
        "an unknown instrument after the lessons",
        _listed(["sercotec_centro_negocios", "semilla"]),
        "lessons.yml: instruments.1: unknown instrument 'semilla'",
    ),
    (
        "an instrument after the lessons that is not for people starting",
        _listed(["sercotec_crece"]),
        "lessons.yml: instruments.0: sercotec_crece is for stages",
    ),
    (
        "a text longer than one screen",
        _lesson("validar_idea", text="Vende un poco. " * 50),
        "lessons.yml: lessons.validar_idea.text: Value error, text has 750 characters; a lesson fits on one screen",
    ),
    (
        "a text with a broken template",
        _lesson("costos_precios", text='Los {{ b("costos fijos") }'),
        "lessons.yml: lessons.costos_precios.text: Value error, text is not a valid template",
    ),
    (
        "a text naming something it cannot use",
        _lesson("costos_precios", text="Tu comuna es {{ commune }}."),
        "lessons.yml: lessons.costos_precios.text: Value error, text uses unknown names (commune)",
    ),
    (
        "a text reaching into Python",
        _lesson("costos_precios", text="{{ b.__class__ }}"),
        "lessons.yml: lessons.costos_precios.text: Value error, text is not a valid template",
    ),
    (
        "a lesson without a title",
        _lesson("fondos", title=None),
        "lessons.yml: lessons.fondos.title: Input should be a valid string",
    ),
    ("the same lesson twice", _twice, "lessons.yml: lessons: Value error, duplicate lesson id validar_idea"),
    ("an audience without an age", lambda data: data["audience"].pop("max_age"), "lessons.yml: audience.max_age"),
]


@pytest.mark.parametrize(("name", "breaks", "expected"), BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_lessons_are_reported_with_their_path(
    name: str, breaks: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = yaml.safe_load(FILES["lessons.yml"])
    breaks(data)
    files = {**FILES, "lessons.yml": yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()}
    base, problems = validate_files(files)
    assert base is None
    assert any(str(problem).startswith(expected) for problem in problems), [str(p) for p in problems]


def test_without_the_lessons_file_the_knowledge_base_is_invalid() -> None:
    files = {name: content for name, content in FILES.items() if name != "lessons.yml"}
    assert [str(problem) for problem in validate_files(files)[1]] == [
        "lessons.yml: cannot read file (No such file or directory)"
    ]


def test_ruta_kb_validate_names_an_unknown_instrument_of_a_lesson(tmp_path: Any) -> None:
    for name, content in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    text = FILES["lessons.yml"].decode().replace("instruments: [sercotec_capital_semilla_emprende]", "instruments: [x]")
    (tmp_path / "lessons.yml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["kb", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "lessons.yml: lessons.fondos.instruments.0: unknown instrument 'x'" in result.output.splitlines()
