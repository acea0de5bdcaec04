"""`ruta report`: the plan's reports as print-ready HTML (Jinja2) or PDF (WeasyPrint), from anonymised data.

Each report states its period, when its data was read and the knowledge base's version. Tables by gender
suppress small cells (tables.py); the matrix comes from the knowledge base alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.analytics.charts import grouped_bars
from bot.analytics.records import anonymised_rows
from bot.analytics.rules import AnalyticsRules, load_analytics_rules
from bot.analytics.tables import CrossTab, crosstab
from bot.storage import Store
from knowledge import KnowledgeBase
from knowledge.models import AREAS, SEGMENTS, STAGES

__all__ = ["REPORTS", "ReportInput", "render_report", "write_report"]

LABELS_PATH = Path(__file__).with_name("labels.yml")
GENDERS = ("female", "male")
PROVINCES = ("chanaral", "copiapo", "huasco")  # north to south
Row = dict[str, Any]


@dataclass(frozen=True)
class ReportInput:
    """What every report is made from."""

    rows: list[Row]
    kb: KnowledgeBase
    rules: AnalyticsRules
    since: date | None
    until: date | None
    read_at: datetime

    def header(self, title: str) -> dict[str, Any]:
        days = sorted(row["date"] for row in self.rows)
        return {
            "title": title,
            "period": (
                self.since.isoformat() if self.since else (days[0] if days else "—"),
                self.until.isoformat() if self.until else (days[-1] if days else "—"),
            ),
            "read_at": self.read_at.strftime("%Y-%m-%d %H:%M UTC"),
            "kb_version": self.kb.version,
            "people": len(self.rows),
            "min_cell": self.rules.min_cell,
        }


@cache
def labels() -> dict[str, dict[str, str]]:
    return dict(yaml.safe_load(LABELS_PATH.read_text(encoding="utf-8")))


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("bot", "templates/reports"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _share(rows: list[Row], test: Callable[[Row], bool]) -> float | None:
    return sum(map(test, rows)) / len(rows) if rows else None


def gender_context(data: ReportInput) -> dict[str, Any]:
    """Item (c): women and men by segment, stage, sector and territory; gaps; instruments and eligibility."""
    k = data.rules.min_cell
    order = {"segment": SEGMENTS, "stage": STAGES, "province": PROVINCES}
    tables = {
        field: crosstab(data.rows, field, "gender", GENDERS, k, order.get(field, ()))
        for field in ("segment", "stage", "sector", "province", "commune")
    }
    routes = [
        {"gender": row["gender"], "instrument": step} for row in data.rows for step in row["route"].split(";") if step
    ]
    by_gender = {g: [row for row in data.rows if row["gender"] == g] for g in GENDERS}
    gaps = {
        "Con inicio de actividades (formalizado)": lambda r: r["formal"] is True,
        "Le queda excedente todos los meses": lambda r: r["surplus"] == "regular",
        "Lleva registro de ventas y gastos": lambda r: r["keeps_records"] is True,
    }
    return {
        **data.header("Inserción de la mujer en el emprendimiento"),
        "genders": GENDERS,
        "counts": {g: len(by_gender[g]) for g in GENDERS},
        "others": len(data.rows) - sum(len(v) for v in by_gender.values()),
        "tables": tables,
        "instruments": crosstab(routes, "instrument", "gender", GENDERS, k),
        "gaps": {
            name: {g: _share(by_gender[g], test) if len(by_gender[g]) >= k else None for g in GENDERS}
            for name, test in gaps.items()
        },
        "eligible": {
            g: sum(r["eligible_count"] for r in rows) / len(rows) if len(rows) >= k else None
            for g, rows in by_gender.items()
        },
        "charts": {field: _gender_chart(tables[field], field) for field in ("segment", "stage")},
        "names": {
            "sector": {key: sector.name for key, sector in data.kb.sectors.items()},
            "commune": {key: commune.name for key, commune in data.kb.communes.items()},
            "instrument": {key: instrument.name for key, instrument in data.kb.instruments.items()},
        },
    }


def _gender_chart(table: CrossTab, field: str) -> str:
    names = labels()[field]
    series = {
        labels()["gender"][g]: [None if (c := table.cell(r, g)).share is None else 100 * c.share for r in table.rows]
        for g in table.columns
    }
    return grouped_bars([names.get(str(r), "Sin dato") for r in table.rows], series, "% de cada grupo")


def matrix_context(data: ReportInput) -> dict[str, Any]:
    """Item (d): instruments by area of action (rows) and segment (columns), from the knowledge base."""
    cells = {
        (area, segment): _by_agency(
            [i for i in data.kb.instruments.values() if area in i.areas and segment in i.segments], data.kb
        )
        for area in AREAS
        for segment in SEGMENTS
    }
    return {
        **data.header("Matriz de programas por segmento y área de acción"),
        "areas": AREAS,
        "segments": SEGMENTS,
        "cells": cells,
    }


def _by_agency(instruments: list[Any], kb: KnowledgeBase) -> list[tuple[str, list[str]]]:
    """(agency, short instrument names) pairs, agencies and names sorted: compact enough for one page."""
    grouped: dict[str, list[str]] = {}
    for instrument in instruments:
        grouped.setdefault(kb.agencies[instrument.agency].short_name, []).append(instrument.name.split(" (")[0])
    return [(agency, sorted(names)) for agency, names in sorted(grouped.items())]


REPORTS: dict[str, Callable[[ReportInput], dict[str, Any]]] = {"gender": gender_context, "matrix": matrix_context}


def render_report(kind: str, data: ReportInput) -> str:
    context = REPORTS[kind](data)
    return _environment().get_template(f"{kind}.html.j2").render(labels=labels(), kb=data.kb, **context)


def load_input(store: Store, kb: KnowledgeBase, since: date | None, until: date | None) -> ReportInput:
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC) if since else None
    rules = load_analytics_rules()
    rows = [
        row
        for row in anonymised_rows(store.diagnoses(since=start), kb, rules)
        if until is None or row["date"] <= until.isoformat()
    ]
    return ReportInput(rows, kb, rules, since, until, datetime.now(UTC))


def write_report(kind: str, out: Path, data: ReportInput) -> None:
    """HTML, or PDF when `out` ends in .pdf."""
    page = render_report(kind, data)
    if out.suffix.lower() == ".pdf":
        from weasyprint import HTML

        HTML(string=page, base_url=str(out.parent)).write_pdf(out)
    else:
        out.write_text(page, encoding="utf-8")
