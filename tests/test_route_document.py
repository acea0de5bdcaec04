"""The route as a one-page PDF (bot/route_document.py): the longest route the product makes fits on one page with
every step, its instrument and office; a short route is set in larger type; the document says when it was made
and from which knowledge base, and carries nothing about the person but the route. Each PDF is made once here
(WeasyPrint is slow to start) and read back with pypdfium2."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pypdfium2
import pypdfium2.raw as pdfium
import pytest

from bot.domain import load_domain
from bot.replies import Document, Reply, Speaker
from bot.route_document import render_route_pdf
from bot.settings import REPO_ROOT
from knowledge import Diagnosis, KnowledgeBase, diagnose, parse_profile
from knowledge.models import NEEDS
from knowledge.route import RouteStep

MADE_ON = date(2026, 12, 4)
SEARCH_DAYS = (MADE_ON, date(2027, 3, 1), date(2027, 8, 15))


@dataclass(frozen=True)
class Pdf:
    """A PDF made here, read back: its pages, its text (spaces and line breaks as one space) and metadata."""

    data: bytes
    pages: int
    text: str
    metadata: dict[str, str]
    body_size: float  # the type size of the first "Qué hacer"

    @classmethod
    def read(cls, data: bytes) -> Pdf:
        document = pypdfium2.PdfDocument(data)
        texts = [page.get_textpage() for page in document]
        raw = texts[0].get_text_range()
        body = pdfium.FPDFText_GetFontSize(texts[0].raw, raw.index("Qué hacer")) if "Qué hacer" in raw else 0.0
        text = " ".join(" ".join(page.get_text_range() for page in texts).split())
        return cls(data, len(document), text, document.get_metadata_dict(), body)


def _weight(step: RouteStep) -> int:
    """How much a step puts on the page: what the document shows of it."""
    result, office = step.result, step.office
    shown = [result.instrument.name, result.instrument.action, *result.missing, *result.to_confirm]
    if office is not None:
        shown += [str(value or "") for value in (office.name, office.address, office.phone, office.hours, office.web)]
    return sum(map(len, shown))


def _profiles(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """Every commune, need and sector with the other answers unknown (unknown answers make the longest lists to
    confirm), and seeded random profiles."""
    grid = [
        {"commune": commune, "main_need": need, "sector": sector}
        for commune, need, sector in itertools.product(kb.communes, [None, *NEEDS], [None, *kb.sectors])
    ]
    rng = random.Random(20261204)
    answers: dict[str, list[Any]] = {
        "commune": list(kb.communes),
        "sector": list(kb.sectors),
        "operating": [True, False],
        "months_operating": [0, 5, 14, 40, 200],
        "formal": [True, False],
        "workers": [1, 2, 5, 12, 60],
        "monthly_sales_clp": [0, 300_000, 900_000, 4_000_000, 40_000_000],
        "premises": ["none", "home", "separate"],
        "surplus": ["none", "sometimes", "regular"],
        "keeps_records": [True, False],
        "main_need": list(NEEDS),
        "gender": ["female", "male", "other", "undisclosed"],
        "age": [19, 27, 45, 66],
        "rsh_percentile": [40, 60, 90],
    }
    seeded = [{k: rng.choice(v) for k, v in answers.items() if rng.random() < 0.7} for _ in range(300)]
    return grid + seeded


@pytest.fixture(scope="module")
def routes(kb: KnowledgeBase) -> list[Diagnosis]:
    profiles = [parse_profile(data, kb) for data in _profiles(kb)]
    return [diagnose(profile, kb, day) for profile, day in zip(profiles, itertools.cycle(SEARCH_DAYS), strict=False)]


@pytest.fixture(scope="module")
def longest(routes: list[Diagnosis]) -> Diagnosis:
    """The longest route found: the most steps, then the most to show."""
    return max(routes, key=lambda d: (len(d.route), sum(map(_weight, d.route))))


def _most_steps(kb: KnowledgeBase) -> int:
    """The most steps the route rules allow: the entry doors, the places, every prerequisite and required step."""
    doors = sum(1 for instrument in kb.instruments.values() if instrument.entry_door)
    required = {rule.instrument for rule in kb.rules.route_required}
    return doors + kb.rules.route_max_instruments + len(kb.prerequisite_ids | required)


@pytest.fixture(scope="module")
def heaviest(kb: KnowledgeBase, routes: list[Diagnosis], longest: Diagnosis) -> Diagnosis:
    """More than any real route: as many steps as the rules allow, each the heaviest way any instrument was shown."""
    steps: dict[str, RouteStep] = {}
    for step in (step for diagnosis in routes for step in diagnosis.route):
        known = steps.get(step.result.instrument.id)
        if known is None or _weight(step) > _weight(known):
            steps[step.result.instrument.id] = step
    chosen = sorted(steps.values(), key=_weight, reverse=True)[: _most_steps(kb)]
    route = [replace(step, step=number) for number, step in enumerate(chosen, start=1)]
    return replace(longest, route=route, instruments=[step.result for step in route])


def _pdf(diagnosis: Diagnosis, kb: KnowledgeBase) -> Pdf:
    return Pdf.read(render_route_pdf(diagnosis, kb, kb_version=kb.version, made_on=MADE_ON))


@pytest.fixture(scope="module")
def longest_pdf(longest: Diagnosis, kb: KnowledgeBase) -> Pdf:
    return _pdf(longest, kb)


@pytest.fixture(scope="module")
def short(routes: list[Diagnosis]) -> Diagnosis:
    """The shortest route found for a person who said their commune (every step has its office)."""
    located = [diagnosis for diagnosis in routes if diagnosis.profile.commune is not None]
    return min(located, key=lambda d: (len(d.route), sum(map(_weight, d.route))))


@pytest.fixture(scope="module")
def short_reply(short: Diagnosis, kb: KnowledgeBase) -> Reply:
    """The short route as the assistant sends it (Speaker.route_document)."""
    return Speaker(load_domain(REPO_ROOT / "domain.yml"), kb, "html").route_document(short)


def _shows_every_step(pdf: Pdf, diagnosis: Diagnosis, kb: KnowledgeBase) -> None:
    for step in diagnosis.route:
        instrument = step.result.instrument
        agency = kb.agencies[instrument.agency].short_name
        assert f"{step.step}. {instrument.name} ({agency})" in pdf.text
        assert " ".join(instrument.action.split()) in pdf.text
        office = step.office
        assert office is not None and office.name in pdf.text
        for value in (office.address, office.phone, office.hours):
            assert value is None or " ".join(value.split()) in pdf.text


def test_the_longest_route_found_is_one_page_with_every_step_instrument_and_office(
    longest: Diagnosis, longest_pdf: Pdf, kb: KnowledgeBase
) -> None:
    assert len(longest.route) == _most_steps(kb)  # the search reached the longest a route can be
    assert longest_pdf.data.startswith(b"%PDF") and longest_pdf.pages == 1
    _shows_every_step(longest_pdf, longest, kb)
    assert "cosas más (pregúntalas" not in longest_pdf.text  # what must be confirmed is named in full
    for item in (item for step in longest.route for item in [*step.result.missing, *step.result.to_confirm]):
        assert " ".join(item.split()) in longest_pdf.text


def test_the_document_says_when_it_was_made_from_which_knowledge_base_and_the_classification(
    longest_pdf: Pdf, longest: Diagnosis, kb: KnowledgeBase
) -> None:
    text = longest_pdf.text
    assert text.startswith("Tu ruta de apoyo Hecha el 4 de diciembre de 2026")
    assert f"Base de conocimiento versión {kb.version}" in text
    assert "Tu negocio es de " in text and "Etapa: " in text
    assert "Por confirmar: " in text and "Cuándo: " in text and "Dónde: " in text


def test_even_the_heaviest_steps_the_rules_allow_fit_on_one_page_none_left_out(
    heaviest: Diagnosis, kb: KnowledgeBase
) -> None:
    pdf = _pdf(heaviest, kb)
    assert pdf.pages == 1
    _shows_every_step(pdf, heaviest, kb)
    assert "cosas más (pregúntalas en la oficina)" in pdf.text  # the long lists are cut, and say so


def test_a_short_route_is_one_page_in_larger_type(
    short: Diagnosis, short_reply: Reply, longest_pdf: Pdf, kb: KnowledgeBase
) -> None:
    assert short_reply.document is not None
    pdf = Pdf.read(short_reply.document.data)
    assert pdf.pages == 1 and 1 <= len(short.route) <= 3
    assert pdf.body_size > longest_pdf.body_size
    assert f"Hecha el {short.today.day} de " in pdf.text
    _shows_every_step(pdf, short, kb)


def test_the_reply_carries_the_pdf_named_by_the_day_with_its_caption(
    short: Diagnosis, short_reply: Reply, kb: KnowledgeBase
) -> None:
    document = short_reply.document
    assert document is not None and document.data.startswith(b"%PDF")
    assert (document.filename, document.mime) == (f"ruta-{short.today.isoformat()}.pdf", "application/pdf")
    caption = load_domain(REPO_ROOT / "domain.yml").response("utter_route_document").text
    assert short_reply.text == caption and "PDF" in caption
    assert kb.version in Pdf.read(document.data).text


def test_the_document_carries_nothing_about_the_person_but_the_route(longest_pdf: Pdf) -> None:
    metadata = {key: value for key, value in longest_pdf.metadata.items() if value}
    assert metadata.keys() <= {"Title", "Producer"} and metadata["Title"] == "Tu ruta de apoyo"
    for said in ("años", "mujer", "hombre", "Registro Social de Hogares: ", "Tramo"):
        assert said not in longest_pdf.text.replace("Mujer Emprende", "")


def test_a_reply_with_a_document_keeps_it_through_the_outbox_record(short_reply: Reply) -> None:
    record = json.loads(json.dumps(short_reply.to_record()))  # the outbox keeps records as JSON
    assert isinstance(record["document"]["data"], str)
    again = Reply.from_record(record)
    assert again == short_reply and isinstance(again.document, Document)
    assert "document" not in Reply("hola").to_record() and Reply.from_record(Reply("hola").to_record()).document is None


def test_the_chat_json_shape_names_a_document_only_once_saved(short_reply: Reply, tmp_path: Any) -> None:
    assert set(short_reply.to_json()) == {"text", "buttons", "diagnosis"}
    saved = tmp_path / "ruta.pdf"
    assert short_reply.to_json(saved) == {**short_reply.to_json(), "document": str(saved)}
