"""The diagnosis message: plain Spanish, dates relative to today, offices, HTML escaping."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from bot.render import render_diagnosis
from knowledge import KnowledgeBase, diagnose, parse_profile


def _render(kb: KnowledgeBase, profile: dict[str, Any], today: date, fmt: str = "text") -> str:
    return render_diagnosis(diagnose(parse_profile(profile, kb), kb, today), kb, fmt)  # type: ignore[arg-type]


def test_an_open_deadline_says_the_days_left(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    profile_data.update(formal=True, monthly_sales_clp=1_500_000, main_need="financing")
    text = _render(kb, profile_data, date(2025, 4, 18))
    assert "Crece" in text
    assert "cierra el 30 abr 2025, faltan 12 días" in text


def test_a_deadline_today_says_so(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    profile_data.update(formal=True, monthly_sales_clp=1_500_000)
    assert "cierra hoy, 30 abr 2025" in _render(kb, profile_data, date(2025, 4, 30))


def test_an_estimated_window_is_marked_as_an_estimate(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    profile_data.update(formal=True, monthly_sales_clp=1_500_000)
    text = _render(kb, profile_data, date(2026, 11, 23))
    assert "Próxima vez: desde abril de 2027 (fecha estimada)" in text


def test_reasons_and_what_is_missing_are_explained(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    profile_data.update(formal=False, monthly_sales_clp=1_500_000, main_need="financing")
    text = _render(kb, profile_data, date(2026, 3, 10))
    assert "✅ Cumples: vender entre 200 y 25.000 UF al año" in text
    assert "🔸 Antes necesitas: tener inicio de actividades de primera categoría en el SII" in text
    assert text.index("Inicio de actividades en el SII") < text.index("Crece")


def test_unknown_office_contacts_are_marked_por_confirmar(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    text = _render(kb, profile_data, date(2026, 3, 10))
    assert "Centro de Negocios Sercotec Vallenar (dirección, fono y horario por confirmar)" in text


def test_known_office_contacts_are_shown_and_html_is_escaped(kb: KnowledgeBase, profile_data: dict[str, Any]) -> None:
    office = kb.offices["sercotec_centro_negocios_vallenar"].model_copy(
        update={"name": "<b>Pan & Co</b>", "address": "Calle Prat 1", "phone": "+56 51 1234567"}
    )
    edited = dataclasses.replace(kb, offices={**kb.offices, office.id: office})
    html = _render(edited, profile_data, date(2026, 3, 10), "html")
    assert "&lt;b&gt;Pan &amp; Co&lt;/b&gt;, Calle Prat 1, fono +56 51 1234567 (horario por confirmar)" in html
    assert "<b>Tu diagnóstico</b>" in html


def test_an_all_unknown_profile_renders(kb: KnowledgeBase) -> None:
    assert "Tu ruta, paso a paso" in _render(kb, {}, date(2026, 3, 10))
