"""The lessons as the chat shows them: each lesson in the three formats, the buttons, and the programmes after."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.domain import load_domain
from bot.render import Format, render_lesson, render_lessons_end
from bot.replies import Speaker
from knowledge import KnowledgeBase

DOMAIN = load_domain(Path(__file__).parents[1] / "domain.yml")
FORMATS: tuple[Format, ...] = ("text", "html", "whatsapp")
TODAY = date(2026, 3, 10)
ONE_SCREEN = 1000  # a lesson with its title and what it points to; the text alone is at most 600 characters


class Tags(HTMLParser):
    """The tags of a Telegram HTML message (a stray `<` would be read as one)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(f"/{tag}")


def _tags(message: str) -> Tags:
    parser = Tags()
    parser.feed(message)
    parser.close()
    return parser


def _numbers(kb: KnowledgeBase) -> list[int]:
    return list(range(1, len(kb.lessons.lessons) + 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_lesson_fits_on_a_screen_with_its_number_and_title(kb: KnowledgeBase, fmt: Format) -> None:
    count = len(kb.lessons.lessons)
    for number in _numbers(kb):
        message = render_lesson(kb, number, fmt)
        title = kb.lessons.lessons[number - 1].title
        assert f"Lección {number} de {count} · {title}" in message
        assert len(message) <= ONE_SCREEN, (number, len(message))
        assert "{{" not in message and "b(" not in message
        if fmt == "html":
            tags = _tags(message)
            assert set(tags.tags) <= {"b", "/b"} and tags.tags.count("b") == tags.tags.count("/b")
        else:
            assert "<b>" not in message
        if fmt == "text":
            assert "*" not in message


def test_lesson_two_is_costs_and_prices_with_its_words_in_bold(kb: KnowledgeBase) -> None:
    message = render_lesson(kb, 2, "html")
    assert message.startswith("<b>Lección 2 de 5 · Costos y precios</b>\n\n")
    assert "<b>costos fijos</b>" in message and "<b>costos variables</b>" in message
    assert "*costos fijos*" in render_lesson(kb, 2, "whatsapp")
    assert "Los costos fijos los pagas" in render_lesson(kb, 2, "text")


def test_what_a_lesson_points_to_is_named_from_the_knowledge_base(kb: KnowledgeBase) -> None:
    message = render_lesson(kb, 3, "text")
    assert "👉 Pregúntame por Inicio de actividades en el SII y Capital Semilla Emprende." in message
    assert "📍 Te atienden en Oficina SII Copiapó o Oficina SII Vallenar." in message


def test_a_lessons_own_words_are_escaped_in_html(kb: KnowledgeBase) -> None:
    lesson = kb.lessons.lessons[0].model_copy(update={"text": 'Costos & <i>precios</i> {{ b("a<b & c") }}'})
    path = kb.lessons.model_copy(update={"lessons": [lesson]})
    message = render_lesson(dataclasses.replace(kb, lessons=path), 1, "html")
    assert "Costos &amp; &lt;i&gt;precios&lt;/i&gt; <b>a&lt;b &amp; c</b>" in message
    assert _tags(message).tags == ["b", "/b", "b", "/b"]


def test_there_is_no_lesson_zero_nor_one_past_the_last(kb: KnowledgeBase) -> None:
    for number in (0, len(kb.lessons.lessons) + 1):
        with pytest.raises(ValueError, match="there is no lesson"):
            render_lesson(kb, number, "text")


@pytest.mark.parametrize("fmt", FORMATS)
def test_after_the_last_lesson_come_the_programmes_for_people_starting_with_todays_dates(
    kb: KnowledgeBase, fmt: Format
) -> None:
    message = render_lessons_end(kb, fmt, TODAY)
    for instrument in kb.lessons.instruments:
        assert kb.instruments[instrument].name in message
    assert message.count("📅") == len(kb.lessons.instruments)
    assert "Disponible todo el año." in message  # the Centro de Negocios
    assert re.search(r"suele estar abierta hasta cerca del 1 abr 2026", message)  # Capital Semilla, in March
    assert len(message) < 4096
    if fmt == "html":
        assert set(_tags(message).tags) <= {"b", "/b"}


def test_each_lesson_offers_the_next_but_the_last_which_the_programmes_follow(kb: KnowledgeBase) -> None:
    speaker = Speaker(DOMAIN, kb, "text")
    assert speaker.lesson_count == len(kb.lessons.lessons)
    first = speaker.lesson(1, TODAY)
    assert [(b.title, b.payload) for b in first.buttons] == [
        ("Siguiente", "/next_lesson"),
        ("Volver a mi ruta", "/show_route"),
    ]
    assert first.text.startswith("Lección 1 de")
    assert speaker.lesson(speaker.lesson_count, TODAY).buttons == []
    end = speaker.lessons_end(TODAY)
    assert [(b.title, b.payload) for b in end.buttons] == [("Volver a mi ruta", "/show_route")]
    assert end.text.startswith("Programas para partir")
