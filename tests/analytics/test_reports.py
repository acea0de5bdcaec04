"""Reports over seeded synthetic diagnoses: totals, suppression, well-formed HTML, PDF pages that render."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pypdfium2
import pytest

from bot.analytics.reports import ReportInput, render_report, write_report
from bot.analytics.rules import load_analytics_rules
from tests.analytics.synthetic import synthetic_rows
from tests.ruta_process import run_ruta

VOID = {"meta", "br", "img", "hr", "link", "input", "path", "rect", "circle", "line", "polyline", "use", "stop"}


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def _well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    assert parser.errors == [] and parser.open == []


@pytest.fixture(scope="module")
def data(kb) -> ReportInput:
    return ReportInput(
        synthetic_rows(kb, 3000), kb, load_analytics_rules(), None, None, datetime(2026, 11, 23, tzinfo=UTC)
    )


@pytest.mark.parametrize("kind", ["gender", "matrix", "map", "progress"])
def test_every_report_is_well_formed_and_states_period_data_date_and_kb_version(data, kind):
    page = render_report(kind, data)
    _well_formed(page)
    assert "Periodo: 2026-01-05 a 2026-10-1" in page
    assert "Datos leídos: 2026-11-23 00:00 UTC" in page
    assert f"versión {data.kb.version}" in page


def test_gender_totals_add_up(data):
    page = render_report("gender", data)
    women = sum(row["gender"] == "female" for row in data.rows)
    men = sum(row["gender"] == "male" for row in data.rows)
    assert f"Mujeres: <b>{women}</b> · Hombres: <b>{men}</b>" in page
    assert page.count(f'<th class="n">{women}</th>') >= 4  # segment, stage, sector, province totals


def test_small_cells_are_suppressed_in_the_gender_report(data):
    few = [dict(row, sector="transporte") for row in data.rows if row["gender"] == "female"][:3]
    rows = [row for row in data.rows if row["sector"] != "transporte"] + few
    page = render_report("gender", ReportInput(rows, data.kb, data.rules, None, None, data.read_at))
    transport = re.search(r"<td>Transporte</td>(.*?)</tr>", page, re.S)
    assert transport is not None and "&lt;5" in transport.group(1) and ">3<" not in transport.group(1)


def test_the_map_shows_every_commune_with_its_count(data):
    page = render_report("map", data)
    for commune in data.kb.communes.values():
        count = sum(row["commune"] == commune.id for row in data.rows)
        assert f">{commune.name}</text>" in page and f"n = {count}</text>" in page
    assert "Fomento a la Pequeña Minería ENAMI" in page  # an instrument of a sector with potential


def test_progress_indicators(data):
    phases = {"consent": 40, "form": 100, "done": 300}
    page = render_report("progress", ReportInput(data.rows, data.kb, data.rules, None, None, data.read_at, phases))
    women = sum(row["gender"] == "female" for row in data.rows)
    assert f'>{len(data.rows)}</div><div class="l">Diagnósticos terminados' in page
    assert f'>{women / len(data.rows):.0%}</div><div class="l">Mujeres' in page
    assert '>75%</div><div class="l">Tasa de término' in page  # 300 of the 400 that consented
    assert "<svg" in page


def test_the_matrix_lists_every_instrument_and_fits_one_page(data, tmp_path):
    page = render_report("matrix", data)
    assert all(i.name.split(" (")[0] in page for i in data.kb.instruments.values())
    out = tmp_path / "matrix.pdf"
    write_report("matrix", out, data)
    assert len(pypdfium2.PdfDocument(out)) == 1


def test_the_gender_pdf_renders_to_png_pages(data, tmp_path):
    out = tmp_path / "gender.pdf"
    write_report("gender", out, data)
    pdf = pypdfium2.PdfDocument(out)
    assert 1 < len(pdf) <= 5
    for number in range(len(pdf)):
        image = pdf[number].render(scale=0.5).to_pil()
        image.save(tmp_path / f"page-{number}.png")
        assert image.getextrema() != ((255, 255), (255, 255), (255, 255))  # not blank


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gender", "--out", "x.docx"], "--out"),
        (["gender", "--out", "x.html", "--since", "2026-05-01", "--until", "2026-04-01"], "--since"),
        (["mapa", "--out", "x.html"], "KIND"),
        (["progress"], "--out"),
    ],
)
def test_bad_report_options_exit_2(tmp_path, args, message):
    result = run_ruta(tmp_path, "report", *args)
    assert result.returncode == 2 and message in result.stderr


def test_report_all_writes_the_four_pdfs_reading_the_data_once(tmp_path, kb):
    from bot.storage import Store
    from tests.analytics.synthetic import add_synthetic_diagnoses

    add_synthetic_diagnoses(Store(f"sqlite:///{tmp_path / 'ruta.sqlite3'}"), kb, 300)
    result = run_ruta(tmp_path, "report", "all", "--out", str(tmp_path / "out"), RUTA_RETENTION_MONTHS="0")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "gender.pdf",
        "map.pdf",
        "matrix.pdf",
        "progress.pdf",
    ]
    assert all(len(pypdfium2.PdfDocument(p)) >= 1 for p in (tmp_path / "out").iterdir())
