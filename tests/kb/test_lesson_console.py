"""Staff list and edit the lessons for people starting in the console, like any other item of the knowledge base."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.kb_console import KnowledgeConsole
from bot.kb_drafts import Drafts
from bot.kb_versions import KnowledgeVersions
from bot.storage import Store
from knowledge.loader import validate_files
from tests.kb.test_console_pages import HeaderGate, _as, _form

LESSON = "/admin/kb/lesson/costos_precios"


@pytest.fixture
def lesson_drafts(tmp_path: Path) -> Drafts:
    versions = KnowledgeVersions(Store(f"sqlite:///{tmp_path / 'kb.sqlite3'}"))
    versions.adopt_package()
    return Drafts(versions)


@pytest.fixture
async def console(lesson_drafts: Drafts):
    app = Starlette(routes=[Mount("/admin", routes=KnowledgeConsole(lesson_drafts, HeaderGate()).routes())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        yield http


async def test_the_lessons_are_listed_by_title(console):
    page = await console.get("/admin/kb/lesson", headers=_as("editor"))
    assert page.status_code == 200
    assert "Lecciones para partir" in page.text and f'href="{LESSON}">Costos y precios</a>' in page.text


async def test_an_editor_changes_a_lessons_text_and_the_file_keeps_its_layout(console, lesson_drafts):
    form = await _form(console, LESSON, "editor")
    assert 'b("costos fijos")' in form["text"][0]
    text = form["text"][0].replace("Tu tiempo también vale.", "Tu tiempo también vale, y mucho.")
    form |= {"text": [text.replace("\n", "\r\n")], "_note": ["más claro"]}  # a browser sends CRLF
    saved = await console.post(LESSON, data=form, headers=_as("editor"), follow_redirects=True)
    assert "Guardado en el borrador (text)" in saved.text
    files = lesson_drafts.files()
    assert "    text: >-\n" in files["lessons.yml"].decode() and "vale, y mucho." in files["lessons.yml"].decode()
    base = validate_files(files)[0]
    assert base is not None and "y mucho" in base.lessons.lessons[1].text


async def test_an_unknown_instrument_and_a_text_too_long_are_shown_beside_their_fields(console, lesson_drafts):
    form = await _form(console, LESSON, "editor")
    form |= {"instruments": ["sercotec_capital_semilla\nnope"]}
    page = await console.post(LESSON, data=form, headers=_as("editor"))
    assert page.status_code == 422
    assert 'class="field invalid" id="field-instruments"' in page.text
    assert "instrumento desconocido «sercotec_capital_semilla»" in page.text
    form = await _form(console, LESSON, "editor")
    form |= {"text": ["Anota cada gasto." * 40]}
    page = await console.post(LESSON, data=form, headers=_as("editor"))
    assert page.status_code == 422 and 'class="field invalid" id="field-text"' in page.text
    assert "el texto tiene 680 caracteres y una lección debe caber en una pantalla, 600 como máximo" in page.text
    assert lesson_drafts.open_draft() is None
