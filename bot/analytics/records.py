"""Diagnosis records as anonymised rows: no pseudonym, no exact age, sales or headcount; the day, not the time.

A row keeps the answers that describe the business in categories, the results, and the quasi-identifiers
(commune, sector, gender, age band) that small-cell suppression then checks. Workers and sales are represented
by the size class; the RSH percentile is already a band (40, 50, … 100).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from bot.analytics.rules import AnalyticsRules
from bot.storage import Store
from knowledge import KnowledgeBase

__all__ = ["COLUMNS", "anonymised_rows", "read_rows", "start_of"]

ANSWER_COLUMNS = ("operating", "formal", "premises", "surplus", "keeps_records", "main_need", "rsh_percentile")
RESULT_COLUMNS = ("segment", "family", "stage", "size", "pertinence")
COLUMNS = (
    "date",
    "kb_version",
    "province",
    "commune",
    "sector",
    "gender",
    "age_band",
    *ANSWER_COLUMNS,
    *RESULT_COLUMNS,
    "eligible_count",
    "route",
)


class StoredDiagnosis(Protocol):
    """What is read of a stored diagnosis (a DiagnosisRecord or a row of Store.diagnosis_rows)."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def consent(self) -> bool: ...
    @property
    def kb_version(self) -> str: ...
    @property
    def answers(self) -> dict[str, Any]: ...
    @property
    def results(self) -> dict[str, Any]: ...


def anonymised_rows(
    records: Iterable[StoredDiagnosis], kb: KnowledgeBase, rules: AnalyticsRules
) -> Iterator[dict[str, Any]]:
    """One row per consented diagnosis, in the order given."""
    for record in records:
        if record.consent:
            yield _row(record.created_at.date(), record.kb_version, record.answers, record.results, kb, rules)


def read_rows(store: Store, kb: KnowledgeBase, rules: AnalyticsRules, since: date | None) -> list[dict[str, Any]]:
    """The anonymised rows of every consented diagnosis made on or after `since` (all when None)."""
    return list(anonymised_rows(store.diagnosis_rows(since=start_of(since)), kb, rules))


def start_of(day: date | None) -> datetime | None:
    """The first moment (UTC) of a period that starts on `day`; None for no start."""
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


def _row(
    day: date,
    kb_version: str,
    answers: dict[str, Any],
    results: dict[str, Any],
    kb: KnowledgeBase,
    rules: AnalyticsRules,
) -> dict[str, Any]:
    commune = answers.get("commune")
    return {
        "date": day.isoformat(),
        "kb_version": kb_version,
        "province": kb.communes[commune].province if commune in kb.communes else None,
        "commune": commune,
        "sector": answers.get("sector"),
        "gender": answers.get("gender"),
        "age_band": rules.age_band(answers.get("age")),
        **{name: answers.get(name) for name in ANSWER_COLUMNS},
        **{name: results.get(name) for name in RESULT_COLUMNS},
        "eligible_count": len(results.get("eligible", [])),
        "route": ";".join(results.get("route", [])),
    }
