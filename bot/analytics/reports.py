"""`ruta report`: the plan's reports as print-ready HTML (Jinja2) or PDF (WeasyPrint), from anonymised data.

Each report states its period, when its data was read and the knowledge base's version. Tables by gender
suppress small cells (tables.py); the matrix comes from the knowledge base alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.analytics.charts import grouped_bars, weekly_line
from bot.analytics.records import read_rows, start_of
from bot.analytics.rules import AnalyticsRules, load_analytics_rules
from bot.analytics.tables import CrossTab, crosstab
from bot.storage import Store
from knowledge import KnowledgeBase
from knowledge.models import AREAS, SEGMENTS, STAGES

__all__ = ["REPORTS", "ReportInput", "render_report", "write_report"]

LABELS_PATH = Path(__file__).with_name("labels.yml")
MAP_LAYOUT_PATH = Path(__file__).with_name("map_layout.yml")
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
    phases: dict[str, int] = field(default_factory=dict)  # conversations by phase (completion rate)
    with_data: bool = True  # False: a report from the knowledge base alone

    def header(self, title: str) -> dict[str, Any]:
        days = sorted(row["date"] for row in self.rows)
        return {
            "title": title,
            "period": None
            if not self.with_data
            else (
                self.since.isoformat() if self.since else (days[0] if days else "—"),
                self.until.isoformat() if self.until else (days[-1] if days else "—"),
            ),
            "read_at": self.read_at.strftime("%Y-%m-%d %H:%M UTC"),
            "kb_version": self.kb.version,
            "people": len(self.rows) if self.with_data else None,
            "min_cell": self.rules.min_cell,
        }


@cache
def labels() -> dict[str, dict[str, str]]:
    return dict(yaml.safe_load(LABELS_PATH.read_text(encoding="utf-8")))


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("bot", "templates/reports"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["small_cell"] = small_cell
    return environment


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


def small_cell(n: int, k: int) -> str:
    """A count as published: "<k" when it is under k people (zero is shown: it singles nobody out)."""
    return str(n) if n >= k or n == 0 else f"<{k}"


def map_context(data: ReportInput) -> dict[str, Any]:
    """Item (a): per commune, sectors and their potential, needs, opportunities, instruments, diagnoses."""
    k = data.rules.min_cell
    kb = data.kb
    counts = Counter(row["commune"] for row in data.rows)
    most = max(counts.values(), default=0)
    communes_map = {
        commune.id: {
            "name": commune.name,
            "count": small_cell(counts[commune.id], k),
            "fill": _shade(counts[commune.id] / most if most and counts[commune.id] >= k else 0.0),
        }
        for commune in kb.communes.values()
    }
    by_sector = Counter((row["commune"], row["sector"]) for row in data.rows)
    sector_instruments: dict[str, list[str]] = {}
    for instrument in kb.instruments.values():
        for sector in kb.sectors_served(instrument.id):
            sector_instruments.setdefault(sector, []).append(instrument.name.split(" (")[0])
    return {
        **data.header("Mapa territorial de oportunidades de emprender"),
        "layout": _map_layout(),
        "communes_map": communes_map,
        "communes": list(kb.communes.values()),
        "sector_names": {key: sector.name for key, sector in kb.sectors.items()},
        "sector_instruments": sector_instruments,
        "diagnoses_by_sector": {
            c: [
                (kb.sectors[s].name, n)
                for (cc, s), n in by_sector.most_common()
                if cc == c and n >= k and s in kb.sectors
            ]
            for c in kb.communes
        },
    }


def _shade(level: float) -> str:
    """White to the report's blue, by `level` in 0..1."""
    low, high = (255, 255, 255), (122, 163, 204)
    return "#" + "".join(f"{round(a + (b - a) * level):02x}" for a, b in zip(low, high, strict=True))


@cache
def _map_layout() -> dict[str, Any]:
    return dict(yaml.safe_load(MAP_LAYOUT_PATH.read_text(encoding="utf-8")))


def progress_context(data: ReportInput) -> dict[str, Any]:
    """Item (f): diagnoses per week, completion, routes, instruments, share of women and of young people."""
    rows = data.rows
    weeks = Counter(date.fromisoformat(row["date"]).strftime("%G-S%V") for row in rows)
    started = data.phases.get("form", 0) + data.phases.get("done", 0)
    aged = [row for row in rows if row["age_band"] != data.rules.unknown_label]
    young = data.rules.age_bands[0].label
    routes = Counter(step for row in rows for step in row["route"].split(";") if step)
    percent = "{:.0%}".format
    scorecard = {
        "Personas atendidas": [
            ("Diagnósticos terminados", str(len(rows))),
            ("Mujeres", percent(_share(rows, lambda r: r["gender"] == "female") or 0)),
            (f"Jóvenes ({young})", percent(_share(aged, lambda r: r["age_band"] == young) or 0)),
        ],
        "Proceso": [
            (
                "Tasa de término (aceptaron y llegaron a su ruta)",
                percent(data.phases.get("done", 0) / started) if started else "—",
            ),
            ("Promedio semanal de diagnósticos", f"{len(rows) / len(weeks):.0f}" if weeks else "—"),
        ],
        "Resultados": [
            ("Rutas entregadas", str(sum(bool(row["route"]) for row in rows))),
            ("Instrumentos recomendados (distintos)", str(len(routes))),
            ("Pasos de ruta por persona", f"{sum(routes.values()) / len(rows):.1f}" if rows else "—"),
        ],
        "Base de conocimiento": [
            ("Instrumentos en la base", str(len(data.kb.instruments))),
            ("Convocatorias confirmadas", str(sum(map(len, data.kb.calls.values())))),
        ],
    }
    ordered = sorted(weeks)
    return {
        **data.header("Indicadores de gestión de la ruta del emprendedor"),
        "scorecard": scorecard,
        "weekly_chart": weekly_line(ordered, [weeks[w] for w in ordered], "Diagnósticos") if weeks else "",
        "top_instruments": [
            (data.kb.instruments[i].name, n) for i, n in routes.most_common(10) if i in data.kb.instruments
        ],
    }


KB_ONLY = {"matrix"}
REPORTS: dict[str, Callable[[ReportInput], dict[str, Any]]] = {
    "gender": gender_context,
    "matrix": matrix_context,
    "map": map_context,
    "progress": progress_context,
}


def render_report(kind: str, data: ReportInput) -> str:
    context = REPORTS[kind](data)
    return _environment().get_template(f"{kind}.html.j2").render(labels=labels(), kb=data.kb, **context)


def load_input(store: Store, kb: KnowledgeBase, kind: str, since: date | None, until: date | None) -> ReportInput:
    """The data a report of `kind` needs (the matrix needs only the knowledge base)."""
    rules = load_analytics_rules()
    if kind in KB_ONLY:
        return ReportInput([], kb, rules, since, until, datetime.now(UTC), with_data=False)
    rows = [row for row in read_rows(store, kb, rules, since) if until is None or row["date"] <= until.isoformat()]
    phases = dict(store.conversation_phases(start_of(since)))
    return ReportInput(rows, kb, rules, since, until, datetime.now(UTC), phases)


def write_report(kind: str, out: Path, data: ReportInput) -> None:
    """HTML, or PDF when `out` ends in .pdf."""
    page = render_report(kind, data)
    if out.suffix.lower() == ".pdf":
        from weasyprint import HTML

        HTML(string=page, base_url=str(out.parent)).write_pdf(out)
    else:
        out.write_text(page, encoding="utf-8")
