"""Eligibility of every instrument for a profile: eligible or not, criteria met, missing and to confirm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from knowledge.base import KnowledgeBase
from knowledge.criteria import evaluate_all
from knowledge.models import Instrument

__all__ = ["EligibilityStatus", "InstrumentResult", "assess", "assess_all"]

EligibilityStatus = Literal["eligible", "after_prerequisite", "to_confirm", "not_eligible"]


@dataclass(slots=True)
class InstrumentResult:
    """The verdict on one instrument.

    `status`: eligible (every criterion met); after_prerequisite (only criteria that a prerequisite step
    meets are missing, e.g. "inicio de actividades"); to_confirm (nothing fails but some answer is unknown or
    must be checked by the agency: never silently eligible); not_eligible. `missing` lists unmet and unknown
    criteria; `to_confirm` the unknown ones. `fits` says whether the instrument serves this segment and stage.
    """

    instrument: Instrument
    status: EligibilityStatus
    reasons: list[str]
    missing: list[str]
    to_confirm: list[str]
    prerequisites: list[str]
    fits: bool
    serves_need: bool

    @property
    def eligible(self) -> bool:
        return self.status == "eligible"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.instrument.id,
            "eligible": self.status == "eligible",
            "status": self.status,
            "reasons": self.reasons,
            "missing": self.missing,
            "to_confirm": self.to_confirm,
            "prerequisites": self.prerequisites,
            "fits": self.fits,
        }


def _status(unmet_hard: int, unknown: list[str], prerequisites: list[str]) -> EligibilityStatus:
    if unmet_hard:
        return "not_eligible"
    if unknown:
        return "to_confirm"
    if prerequisites:
        return "after_prerequisite"
    return "eligible"


def assess(
    instrument: Instrument, facts: dict[str, Any], kb: KnowledgeBase, day: date, need_areas: frozenset[str]
) -> InstrumentResult:
    """Evaluate one instrument's criteria against the facts (which include segment and stage)."""
    outcome = evaluate_all(instrument.criteria, facts, kb, day)
    return InstrumentResult(
        instrument=instrument,
        status=_status(outcome.unmet_without_prerequisite, outcome.unknown, outcome.prerequisites),
        reasons=outcome.met,
        missing=outcome.unmet + outcome.unknown,
        to_confirm=outcome.unknown,
        prerequisites=sorted(set(outcome.prerequisites)) if outcome.prerequisites else [],
        fits=facts["segment"] in instrument.segments and facts["stage"] in instrument.stages,
        serves_need=not need_areas.isdisjoint(instrument.areas),
    )


def assess_all(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> list[InstrumentResult]:
    """Every instrument of the knowledge base, in its order."""
    need = facts.get("main_need")
    need_areas = frozenset(kb.rules.need_areas.get(need, ()) if need else ())
    return [assess(instrument, facts, kb, day, need_areas) for instrument in kb.instruments.values()]
